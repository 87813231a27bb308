"""`candlelab ingest PATH…`: candle files into a chart, with a report of every row."""

from __future__ import annotations

import csv
import glob
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from candlelab.cli import workspace
from candlelab.cli.options import (
    file_option,
    offset_option,
    source_option,
    symbol_option,
    timeframe_option,
    timezone_option,
)
from candlelab.cli.output import emit_json, out
from candlelab.errors import ConfigError, InputError, InvalidValue
from candlelab.market.file_formats import FORMATS, shown

if TYPE_CHECKING:
    from candlelab.market.ingest import IngestReport

EXAMPLES_SHOWN = 5


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[str], typer.Argument(help="Files or glob patterns (.csv .tsv .parquet, .gz, .zip).")
    ],
    symbol: Annotated[str, typer.Option(help="The chart's symbol.")],
    timeframe: Annotated[str, typer.Option(help="Bar length: 1m, 5m, 15m, 1h, 4h, 1d, 1w, 1M.")],
    source: Annotated[
        str, typer.Option(help="Where the bars come from (part of the chart's key).")
    ] = "file",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"One of {', '.join(FORMATS)}; default: recognised."),
    ] = None,
    timezone: Annotated[str, typer.Option(help="Zone of times written without an offset.")] = "UTC",
    chart_timezone: Annotated[
        str | None, typer.Option(help="Wall clock bars align to; default: --timezone.")
    ] = None,
    calendar: Annotated[
        str | None,
        typer.Option(
            help="A new chart's trading calendar: 24/7, 24/5 or an exchange code (XNYS); "
            "default: told from its first file's bars."
        ),
    ] = None,
    offset: Annotated[
        str, typer.Option(help="Intraday bars start this long after round times (30m).")
    ] = "0m",
    on_conflict: Annotated[
        str, typer.Option(help="A stored bar that differs: update, skip or error.")
    ] = "skip",
    max_reject_ratio: Annotated[
        float,
        typer.Option(
            help="Refuse a file when more of its rows than this have problems.", min=0, max=1
        ),
    ] = 0.01,
    strict: Annotated[bool, typer.Option(help="Refuse a file on its first problem.")] = False,
    reject_file: Annotated[
        Path | None, typer.Option(help="Write every rejected row here (CSV).")
    ] = None,
    allow_non_positive: Annotated[
        bool, typer.Option(help="Accept zero or negative prices (spreads, some futures).")
    ] = False,
    keep_incomplete: Annotated[
        bool, typer.Option(help="Keep a last bar that is still open.")
    ] = False,
    earliest: Annotated[
        str, typer.Option(help="Refuse bars before this date (too_early_time).")
    ] = "1900-01-01",
    max_expanded: Annotated[
        str, typer.Option(help="Most a .gz or .zip may expand to (bytes, or 500M, 4G).")
    ] = "4G",
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Validate candle files and store their bars; a bar already stored is never duplicated.

    Every input is one transaction: it lands whole or not at all. Column names recognised:
    time/date/datetime/timestamp/open_time, open/o, high/h, low/l, close/c, volume/vol/v,
    vwap, trades/count, taker_buy_volume, quote_volume (any case). Times: epoch s/ms/µs/ns
    or ISO-8601 with or without offset. Without --calendar, a new chart's calendar (what
    `quality` measures gaps against) is told from its first file's bars, as the report says.
    Exit code 1 when any input was refused.
    """
    if on_conflict not in ("update", "skip", "error"):
        raise ConfigError(f"--on-conflict {on_conflict!r}: use update, skip or error")
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if calendar is not None:
        _check_calendar(calendar)
    bars = timeframe_option(timeframe)
    chart_symbol, chart_source = symbol_option(symbol), source_option(source)
    zone = timezone_option(timezone)
    chart_zone = timezone_option(chart_timezone or timezone, "--chart-timezone")
    bar_offset = offset_option(offset, bars)
    oldest, most_expanded = _earliest(earliest), _size(max_expanded)
    rejects = file_option(reject_file, "--reject-file") if reject_file is not None else None
    files = expand(paths)
    # The readers and the load (pandas, Arrow, the store) only once every option is good:
    # a mistyped option is told at once.
    from candlelab.market.ingest import IngestOptions, ingest_files

    options = IngestOptions(
        symbol=chart_symbol,
        timeframe=bars,
        source=chart_source,
        format=fmt,
        timezone=zone,
        chart_timezone=chart_zone,
        calendar=calendar,
        offset=bar_offset,
        on_conflict=on_conflict,  # type: ignore[arg-type]
        max_reject_ratio=max_reject_ratio,
        strict=strict,
        allow_non_positive=allow_non_positive,
        keep_incomplete=keep_incomplete,
        earliest=oldest,
        max_expanded=most_expanded,
    )
    with workspace(ctx).connect() as conn, _Progress(files, quiet=json) as progress:
        reports = ingest_files(conn, files, options, progress.report)
    if rejects is not None:
        write_rejections(rejects, reports)
    if json:
        emit_json([report.summary() for report in reports])
    else:
        _print(reports, progress.elapsed)
    if any(not report.ok for report in reports):
        raise typer.Exit(1)


def _check_calendar(calendar: str) -> None:
    from candlelab.market.calendars import check_calendar

    try:
        check_calendar(calendar)
    except InvalidValue as exc:
        raise ConfigError(f"--calendar: {exc}") from None


def _earliest(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--earliest {shown(text)!r}: use a date such as 1900-01-01") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _size(text: str) -> int:
    """Bytes from 1000000, 500M or 4G (units of 1024)."""
    number, unit = text.strip().upper().removesuffix("IB").removesuffix("B"), ""
    if number[-1:] in SIZE_UNITS:
        number, unit = number[:-1], number[-1]
    if not number.isdigit() or int(number) == 0:
        raise ConfigError(f"--max-expanded {shown(text)!r}: use a size such as 500M or 4G")
    return int(number) * SIZE_UNITS[unit]


def expand(patterns: list[str]) -> list[Path]:
    """Paths and glob patterns to existing files, in order; any that matches nothing is an error."""
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        missing = [m for m in matches if not Path(m).is_file()]
        if missing and Path(missing[0]).is_dir():
            raise InputError(f"{shown(missing[0])}: is a directory, not a file")
        if not matches or missing:
            raise InputError(f"{shown((missing or [pattern])[0])}: no such file")
        files += [Path(m) for m in matches]
    return files


def write_rejections(path: Path, reports: list[IngestReport]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["input", "line", "code", "field", "value"])
        for report in reports:
            for row in report.rejections.iter_rows():
                writer.writerow([report.input, *row])


class _Progress:
    """A progress bar over the inputs' bytes, with rows per second so far."""

    def __init__(self, files: list[Path], quiet: bool) -> None:
        self.sizes = {str(f): f.stat().st_size for f in files}
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
            console=out, transient=True, disable=quiet,
        )  # fmt: skip
        self.task = self.bar.add_task("ingesting", total=sum(self.sizes.values()))
        self.rows = 0
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def report(self, report: IngestReport) -> None:
        self.rows += report.rows_read
        done = self.sizes.get(report.input.split(":", 1)[0], 0)
        rate = self.rows / max(self.elapsed, 1e-9)
        self.bar.update(
            self.task, advance=done, description=f"{self.rows:,} rows, {rate:,.0f} rows/s"
        )

    def __enter__(self) -> _Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)


