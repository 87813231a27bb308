"""The annotator's hot paths on a chart of 5,000,000 minute bars.

- the candle window endpoint: 10,000 bars from a random place in the history, timed in
  the server process (the app's own work: query, encoding, JSON), against the same
  rows fetched by `candlelab.market.candles.window` alone (the database floor), same run;
- its payload against the same numbers as packed float64 (6 columns of 8 bytes);
- creating a span: POST /api/spans over HTTP to uvicorn on 127.0.0.1, round trip.

Targets: a window under 50 ms, payload at most 1.5 times packed, a span create under 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
from fastapi.testclient import TestClient
from servers import bench_database

from candlelab.labels.spans import LabelType, add_label_type
from candlelab.market.candles import copy_new_bars, window
from candlelab.market.charts import ChartKey, upsert_chart
from candlelab.store.database import connect
from candlelab.web.app import create_app
from candlelab.web.serving import serving

START = datetime(2015, 1, 1, tzinfo=UTC)
WINDOW = 10_000


def minute_bars(count: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0005, count)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.0003, count))
    times = np.datetime64("2015-01-01", "us") + np.arange(count) * np.timedelta64(60, "s")
    return pl.DataFrame({
        "time": pl.Series(times).dt.replace_time_zone("UTC"), "open": open_,
        "high": np.maximum(open_, close) * (1 + wick), "low": np.minimum(open_, close) * (1 - wick),
        "close": close, "volume": rng.lognormal(5, 1, count).round(3),
    })  # fmt: skip


def chart_of(url: str, bars: int) -> tuple[int, int]:
    """The benchmark chart (made on first run) and a label type; their ids."""
    with connect(url) as conn:
        chart_id = upsert_chart(conn, ChartKey("BENCH", "1m", "bench"))
        stored = conn.execute("SELECT count(*) FROM candles WHERE chart_id = %s", (chart_id,))
        if stored.fetchone() != (bars,):
            conn.execute("DELETE FROM candles WHERE chart_id = %s", (chart_id,))
            made = minute_bars(bars)
            for first in range(0, bars, 1_000_000):
                copy_new_bars(conn, chart_id, made[first : first + 1_000_000])
            conn.execute("ANALYZE candles")
        label = conn.execute("SELECT id FROM span_label_types WHERE name = 'bench'").fetchone()
        label_id = label[0] if label else add_label_type(conn, LabelType("bench", "#2962ff"))
        conn.commit()
    return chart_id, label_id


def timed(step: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1000)
    return times


def starts(bars: int, rounds: int) -> list[datetime]:
    rng = np.random.default_rng(11)
    return [START + timedelta(minutes=int(m)) for m in rng.integers(0, bars - WINDOW, rounds)]


def windows(url: str, chart_id: int, bars: int, rounds: int) -> None:
    places = starts(bars, rounds)
    end = datetime.max.replace(tzinfo=UTC)
    with connect(url) as conn:
        floor = timed(lambda: window(conn, chart_id, places.pop(), end, WINDOW), rounds)
    places = starts(bars, rounds)
    sizes = []
    with TestClient(create_app(url)) as client:

        def fetch() -> None:
            params = {"start": places.pop().isoformat(), "limit": WINDOW}
            answer = client.get(f"/api/charts/{chart_id}/candles", params=params)
            assert answer.json()["count"] == WINDOW
            sizes.append(len(answer.content))

        served = timed(fetch, rounds)
    packed = WINDOW * 6 * 8
    report("window of 10,000 bars, app", served, "< 50 ms")
    report("the same rows, database only", floor, "")
    ratio = statistics.median(served) / statistics.median(floor)
    print(f"  ratio app / database (median): {ratio:.2f}")
    print(f"  payload {max(sizes):,} bytes, {max(sizes) / packed:.3f}x packed (target ≤ 1.5)")


def span_creates(url: str, chart_id: int, label_id: int, bars: int, rounds: int) -> None:
    places = starts(bars, rounds + 1)
    with serving(create_app(url)) as site, httpx.Client(base_url=site) as http:

        def create() -> None:
            first = places.pop()
            body = {"chart_id": chart_id, "label_type_id": label_id,
                    "start_time": first.isoformat(),
                    "end_time": (first + timedelta(minutes=30)).isoformat()}  # fmt: skip
            assert http.post("/api/spans", json=body).status_code == 201

        create()  # the pool's first connection
        report("span create, HTTP round trip", timed(create, rounds), "< 50 ms")


def report(what: str, times: list[float], target: str) -> None:
    cuts = statistics.quantiles(times, n=100)
    print(f"{what:32s} median {statistics.median(times):6.2f} ms  p95 {cuts[94]:6.2f} ms  "
          f"p99 {cuts[98]:6.2f} ms  {target}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("candlelab_bench_web", Path(scratch)) as url,
    ):
        chart_id, label_id = chart_of(url, args.bars)
        print(f"chart of {args.bars:,} minute bars, {args.rounds} rounds each")
        windows(url, chart_id, args.bars, args.rounds)
        span_creates(url, chart_id, label_id, args.bars, args.rounds)


if __name__ == "__main__":
    main()
