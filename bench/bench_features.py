"""The feature store at the issue's sizing, against baselines measured in the same run.

    python bench/bench_features.py [--charts 1000] [--bars 5000] [--repeat 1]

The data set: `charts` daily random walks of `bars` bars (bench_candles_io's), ingested
one chart per frame; the bundled `core` set (62 columns). Runs on BENCH_DATABASE_URL's
server if set, else on a fresh embedded server in a temporary home.

- full build (`build_features`) against computing the same features per chart on bars
  already in memory (`computation.compute`, the same code path) and writing every vector
  by one binary COPY into a plain table of one float8[] per bar (its primary key only);
- one new bar ingested into every chart, then a build: against the full build;
- read_features of every row into NumPy, against read_candles + compute in memory, and
  against the per-bar float8[] table read through ADBC into NumPy;
- features_as_of of 100,000 random (chart, time) rows, against Polars' join_asof of the
  same matrix already in memory (sorting the rows and back included), the two taking
  turns 5 times per round;
- latest_vector on a kept-open connection, p50 and p99 over 2,000 calls, against a
  prepared binary read of the same row of the per-bar table, call by call;
- bytes per stored value (table, TOAST and indexes) of both layouts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from bench_candles_io import Step, make_series, timed
from servers import bench_database, vacuum

from candlelab.features.computation import ChartBars, compute
from candlelab.features.definitions import FeatureSet, bundled_feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import features_as_of, latest_vector, read_features
from candlelab.features.registry import StoredSet, register
from candlelab.market.candles import PRICE_COLUMNS, candle_arrays, read_candles
from candlelab.market.charts import Chart, all_charts
from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.timeframes import Timeframe
from candlelab.store.binary_copy import HEADER, POSTGRES_EPOCH, TRAILER
from candlelab.store.database import Connection, connect

DAILY = Timeframe.parse("1d")
Floats = npt.NDArray[np.float64]
PER_BAR_TABLE = """
CREATE TABLE IF NOT EXISTS feature_values_per_bar (
    feature_set_id bigint NOT NULL, chart_id bigint NOT NULL, time timestamptz NOT NULL,
    "values" float8[] NOT NULL, PRIMARY KEY (feature_set_id, chart_id, time)
)"""
FLOAT8_OID = 701


class Market:
    """The charts as stored, and how many bars of each series are stored so far."""

    def __init__(self, conn: Connection, series: list[pl.DataFrame], bars: int) -> None:
        self.conn, self.series, self.stored = conn, series, 0
        for index, frame in enumerate(series):
            options = IngestOptions(f"S{index:04d}", DAILY, source="bench")
            ingest_frame(conn, frame.head(bars), options)
            conn.commit()
        self.stored = bars
        self.charts: list[Chart] = sorted(all_charts(conn), key=lambda c: c.id)
        conn.commit()

    def add_bar(self) -> None:
        """One new bar into every chart, each its own ingest."""
        for index, frame in enumerate(self.series):
            options = IngestOptions(f"S{index:04d}", DAILY, source="bench")
            ingest_frame(self.conn, frame.slice(self.stored, 1), options)
            self.conn.commit()
        self.stored += 1

    def in_memory(self) -> list[ChartBars]:
        """The stored bars of every chart as the baseline holds them: already in memory."""
        return [_chart_bars(chart, frame.head(self.stored))
                for chart, frame in zip(self.charts, self.series, strict=True)]  # fmt: skip


def _chart_bars(chart: Chart, frame: pl.DataFrame) -> ChartBars:
    time = frame["time"].dt.replace_time_zone(None).to_numpy()
    columns = {name: frame[name].to_numpy() for name in PRICE_COLUMNS}
    return ChartBars(time, columns, DAILY, chart.timezone, chart.calendar)


def per_bar_copy(set_id: int, chart_id: int, time: Any, vectors: Floats) -> bytes:
    """Binary COPY rows (set, chart, time, float8[]) built in NumPy, no loop per bar."""
    width = vectors.shape[1]
    layout = np.dtype([
        ("fields", ">i2"), ("l0", ">i4"), ("set", ">i8"), ("l1", ">i4"), ("chart", ">i8"),
        ("l2", ">i4"), ("time", ">i8"), ("l3", ">i4"), ("ndim", ">i4"), ("flags", ">i4"),
        ("oid", ">i4"), ("dim", ">i4"), ("lower", ">i4"),
        ("elements", [("length", ">i4"), ("value", ">f8")], (width,)),
    ])  # fmt: skip
    rows = np.empty(len(vectors), dtype=layout)
    rows["fields"], rows["l0"], rows["l1"], rows["l2"] = 4, 8, 8, 8
    rows["set"], rows["chart"] = set_id, chart_id
    rows["time"] = (time.astype("M8[us]") - POSTGRES_EPOCH).astype(np.int64)
    rows["l3"] = 20 + 12 * width
    rows["ndim"], rows["flags"], rows["oid"] = 1, 0, FLOAT8_OID
    rows["dim"], rows["lower"] = width, 1
    rows["elements"]["length"] = 8
    rows["elements"]["value"] = vectors
    return rows.tobytes()


def baseline_build(conn: Connection, features: FeatureSet, stored: StoredSet,
                   charts: Sequence[Chart], bars: list[ChartBars]) -> None:  # fmt: skip
    """Compute per chart in memory, then every vector by one binary COPY."""
    pieces = [HEADER]
    for chart, chart_bars in zip(charts, bars, strict=True):
        vectors = compute(features, chart_bars)
        pieces.append(per_bar_copy(stored.id, chart.id, chart_bars.time, vectors))
    pieces.append(TRAILER)
    statement = "COPY feature_values_per_bar FROM STDIN (FORMAT BINARY)"
    with conn.cursor().copy(statement) as copy:
        copy.write(b"".join(pieces))
    conn.commit()


def empty(conn: Connection, *tables: str) -> None:
    conn.execute(f"TRUNCATE {', '.join(tables)}")
    conn.commit()


def recomputed(url: str, features: FeatureSet, charts: Sequence[Chart]) -> Floats:
    """What every user can do: read the candles, compute the features in memory."""
    candles = candle_arrays(read_candles(url, [c.id for c in charts]))
    bounds = np.searchsorted(candles["chart_id"], [c.id for c in charts] + [charts[-1].id + 1])
    parts = []
    for chart, start, stop in zip(charts, bounds[:-1], bounds[1:], strict=True):
        columns = {name: candles[name][start:stop] for name in PRICE_COLUMNS}
        bars = ChartBars(candles["time"][start:stop], columns, DAILY, chart.timezone,
                         chart.calendar)  # fmt: skip
        parts.append(compute(features, bars))
    return np.concatenate(parts)


def per_bar_read(url: str, set_id: int, width: int) -> tuple[Any, Floats]:
    """The per-bar table through ADBC's fetch_arrow_table, then NumPy."""
    import adbc_driver_postgresql.dbapi as adbc

    # A literal, not a parameter: ADBC streams only an unparameterised query by COPY.
    query = f'SELECT chart_id, time, "values" FROM feature_values_per_bar WHERE feature_set_id = {int(set_id)}'  # noqa: E501, S608
    with adbc.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(query)
        table = cursor.fetch_arrow_table()
    values = table.column("values").combine_chunks().flatten().to_numpy()
    return table.column("chart_id").to_numpy(), values.reshape(-1, width)