def _print(reports: list[IngestReport], seconds: float) -> None:
    for report in reports:
        out.print(_line(report), soft_wrap=True)
        if report.calendar_note:
            out.print(f"    calendar {report.calendar} ({report.calendar_note})", soft_wrap=True)
        for example in report.examples[:EXAMPLES_SHOWN] if report.rejected else []:
            value = shown(example["value"]) if example["value"] is not None else None
            out.print(f"    line {example['line']}: {example['code']} in {example['field']}"
                      f" ({value!r})", soft_wrap=True)  # fmt: skip
        if report.refused:
            out.print(
                f"    [bold red]refused, nothing written:[/] {report.refused}", soft_wrap=True
            )
    rows = sum(r.rows_read for r in reports)
    rate = rows / max(seconds, 1e-9)
    out.print(f"{len(reports)} input(s), {rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)")


def _line(report: IngestReport) -> str:
    codes = ", ".join(f"{n} {code}" for code, n in report.by_code.items())
    line = (
        f"{report.input} ({report.format}) → {report.chart}: {report.rows_read:,} read, "
        f"{report.loaded:,} loaded, {report.updated:,} updated, {report.unchanged:,} unchanged, "
        f"{report.rejected:,} rejected"
    )
    extras = [codes] if codes else []
    if report.reordered:
        extras.append(f"{report.reordered:,} out of order, sorted")
    if report.differing:
        extras.append(f"{report.differing:,} differed from stored bars")
    if not report.loaded and not report.updated and report.ok:
        extras.append("nothing new")
    return line + (f" ({'; '.join(extras)})" if extras else "")
