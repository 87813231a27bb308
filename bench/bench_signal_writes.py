"""What the indexes on `signals` cost a backtest's bulk write.

    python bench/bench_signal_writes.py [--charts 100] [--bars 5000]

Synthetic predictions (`charts` x `bars` rows) are written as a backtest writes them
(`models.signals.BulkWriter`: one binary COPY per batch of charts into a staging table,
then a plain INSERT with the class word and the bar's label, no features, where the
version has no signal in the batch's range, else INSERT … ON CONFLICT DO NOTHING), into
an empty `signals` table: with
every index, without the GIN index on `features`, and with the unique constraint's index
alone. Then the same write again, where every row exists already. Runs on
BENCH_DATABASE_URL's server if set, else on a fresh embedded server.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from psycopg import sql
from servers import bench_database

from candlelab.models.signals import BulkWriter, SignalBatch
from candlelab.store.database import Connection, connect

CHARTS_PER_BATCH = 20
CLASSES = ("short", "none", "long")
DROPS = {
    "every index": (),
    "no GIN on features": ("ix_signals_features",),
    "unique constraint only": ("ix_signals_features", "ix_signals_model_name_model_version_time"),
}


def batches(charts: int, bars: int) -> list[SignalBatch]:
    rng = np.random.default_rng(1)
    start = np.datetime64("2005-01-03", "us")
    made = []
    for first in range(1, charts + 1, CHARTS_PER_BATCH):
        ids = np.repeat(np.arange(first, min(first + CHARTS_PER_BATCH, charts + 1)), bars)
        times = start + np.tile(np.arange(bars), len(ids) // bars) * np.timedelta64(1, "D")
        made.append(SignalBatch(ids.astype(np.int64), times, rng.integers(0, 3, len(ids)),
                                rng.uniform(0.34, 1, len(ids))))  # fmt: skip
    return made


def write(conn: Connection, made: list[SignalBatch]) -> tuple[float, int]:
    """Seconds to write every batch in one transaction, and the rows written."""
    started = time.perf_counter()
    writer = BulkWriter(conn, "bench", 1, "champion", CLASSES)
    written = sum(writer.write(batch) for batch in made)
    conn.commit()
    return time.perf_counter() - started, written


def run(url: str, charts: int, bars: int) -> None:
    made = batches(charts, bars)
    rows = sum(len(b.chart_id) for b in made)
    with connect(url) as conn:
        conn.execute("INSERT INTO charts (id, symbol, timeframe, source, name) "
                     "SELECT n, 'S' || n, '1d', 'bench', 'S' || n "
                     "FROM generate_series(1, %s) n", (charts,))  # fmt: skip
        conn.commit()
        for name, dropped in DROPS.items():
            conn.execute("TRUNCATE signals CASCADE")
            for index in dropped:  # in the benchmark's own database
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index)))
            conn.commit()
            first, written = write(conn, made)
            again, none = write(conn, made)
            print(
                f"{name:24s} {rows:,} rows: {first:6.1f} s ({rows / first:,.0f} rows/s), "
                f"again (all present) {again:6.1f} s; written {written:,} then {none}"
            )
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('signals'))")
        print(f"signals with the unique constraint only: {size.fetchone()[0]}")  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=100)
    parser.add_argument("--bars", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, \
            bench_database("bench_signals", Path(scratch)) as url:  # fmt: skip
        run(url, args.charts, args.bars)


if __name__ == "__main__":
    main()