def entity_rows(charts: Sequence[Chart], bars: int, count: int) -> tuple[Any, Any]:
    """Random (chart, time) rows over the stored span, times between bar opens too."""
    rng = np.random.default_rng(3)
    ids = rng.choice([c.id for c in charts], size=count)
    start = np.datetime64("2000-01-03", "us")
    offsets = rng.integers(0, bars * 86_400_000_000, size=count).astype("m8[us]")
    return ids, start + offsets


def polars_as_of(right: pl.DataFrame, ids: Any, at: Any, columns: Sequence[str]) -> Floats:
    """join_asof on the matrix in memory: sort the rows, join backward by chart, sort back."""
    left = pl.DataFrame({"chart_id": ids, "at": at}).with_row_index("row").sort("at")
    joined = left.join_asof(right, left_on="at", right_on="end", by="chart_id",
                            strategy="backward", check_sortedness=False)  # fmt: skip
    return joined.sort("row").select(columns).to_numpy()


def matrix_frame(matrix: Any) -> pl.DataFrame:
    """The training matrix with each bar's close (a daily UTC bar closes a day later)."""
    frame = pl.DataFrame({"chart_id": matrix.chart_id,
                          "end": matrix.time + np.timedelta64(1, "D")})  # fmt: skip
    features = pl.DataFrame(matrix.values, schema=list(matrix.columns), orient="row")
    return pl.concat([frame, features], how="horizontal").sort("end")


