"""Candles in and out at the documents' sizing, against baselines measured in the same run.

    python bench/bench_candles_io.py [--charts 1000] [--bars 5000] [--repeat 1]

The data set: `charts` series of `bars` daily bars (1,000 x 5,000 = 5,000,000 rows), one
Parquet and one CSV file per chart, made here. Runs on BENCH_DATABASE_URL's server if
set, else on a fresh embedded server in a temporary home.

- baseline: the same rows by one plain psycopg binary COPY (a NumPy-built buffer) into
  the empty candles table (its primary key and OHLC checks), and for reference into a
  table of the same columns with only the primary key;
- first load from Parquet / from CSV through `ingest_files` (reading, validation,
  loading, one transaction per file), and a re-load of rows all already stored;
- read_candles of every row into NumPy, against ADBC's fetch_arrow_table of the table;
- the last 500 bars of one chart on a kept-open connection: p50 and p99, against the same
  rows by a prepared statement on a binary cursor of the same connection, call by call.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from servers import bench_database

from candlelab.market.candles import candle_arrays, last_bars, read_candles
from candlelab.market.ingest import IngestOptions, ingest_jobs
from candlelab.market.timeframes import Timeframe
from candlelab.store.binary_copy import CopyColumn, binary_copy_buffer
from candlelab.store.database import Connection, connect

DAILY = Timeframe.parse("1d")


def make_series(charts: int, bars: int, seed: int = 1) -> list[pl.DataFrame]:
    """Geometric random walks with consistent OHLC, one frame per chart."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2000-01-03", "us")
    times = pl.Series("time", start + np.arange(bars) * np.timedelta64(1, "D"))
    series = []
    for _ in range(charts):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, bars)))
        open_ = np.concatenate([[100.0], close[:-1]])
        wick = np.abs(rng.normal(0, 0.01, bars))
        high, low = np.maximum(open_, close) * (1 + wick), np.minimum(open_, close) * (1 - wick)
        series.append(pl.DataFrame({
            "time": times.dt.replace_time_zone("UTC"), "open": open_, "high": high, "low": low,
            "close": close, "volume": rng.lognormal(10, 1, bars).round(3),
        }))  # fmt: skip
    return series


def write_files(series: list[pl.DataFrame], folder: Path) -> tuple[list[Path], list[Path]]:
    parquet, csv = [], []
    for index, frame in enumerate(series):
        parquet.append(folder / f"S{index:04d}.parquet")
        csv.append(folder / f"S{index:04d}.csv")
        frame.write_parquet(parquet[-1])
        frame.write_csv(csv[-1])
    return parquet, csv


def empty_tables(conn: Connection) -> None:
    conn.execute("TRUNCATE candles, charts, candles_pk_only RESTART IDENTITY CASCADE")
    conn.commit()


