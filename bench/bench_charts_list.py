"""Listing charts: the charts page and /api/charts, on 1,000 charts of 5,000 bars and on one
chart of 5,000,000 bars.

    python bench/bench_charts_list.py [--charts 1000] [--bars 5000] [--big 5000000]

The bars go in through `copy_new_bars`, the write path that keeps each chart's bar count,
first and last bar. Timed in this process (the app through FastAPI's TestClient, no
network), each against baselines of the same run, taking turns call by call:
- floor: reading the charts table alone (one query, no figures);
- before: the query the list ran until the figures were kept, counting every bar.
Target: the list under 20 ms in both data sets. Also: what keeping the figures costs a
load, as the `note_bars` statements alone against the time the loads took (an upper
bound: a direct load's note rides in a statement it runs anyway). Runs on
BENCH_DATABASE_URL's server if set, else on a fresh embedded server in a temporary home.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from fastapi.testclient import TestClient
from servers import bench_database

from candlelab.market.candles import QUERIES as CANDLE_QUERIES
from candlelab.market.candles import copy_new_bars
from candlelab.market.charts import ChartKey, chart_summaries, upsert_chart
from candlelab.store.database import Connection, connect
from candlelab.web.app import create_app

FLOOR = (
    "SELECT id, symbol, timeframe, source, name, timezone, calendar FROM charts ORDER BY 2, 3, 4"
)
BEFORE = """
SELECT c.id, c.symbol, c.timeframe, c.source, c.name, c.timezone, c.calendar,
       (SELECT count(*) FROM candles WHERE chart_id = c.id),
       (SELECT min(time) FROM candles WHERE chart_id = c.id),
       (SELECT max(time) FROM candles WHERE chart_id = c.id),
       (SELECT count(*) FROM span_annotations WHERE chart_id = c.id),
       (SELECT count(*) FROM annotations WHERE chart_id = c.id)
FROM charts c ORDER BY c.symbol, c.timeframe, c.source"""
PIECE = 1_000_000  # bars per COPY when making the big chart


def bars(count: int, minutes: int, seed: int) -> pl.DataFrame:
    """A random walk with consistent OHLC, a bar every `minutes` from 2000-01-03 on."""
    rng = np.random.default_rng(seed)
    times = np.datetime64("2000-01-03", "us") + np.arange(count) * np.timedelta64(minutes, "m")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pl.DataFrame({
        "time": pl.Series(times).dt.replace_time_zone("UTC"), "open": open_,
        "high": np.maximum(open_, close), "low": np.minimum(open_, close), "close": close,
        "volume": np.full(count, 10.0),
    })  # fmt: skip


def store(conn: Connection, symbol: str, frame: pl.DataFrame) -> None:
    chart_id = upsert_chart(conn, ChartKey(symbol, "1d", "bench"))
    for first in range(0, frame.height, PIECE):
        copy_new_bars(conn, chart_id, frame.slice(first, PIECE))
    conn.commit()


def latencies(steps: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Each step's latencies in ms; the steps take turns, round after round."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def measure(url: str, title: str, rounds: int) -> None:
    with connect(url) as conn, TestClient(create_app(url)) as client:
        steps: dict[str, Callable[[], object]] = {
            "floor: the charts table alone": lambda: conn.execute(FLOOR).fetchall(),
            "chart_summaries": lambda: chart_summaries(conn),
            "GET /api/charts (100 a page)": lambda: client.get("/api/charts").raise_for_status(),
            "GET /api/charts?limit=1000": lambda: client.get(
                "/api/charts", params={"limit": 1000}
            ).raise_for_status(),
            "GET / (the charts page)": lambda: client.get("/").raise_for_status(),
            "before: counting every bar": lambda: conn.execute(BEFORE).fetchall(),
        }
        for step in steps.values():
            step()  # warm: the pool's connections, prepared plans
        report(title, latencies(steps, rounds))


def report(title: str, times: dict[str, list[float]]) -> None:
    print(title)
    floor = float(np.median(times["floor: the charts table alone"]))
    for name, values in times.items():
        p50, p99 = np.percentile(values, 50), np.percentile(values, 99)
        print(
            f"  {name:32} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  ratio to floor {p50 / floor:6.1f}"
        )
    before = float(np.median(times["before: counting every bar"]))
    listed = float(np.median(times["GET /api/charts?limit=1000"]))
    print(f"  the list is {before / listed:.1f}x faster than counting (target: under 20 ms)")


def note_cost(conn: Connection, charts: int) -> float:
    """Seconds the figures' upkeep costs on its own: one `note_bars` per chart, as each
    load adds to its chart (in one transaction, rolled back: nothing changes)."""
    started = time.perf_counter()
    for chart_id in range(1, charts + 1):
        conn.execute(CANDLE_QUERIES["note_bars"],
                     {"chart_id": chart_id, "bars": 0, "first": None, "last": None})  # fmt: skip
    elapsed = time.perf_counter() - started
    conn.rollback()
    return elapsed


def run(url: str, charts: int, per_chart: int, big: int, rounds: int) -> None:
    with connect(url) as conn:
        started = time.perf_counter()
        for index in range(charts):
            store(conn, f"S{index:04d}", bars(per_chart, 24 * 60, index))
        loading = time.perf_counter() - started
        upkeep = note_cost(conn, charts)
    print(f"loading {charts:,} charts: {loading:.2f} s; the figures' upkeep alone "
          f"{upkeep * 1000:.0f} ms, {upkeep / loading:.1%} of it (target ≤ 3 %)")  # fmt: skip
    measure(url, f"{charts:,} charts of {per_chart:,} daily bars, {rounds} rounds", rounds)
    with connect(url) as conn:
        conn.execute("TRUNCATE candles, charts RESTART IDENTITY CASCADE")
        conn.commit()
        store(conn, "BIG", bars(big, 1, 0))
    measure(url, f"one chart of {big:,} minute bars, {rounds} rounds", rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--big", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("candlelab_bench", Path(scratch)) as url,
    ):
        run(url, args.charts, args.bars, args.big, args.rounds)


if __name__ == "__main__":
    main()