PLAIN_LATEST = (
    'SELECT time, "values" FROM feature_values_per_bar WHERE feature_set_id = %(set_id)s '
    "AND chart_id = %(chart_id)s ORDER BY time DESC LIMIT 1"
)


def lookups(conn: Connection, stored: StoredSet, charts: Sequence[Chart],
            calls: int = 2000) -> dict[str, list[float]]:  # fmt: skip
    """latest_vector and the plain prepared read, taking turns call by call; ms."""
    rng = np.random.default_rng(4)
    latencies: dict[str, list[float]] = {"ours": [], "plain": []}
    for chart_id in rng.choice([c.id for c in charts], size=calls):
        started = time.perf_counter()
        latest_vector(conn, stored, int(chart_id))
        latencies["ours"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with conn.cursor(binary=True) as cursor:
            params = {"set_id": stored.id, "chart_id": int(chart_id)}
            cursor.execute(PLAIN_LATEST, params, prepare=True).fetchone()
        latencies["plain"].append((time.perf_counter() - started) * 1000)
    conn.commit()
    return latencies


def storage(conn: Connection, table: str, values: int) -> tuple[int, float]:
    row = conn.execute(f"SELECT pg_total_relation_size('{table}')").fetchone()
    assert row is not None
    return int(row[0]), int(row[0]) / values


def same(a: npt.NDArray[np.floating[Any]], b: npt.NDArray[np.floating[Any]]) -> bool:
    """Equal to 1e-9 relative, NaN where the other is NaN (an increment's values equal a
    full computation's to that, not bit for bit)."""
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))


