"""Peak memory and speed of `candlelab ingest` on one big file, against a plain COPY.

    python bench/bench_ingest_memory.py [--rows 2000000 20000000] [--gzip]

For each size: one CSV file of that many 1-minute bars (a random walk with consistent
OHLC, written here in a temporary folder, in pieces so this process stays small), then
`candlelab ingest` on it in a subprocess, on a fresh database of a fresh embedded server
(or BENCH_DATABASE_URL's). Measured: the subprocess's peak RSS (`ru_maxrss` of the
child) and its rows/s. Baseline, in the same run: the same rows by one plain binary COPY
into an empty `candles` table, in a subprocess too (its own peak RSS shown for reference).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from servers import bench_database

PIECE = 1_000_000  # rows generated and written at a time
CANDLELAB = str(Path(sys.executable).with_name("candlelab"))


def write_csv(path: Path, rows: int, compress: bool, seed: int = 1) -> None:
    """`rows` 1-minute bars from 1980-01-01, written piece by piece."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("1980-01-01T00:00", "us")  # 20M minutes end in 2018
    last = 100.0
    with gzip.open(path, "wb") if compress else path.open("wb") as handle:
        for first in range(0, rows, PIECE):
            count = min(PIECE, rows - first)
            close = last * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
            open_ = np.concatenate([[last], close[:-1]])
            wick = np.abs(rng.normal(0, 0.0005, count))
            times = start + (first + np.arange(count)) * np.timedelta64(60, "s")
            frame = pl.DataFrame({
                "time": pl.Series(times).dt.replace_time_zone("UTC"), "open": open_,
                "high": np.maximum(open_, close) * (1 + wick),
                "low": np.minimum(open_, close) * (1 - wick), "close": close,
                "volume": rng.lognormal(5, 1, count).round(3),
            })  # fmt: skip
            frame.write_csv(handle, include_header=first == 0, float_precision=6)  # type: ignore[arg-type]
            last = float(close[-1])


def child_run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one subprocess. wait4 gives that child's own
    ru_maxrss (getrusage(RUSAGE_CHILDREN) would give the largest child so far)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        out, err = process.communicate()
        sys.exit(f"{command[:3]} failed:\n{out.decode()[-2000:]}{err.decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


BASELINE = """
import sys, polars as pl, psycopg
from candlelab.store.binary_copy import CopyColumn, binary_copy_chunks
frame = pl.read_csv(sys.argv[2], try_parse_dates=True)
columns = [CopyColumn("bigint", pl.repeat(1, frame.height, dtype=pl.Int64, eager=True).to_numpy()),
           CopyColumn("timestamptz", frame["time"].dt.replace_time_zone(None).to_numpy())]
columns += [CopyColumn("double precision", frame[c].to_numpy())
            for c in ("open", "high", "low", "close", "volume")]
with psycopg.connect(sys.argv[1]) as conn:
    conn.execute("INSERT INTO charts (symbol, timeframe, source, name) "
                 "VALUES ('BASE', '1m', 'bench', 'BASE')")
    statement = ("COPY candles (chart_id, time, open, high, low, close, volume) "
                 "FROM STDIN (FORMAT BINARY)")
    with conn.cursor().copy(statement) as copy:
        for piece in binary_copy_chunks(columns):
            copy.write(piece)
"""


def measure(path: Path, rows: int, scratch: Path) -> dict[str, float]:
    with bench_database(f"bench_ingest_{rows}", scratch) as url:
        env = {**os.environ, "DATABASE_URL": url}
        base_s, base_rss = child_run([sys.executable, "-c", BASELINE, url, str(path)], env)
        subprocess.run(
            [sys.executable, "-c", f"import psycopg; psycopg.connect({url!r}, autocommit=True)"
             ".execute('TRUNCATE candles, charts RESTART IDENTITY CASCADE')"], check=True,
        )  # fmt: skip
        command = [CANDLELAB, "ingest", str(path), "--symbol", "BENCH", "--timeframe", "1m"]
        seconds, rss = child_run([*command, "--json"], env)
    return {"base_s": base_s, "base_rss": base_rss, "seconds": seconds, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 20_000_000])
    parser.add_argument("--gzip", action="store_true", help="also each size as .csv.gz")
    args = parser.parse_args()
    print(f"{'input':<22} {'rows':>11} {'ingest s':>9} {'rows/s':>10} {'peak RSS':>9} "
          f"{'COPY s':>7} {'COPY rows/s':>11} {'ratio':>6} {'COPY RSS':>9}")  # fmt: skip
    for rows in args.rows:
        for compress in (False, True) if args.gzip else (False,):
            scratch = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
            try:
                path = scratch / f"bars_{rows}.csv{'.gz' if compress else ''}"
                write_csv(path, rows, compress)
                figures = measure(path, rows, scratch)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            rate, base_rate = rows / figures["seconds"], rows / figures["base_s"]
            print(f"{path.name:<22} {rows:>11,} {figures['seconds']:>9.1f} {rate:>10,.0f} "
                  f"{figures['rss']:>7,.0f}MB {figures['base_s']:>7.1f} {base_rate:>11,.0f} "
                  f"{rate / base_rate:>6.2f} {figures['base_rss']:>7,.0f}MB",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
