"""Storing bars: candlelab's store path against a plain psycopg binary COPY, in the same run.

    python bench/bench_store_bars.py [--charts 200] [--bars 5000] [--repeat 3]

Runs on BENCH_DATABASE_URL's server if set, else on a fresh embedded server in a
temporary home. Prints medians and ratios against the baseline (ratios hold on a noisy
machine; absolute times drift).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date
from pathlib import Path

import polars as pl

from candlelab import migrations
from candlelab.candles import Bars, load_bars
from candlelab.database import Connection, connect, ensure_database
from candlelab.embedded import EmbeddedServer
from candlelab.synthetic_market import INSTRUMENTS, MarketSpec, daily_bars, hourly_bars
from candlelab.urls import with_database


def market(charts: int, bars: int) -> list[Bars]:
    """`charts` series of `bars` daily bars each, cut from the synthetic market."""
    spec = MarketSpec(start=date(2000, 1, 1), end=date(2000 + bars // 250 + 2, 1, 1))
    base = [daily_bars(hourly_bars(instrument, spec)) for instrument in INSTRUMENTS[:4]]
    return [base[i % len(base)].slice(0, bars) for i in range(charts)]


def reset(conn: Connection, charts: int) -> None:
    conn.execute("TRUNCATE candles, charts RESTART IDENTITY CASCADE")
    conn.execute(
        "INSERT INTO charts (symbol, timeframe, source, name)"
        " SELECT 'S' || i, '1d', 'bench', 'S' || i FROM generate_series(1, %(n)s) i",
        {"n": charts},
    )
    conn.commit()


def baseline_copy(conn: Connection, series: list[Bars]) -> None:
    """The plain psycopg way: binary COPY, one write_row per bar."""
    columns = "chart_id, time, open, high, low, close, volume"
    with conn.cursor().copy(f"COPY candles ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "timestamptz", "float8", "float8", "float8", "float8", "float8"])
        for chart_id, bars in enumerate(series, start=1):
            times = bars.time.astype("datetime64[us]").astype(object)
            columns_ = (times, bars.open, bars.high, bars.low, bars.close, bars.volume)
            for row in zip(*columns_, strict=True):
                copy.write_row((chart_id, row[0].replace(tzinfo=UTC), *map(float, row[1:])))
    conn.commit()


def candlelab_store(conn: Connection, series: list[pl.DataFrame]) -> None:
    with conn.transaction():
        for chart_id, bars in enumerate(series, start=1):
            load_bars(conn, chart_id, bars)


def timed(run: Callable[[], None], before: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=200)
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        server = None if os.environ.get("BENCH_DATABASE_URL") else EmbeddedServer(Path(home))
        url = server.start() if server else os.environ["BENCH_DATABASE_URL"]
        try:
            run(with_database(url, "candlelab_bench"), args.charts, args.bars, args.repeat)
        finally:
            if server:
                server.stop()


def run(url: str, charts: int, bars: int, repeat: int) -> None:
    ensure_database(url)
    migrations.upgrade(url)
    series = market(charts, bars)
    rows = sum(len(b) for b in series)
    with connect(url) as conn:
        empty = lambda: reset(conn, charts)  # noqa: E731
        base = timed(lambda: baseline_copy(conn, series), empty, repeat)
        frames = [bars.to_frame() for bars in series]
        first = timed(lambda: candlelab_store(conn, frames), empty, repeat)
        again = timed(lambda: candlelab_store(conn, frames), lambda: None, repeat)
    print(f"{rows:,} bars in {charts} charts, median of {repeat}")
    print(f"baseline  psycopg write_row binary COPY  {base:6.2f} s  {rows / base:10,.0f} rows/s")
    print(f"load_bars into empty tables             {first:6.2f} s  ratio {first / base:.2f}")
    print(f"load_bars, every bar already stored     {again:6.2f} s  ratio {again / base:.2f}")


if __name__ == "__main__":
    main()
