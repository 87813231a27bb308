"""A big input streams in chunks inside its one transaction, judged as a small one is.

The chunk size is made small here (`CHUNK_BYTES`), so a file of a few thousand rows
takes the streaming path. Also: the rules every file follows whatever its size (no rows,
identical duplicates, a floor on times, the name shown for an upload).
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from candlelab.errors import InputError
from candlelab.market import candle_files
from candlelab.market.candles import count_candles
from candlelab.market.charts import all_charts
from candlelab.market.ingest import IngestOptions, IngestReport, ingest_files
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from tests.fixtures.charts import assert_bar_counts_current

MINUTES = IngestOptions("BTCUSDT", Timeframe.parse("1m"), source="test")
LOOSE = IngestOptions("BTCUSDT", Timeframe.parse("1m"), source="test", max_reject_ratio=1.0)
HEADER = "time,open,high,low,close,volume\n"
START = datetime(2024, 1, 1, tzinfo=UTC)


def row(minute: int, close: float = 1.5) -> str:
    when = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{when},1,2,0.5,{close},10\n"


def minute_file(path: Path, minutes: list[int], changed: dict[int, float] | None = None) -> Path:
    """A CSV of 1-minute bars at `minutes` (in that order); `changed`: row index -> close."""
    changed = changed or {}
    text = HEADER + "".join(row(m, changed.get(i, 1.5)) for i, m in enumerate(minutes))
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(candle_files, "CHUNK_BYTES", 4096)  # about 100 rows a chunk


def add_up(report: IngestReport) -> bool:
    counted = report.loaded + report.updated + report.unchanged + report.rejected
    return counted == report.rows_read


def test_a_big_file_streams_and_loads_like_a_small_one(
    conn: Connection, tmp_path: Path, small_chunks: None
) -> None:
    path = minute_file(tmp_path / "big.csv.gz", list(range(3000)))
    (raw,) = candle_files.read_candle_file(path)
    assert raw.streamed
    (report,) = ingest_files(conn, [path], MINUTES)
    assert (report.rows_read, report.loaded, report.rejected) == (3000, 3000, 0)
    assert report.ok
    assert report.calendar == "24/7"  # told from the first chunk
    assert count_candles(conn) == 3000
    assert_bar_counts_current(conn)
    (again,) = ingest_files(conn, [path], MINUTES)  # a re-load: all there already
    assert (again.unchanged, again.loaded) == (3000, 0)


def test_rows_going_back_and_repeats_across_chunks_are_found(
    conn: Connection, tmp_path: Path, small_chunks: None
) -> None:
    minutes = [*range(2000), *range(10), 20]  # the last 11 rows repeat rows of chunk 1
    path = minute_file(tmp_path / "repeats.csv", minutes, changed={2010: 1.75})
    (report,) = ingest_files(conn, [path], LOOSE)
    assert report.ok
    assert report.reordered == 11
    assert report.by_code == {"duplicate_conflicting": 1, "duplicate_identical": 10}
    assert [e["line"] for e in report.examples] == list(range(2002, 2012))
    assert (report.loaded, report.rejected) == (2000, 11)
    assert add_up(report)
    assert count_candles(conn) == 2000


def test_problems_are_judged_over_the_whole_streamed_file(
    conn: Connection, tmp_path: Path, small_chunks: None
) -> None:
    """Chunks written early are taken back when the end of the file tips the ratio: nothing
    stays, not even the chart made for the file."""
    minutes = [*range(1000), *([999] * 50)]  # 50 identical repeats at the end: 4.8 %
    path = minute_file(tmp_path / "late.csv", minutes)
    (report,) = ingest_files(conn, [path], MINUTES)
    assert report.refused is not None
    assert report.refused.startswith("50 of 1050 rows have problems")
    assert (report.loaded, report.rejected) == (0, 1050)
    assert report.calendar is None
    assert count_candles(conn) == 0
    assert all_charts(conn) == []


def test_strict_refuses_a_streamed_file_for_one_problem_anywhere(
    conn: Connection, tmp_path: Path, small_chunks: None
) -> None:
    path = minute_file(tmp_path / "strict.csv", [*range(1500), 0])  # 0 is in chunk 1
    strict = IngestOptions("BTCUSDT", Timeframe.parse("1m"), source="test", strict=True)
    (report,) = ingest_files(conn, [path], strict)
    assert report.refused == (
        "--strict: line 1502: duplicate_identical in time ('2024-01-01T00:00:00Z')"
    )
    assert count_candles(conn) == 0
    assert all_charts(conn) == []


def test_a_file_of_one_row_repeated_is_refused(conn: Connection, tmp_path: Path) -> None:
    path = minute_file(tmp_path / "same.csv", [0] * 2000)
    (report,) = ingest_files(conn, [path], MINUTES)
    assert report.refused is not None
    assert report.refused.startswith("1999 of 2000 rows have problems")
    assert all_charts(conn) == []


def test_a_header_only_file_is_an_error_for_no_rows_and_makes_no_chart(
    conn: Connection, tmp_path: Path
) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER)
    with pytest.raises(InputError, match=r"header\.csv: no rows, only a header$"):
        ingest_files(conn, [path], MINUTES)
    conn.rollback()
    assert all_charts(conn) == []


def test_bars_before_the_floor_are_refused_and_the_floor_can_move(
    conn: Connection, tmp_path: Path
) -> None:
    path = tmp_path / "old.csv"
    path.write_text(HEADER + "0001-01-01T00:00:00Z,1,2,0.5,1.5,10\n" + row(0))
    (report,) = ingest_files(conn, [path], LOOSE)
    assert report.by_code == {"too_early_time": 1}
    assert report.loaded == 1
    later = IngestOptions("B", Timeframe.parse("1m"), max_reject_ratio=1.0,
                          earliest=datetime(2025, 1, 1, tzinfo=UTC))  # fmt: skip
    (report,) = ingest_files(conn, [path], later)
    assert report.by_code == {"too_early_time": 2}


def test_an_upload_is_named_by_its_own_name_in_reports_and_errors(
    conn: Connection, tmp_path: Path
) -> None:
    path = minute_file(tmp_path / "tmp3k2j9.csv", list(range(5)))
    (report,) = ingest_files(conn, [path], MINUTES, names={path: "my bars.csv"})
    assert report.input == "my bars.csv"
    path.write_text("time,open,high,low,volume\n")
    with pytest.raises(InputError, match=r"^my bars\.csv: no column for close"):
        ingest_files(conn, [path], MINUTES, names={path: "my bars.csv"})


def test_a_streamed_gzip_over_its_limit_stops_and_writes_nothing(
    conn: Connection, tmp_path: Path, small_chunks: None
) -> None:
    path = minute_file(tmp_path / "big.csv.gz", list(range(3000)))
    capped = IngestOptions("BTCUSDT", Timeframe.parse("1m"), source="test", max_expanded=50_000)
    with pytest.raises(InputError, match="expands to more than 50,000 bytes"):
        ingest_files(conn, [path], capped)
    conn.rollback()
    assert count_candles(conn) == 0
