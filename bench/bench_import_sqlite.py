"""A legacy annotator file of 1,000,000 candles and 50,000 spans: import and verify, against
candlelab's own bulk ingest of the same candles, measured in the same run.

- baseline: `candlelab ingest`'s path (`ingest_jobs`) reading the same candles from one
  Parquet file per chart, validated and written;
- import: `candlelab.legacy.importer.import_file`, read-only open, conversion, checks,
  three table groups, and the closing verification (row counts and checksums of both
  sides).

Target: the import at most 2x the baseline. The two take turns, round after round.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
from servers import bench_database

from candlelab.legacy.conversion import read_table
from candlelab.legacy.importer import ImportOptions, import_file
from candlelab.legacy.sample import SampleSpec, write_sample
from candlelab.market.ingest import IngestOptions, ingest_jobs
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection, connect

TABLES = "charts, candles, annotation_types, annotations, span_label_types, span_annotations"


def legacy_file(folder: Path, charts: int, candles: int, spans: int) -> Path:
    path = folder / "candles.db"
    names = tuple((f"SYM{i} 1m", f"SYM{i}", "1m", 60) for i in range(charts))
    write_sample(path, SampleSpec(candles_per_chart=candles // charts, spans=spans,
                                  annotations=1000, charts=names))  # fmt: skip
    return path


def chart_files(path: Path, folder: Path) -> list[Path]:
    """The same candles as Parquet files, one per chart, as a user would bring them."""
    candles = read_table(path, "candles").with_columns(
        pl.from_epoch("time", "s").dt.replace_time_zone("UTC"), pl.col("volume").fill_null(0.0)
    )
    files = []
    for (chart_id,), group in candles.group_by("chart_id", maintain_order=True):
        files.append(folder / f"SYM{chart_id}.parquet")
        group.drop("id", "chart_id", "_bad_code", "_bad_field", "_bad_value").write_parquet(
            files[-1]
        )
    return files


def empty(conn: Connection) -> None:
    conn.execute(f"TRUNCATE {TABLES}, legacy_imports, legacy_ids RESTART IDENTITY CASCADE")
    conn.commit()


def ingest_all(conn: Connection, files: list[Path]) -> int:
    jobs = ((f, IngestOptions(f.stem, Timeframe(1, "m"))) for f in files)
    reports = ingest_jobs(conn, jobs)
    assert all(report.ok for report in reports)
    return sum(report.loaded for report in reports)


def import_all(conn: Connection, url: str, path: Path) -> None:
    report, _ = import_file(conn, url, path, ImportOptions())
    assert report.verified
    assert not report.problems


def run(url: str, folder: Path, repeat: int, candles: int, spans: int) -> None:
    path = legacy_file(folder, 20, candles, spans)
    files = chart_files(path, folder)
    times: dict[str, list[float]] = {"ingest": [], "import": []}
    with connect(url) as conn:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("ingest", lambda: ingest_all(conn, files)),
            ("import", lambda: import_all(conn, url, path)),
        ]
        for _ in range(repeat):
            for name, step in steps:
                empty(conn)
                started = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - started)
    print(f"{candles:,} candles in 20 charts, {spans:,} spans, {repeat} rounds")
    for name, label in (("ingest", "baseline: candlelab ingest, Parquet"),
                        ("import", "import-sqlite, verification included")):  # fmt: skip
        print(f"{label:38s} " + " ".join(f"{t:5.2f}" for t in times[name]) + " s")
    # The machine is shared: the median is the figure; the fastest rounds show the cost
    # with the least interference.
    for how, pick in (("median", statistics.median), ("fastest", min)):
        base, ours = pick(times["ingest"]), pick(times["import"])
        print(f"{how:8s} {base:5.2f} s against {ours:5.2f} s: ratio {ours / base:5.2f}"
              "  (target ≤ 2.0)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("candlelab_bench_import", Path(scratch)) as url,
    ):
        run(url, Path(scratch), args.repeat, args.candles, args.spans)


if __name__ == "__main__":
    main()