def baseline_copy(conn: Connection, series: list[pl.DataFrame], table: str) -> None:
    """The plain way: every row by one binary COPY in one transaction."""
    every = pl.concat(
        [frame.with_columns(chart_id=pl.lit(i, pl.Int64)) for i, frame in enumerate(series, 1)]
    )
    columns = [
        CopyColumn("bigint", every["chart_id"].to_numpy()),
        CopyColumn("timestamptz", every["time"].dt.replace_time_zone(None).to_numpy()),
    ]
    prices = ("open", "high", "low", "close", "volume")
    columns += [CopyColumn("double precision", every[c].to_numpy()) for c in prices]
    statement = (
        "COPY candles (chart_id, time, open, high, low, close, volume) FROM STDIN (FORMAT BINARY)"
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(binary_copy_buffer(columns))
    conn.commit()


def ingest_all(conn: Connection, files: list[Path]) -> int:
    """Each file into its own chart, one transaction per file."""
    reports = ingest_jobs(conn, ((p, IngestOptions(p.stem, DAILY, source="bench")) for p in files))
    assert all(report.ok for report in reports)
    return sum(report.loaded for report in reports)


Step = tuple[str, Callable[[], object], Callable[[], None]]  # name, what to time, set-up


def timed(steps: list[Step], repeat: int) -> dict[str, float]:
    """The median time of each step. The steps take turns, round after round, so a slow
    spell of the shared machine falls on baselines and candlelab alike."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in steps}
    for _ in range(repeat):
        for name, run, before in steps:
            before()
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def adbc_arrays(url: str) -> object:
    """The fastest client measured here: ADBC's fetch_arrow_table, then NumPy columns."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT chart_id, time, open, high, low, close, volume FROM candles")
        table = cursor.fetch_arrow_table()
    return [column.to_numpy() for column in table.columns]


def connectorx_arrays(url: str) -> object:
    """The other fast client the design notes measured: ConnectorX into Arrow, then NumPy."""
    import connectorx

    query = "SELECT chart_id, time, open, high, low, close, volume FROM candles"
    table: Any = connectorx.read_sql(url, query, return_type="arrow")
    return [column.to_numpy() for column in table.columns]


# The floor for a point read: the same rows by a prepared statement on a binary cursor
# of the same kept-open connection, with no function of ours around it.
PLAIN_LAST_BARS = (
    "SELECT time, open, high, low, close, volume FROM candles WHERE chart_id = %(chart_id)s "
    "ORDER BY time DESC LIMIT %(count)s"
)


def point_reads(conn: Connection, charts: int, calls: int = 2000) -> dict[str, list[float]]:
    """The last 500 bars of random charts, by `last_bars` and by the plain prepared read,
    taking turns call by call so both see the same machine; latencies in ms."""
    rng = np.random.default_rng(2)
    latencies: dict[str, list[float]] = {"ours": [], "plain": []}
    readers = {"ours": _our_read, "plain": _plain_read}
    for chart_id in rng.integers(1, charts + 1, size=calls):
        params = {"chart_id": int(chart_id), "count": 500}
        for name, read in readers.items():
            started = time.perf_counter()
            read(conn, params)
            latencies[name].append((time.perf_counter() - started) * 1000)
    return latencies


def _our_read(conn: Connection, params: dict[str, int]) -> list[tuple[Any, ...]]:
    return last_bars(conn, params["chart_id"], params["count"])


def _plain_read(conn: Connection, params: dict[str, int]) -> list[tuple[Any, ...]]:
    with conn.cursor(binary=True) as cursor:
        return cursor.execute(PLAIN_LAST_BARS, params, prepare=True).fetchall()


def report_point_reads(latencies: dict[str, list[float]]) -> None:
    ours, plain = ([np.percentile(latencies[n], q) for q in (50, 99)] for n in ("ours", "plain"))
    print(f"last 500 bars of one chart          p50 {ours[0]:.2f} ms  p99 {ours[1]:.2f} ms")
    print(f"  baseline: prepared binary read    p50 {plain[0]:.2f} ms  p99 {plain[1]:.2f} ms")
    print(f"  ratio p50 {ours[0] / plain[0]:.2f}, p99 {ours[1] / plain[1]:.2f} (target ≤ 1.5)")


def run(url: str, charts: int, bars: int, repeat: int, folder: Path) -> None:
    series = make_series(charts, bars)
    parquet, csv = write_files(series, folder)
    rows = charts * bars
    with connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS candles_pk_only (LIKE candles INCLUDING DEFAULTS)")
        conn.execute("ALTER TABLE candles_pk_only ADD PRIMARY KEY (chart_id, time)")
        reset, keep = (lambda: empty_tables(conn)), (lambda: None)
        medians = timed([
            ("base", lambda: baseline_copy(conn, series, "candles"), reset),
            ("bare", lambda: baseline_copy(conn, series, "candles_pk_only"), reset),
            ("csv", lambda: ingest_all(conn, csv), reset),
            ("parquet", lambda: ingest_all(conn, parquet), reset),
            ("reload", lambda: ingest_all(conn, parquet), keep),
            ("adbc", lambda: adbc_arrays(url), keep),
            ("cx", lambda: connectorx_arrays(url), keep),
            ("ours", lambda: candle_arrays(read_candles(url, range(1, charts + 1))), keep),
        ], repeat)  # fmt: skip
        base, bare, from_csv, from_parquet, reload, adbc, cx, ours = medians.values()
        latencies = point_reads(conn, charts)
    print(f"{rows:,} rows in {charts} charts, median of {repeat}")
    print(f"baseline: binary COPY into candles  {base:7.2f} s  {rows / base:10,.0f} rows/s")
    print(f"  (a table with only its primary key  {bare:7.2f} s  {rows / bare:10,.0f} rows/s)")
    for label, seconds, target in (
        ("first load from Parquet", from_parquet, 1.3),
        ("re-load, every row stored", reload, 1.5),
        ("first load from CSV", from_csv, 2.0),
    ):
        ratios = (
            f"ratio {seconds / base:5.2f} (target ≤ {target}), {seconds / bare:5.2f} to PK-only"
        )
        print(f"{label:35} {seconds:7.2f} s  {ratios}")
    print(f"baseline: ADBC fetch_arrow_table    {adbc:7.2f} s  (the same columns, into NumPy)")
    print(f"baseline: ConnectorX read_sql       {cx:7.2f} s  (the same columns, into NumPy)")
    fastest = min(adbc, cx)
    print(f"read_candles → NumPy                {ours:7.2f} s  ratio {ours / fastest:5.2f}"
          "  to the fastest (≤ 1.0)")  # fmt: skip
    report_point_reads(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("candlelab_bench", Path(scratch)) as url,
    ):
        folder = Path(scratch) / "files"
        folder.mkdir()
        run(url, args.charts, args.bars, args.repeat, folder)


if __name__ == "__main__":
    main()