def run(url: str, charts: int, bars: int, repeat: int) -> None:
    features = bundled_feature_set("core")
    series = make_series(charts, bars + repeat)
    with connect(url) as conn:
        conn.execute(PER_BAR_TABLE)
        conn.commit()
        started = time.perf_counter()
        market = Market(conn, series, bars)
        print(f"set-up: {charts} charts x {bars} bars ingested in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        stored = register(conn, features)
        conn.commit()
        builds = _timed_builds(conn, market, features, stored, repeat)
        vacuum(conn, "feature_blocks", "feature_values_per_bar")
        _reads(url, conn, market, features, stored, repeat=repeat, builds=builds)


def _timed_builds(conn: Connection, market: Market, features: FeatureSet, stored: StoredSet,
                  repeat: int) -> dict[str, float]:  # fmt: skip
    in_memory: list[list[ChartBars]] = []

    def before_baseline() -> None:  # an empty table, and the bars stored now in memory
        empty(conn, "feature_values_per_bar")
        in_memory[:] = [market.in_memory()]

    steps: list[Step] = [
        ("build", lambda: build_features(conn, features),
         lambda: empty(conn, "feature_blocks", "feature_builds")),
        ("increment", lambda: build_features(conn, features), market.add_bar),
        ("base", lambda: baseline_build(conn, features, stored, market.charts, in_memory[-1]),
         before_baseline),
    ]  # fmt: skip
    conn.commit()  # build_features wants no transaction open; every step commits
    return timed(steps, repeat)


JOIN_TURNS = 5


def _reads(url: str, conn: Connection, market: Market, features: FeatureSet,
           stored: StoredSet, *, repeat: int, builds: dict[str, float]) -> None:  # fmt: skip
    width = len(stored.columns)
    ids, at = entity_rows(market.charts, market.stored, 100_000)
    right = matrix_frame(read_features(url, stored))
    medians = timed([
        ("matrix", lambda: read_features(url, stored), lambda: None),
        ("recompute", lambda: recomputed(url, features, market.charts), lambda: None),
        ("per_bar", lambda: per_bar_read(url, stored.id, width), lambda: None),
    ], repeat)  # fmt: skip
    # The join takes under a second: it and join_asof take JOIN_TURNS turns per round, so
    # that a busy spell of the shared machine does not decide its median.
    medians |= timed([
        ("as_of", lambda: features_as_of(url, stored, ids, at), lambda: None),
        ("polars", lambda: polars_as_of(right, ids, at, stored.columns), lambda: None),
    ], repeat * JOIN_TURNS)  # fmt: skip
    matrix = read_features(url, stored)
    checks = {
        "read_features = recomputed": same(matrix.values,
                                           recomputed(url, features, market.charts)),
        "read_features = per-bar table": same(matrix.values,
                                              per_bar_read(url, stored.id, width)[1]),
        "features_as_of = join_asof": same(features_as_of(url, stored, ids, at),
                                           polars_as_of(right, ids, at, stored.columns)),
    }  # fmt: skip
    latencies = lookups(conn, stored, market.charts)
    values = len(matrix) * width
    sizes = {t: storage(conn, t, values) for t in ("feature_blocks", "feature_values_per_bar")}
    rows = len(matrix)
    report(builds | medians, latencies, sizes, checks, rows=rows, width=width, repeat=repeat)


def report(t: dict[str, float], latencies: dict[str, list[float]],
           sizes: dict[str, tuple[int, float]], checks: dict[str, bool], *, rows: int,
           width: int, repeat: int) -> None:  # fmt: skip
    print(f"{rows:,} rows x {width} columns ({rows * width * 8 / 1e9:.2f} GB of float64), "
          f"median of {repeat} (the join and join_asof: of {repeat * JOIN_TURNS})")  # fmt: skip
    lines = [
        ("baseline: compute in memory + one binary COPY", t["base"], "", ""),
        ("full build (build_features)", t["build"], t["build"] / t["base"], "≤ 1.3 to baseline"),
        ("one new bar per chart, then build", t["increment"], t["increment"] / t["build"],
         "≤ 0.02 to full build"),
        ("baseline: read_candles + compute in memory", t["recompute"], "", ""),
        ("read_features → NumPy", t["matrix"], t["matrix"] / t["recompute"],
         "< 1 to recomputing"),
        ("per-bar float8[] table, ADBC → NumPy", t["per_bar"], t["per_bar"] / t["matrix"],
         "(to read_features)"),
        ("baseline: Polars join_asof in memory", t["polars"], "", ""),
        ("features_as_of, 100,000 rows", t["as_of"], t["as_of"] / t["polars"], "≤ 2 to join_asof"),
    ]  # fmt: skip
    print(f"{'what':48} {'time':>9}  {'ratio':>6}  target")
    for name, seconds, ratio, target in lines:
        shown = f"{ratio:6.3f}" if ratio != "" else ""
        print(f"{name:48} {seconds:7.2f} s  {shown:>6}  {target}")
    ours, plain = ([np.percentile(latencies[n], q) for q in (50, 99)] for n in ("ours", "plain"))
    print(f"latest_vector                  p50 {ours[0]:.3f} ms  p99 {ours[1]:.3f} ms")
    print(f"  baseline: prepared read      p50 {plain[0]:.3f} ms  p99 {plain[1]:.3f} ms")
    print(f"  ratio p50 {ours[0] / plain[0]:.2f}, p99 {ours[1] / plain[1]:.2f} (target p99 ≤ 1.5)")
    for table, (total, per_value) in sizes.items():
        print(f"storage {table:24} {total / 1e9:6.2f} GB  {per_value:5.2f} bytes per value")
    for name, ok in checks.items():
        print(f"check {name}: {'identical' if ok else 'DIFFERENT'}")


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
        run(url, args.charts, args.bars, args.repeat)


if __name__ == "__main__":
    main()
