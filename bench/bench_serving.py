"""Serving a registered model: one prediction over HTTP, and a backtest, against baselines.

    python bench/bench_serving.py [--charts 300] [--bars 1000] [--requests 300] [--rounds 50]
    python bench/bench_serving.py --charts 1000 --bars 5000   # the issue's size
    python bench/bench_serving.py --backtest-only             # the backtest part alone
    python bench/bench_serving.py --mlflow-one-thread         # MLflow's OpenMP on one thread

The data set: `charts` daily random walks of `bars` bars (bench_candles_io's), the bundled
`core` set but its `minutes_to_close` (61 columns) built on them, a LightGBM model of
`rounds` trees per class trained on the ready `triple-barrier` target of a few charts,
registered, holding alias `champion`.
Runs on BENCH_DATABASE_URL's server if set, else on a fresh embedded server.

- one prediction: `POST /api/models/{name}/predict` to `candlelab serve` (a process of its
  own; the routed model, the feature lookup, the signal written), against MLflow's own
  scoring server (`mlflow models serve --env-manager local`, one worker) on the same
  model's MLflow directory, POST /invocations of one row (the model call only). The two
  take turns request by request, each over a kept-alive connection. Every candlelab
  request is a bar not predicted before: the newest bar of a chart (its stored vector),
  or a past bar (a stored vector inside a block); then repeated requests (the stored
  signal read back). LightGBM's own one-row predict for reference.
- a backtest of every chart (`models.prediction.backtest`: features read, predicted, the
  signals written with their class word and label, no features) against LightGBM's
  predict on the same feature matrix already in memory plus one binary COPY of the result
  rows into `signals` (chart, time, model, version, alias, class word, probability: the
  table the rows must reach, with its keys and indexes); the same COPY into a plain table
  of (chart, time, class, probability) shows what those keys cost. Then the backtest again
  without the GIN index on `signals.features` (dropped and made again in the benchmark's
  own database), and once more over the signals it wrote (nothing new: the merge path).

Targets: prediction p50 and p99 ≤ 0.5x MLflow's; the backtest ≤ 1.3x the baseline whose
COPY goes into `signals` (into a plain table, the keys the issue asks for cost more than
the whole baseline: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from bench_candles_io import make_series, timed
from bench_features import Market
from servers import bench_database

from candlelab.features.definitions import FeatureSet, bundled_feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import FeatureMatrix, read_features
from candlelab.features.registry import StoredSet
from candlelab.models.prediction import ModelShelf, ServedModel, backtest
from candlelab.store.binary_copy import POSTGRES_EPOCH, CopyColumn, binary_copy_buffer
from candlelab.store.database import connect
from candlelab.store.urls import libpq_url
from candlelab.training.datasets import DatasetRequest
from candlelab.training.folds import FoldPlan
from candlelab.training.proposals import ModelReference
from candlelab.training.targets import ready_target
from candlelab.training.tracking import Tracking, upgrade_tracking_schema
from candlelab.training.trainer import TrainingRequest, train

MODEL = "bench-serving"
TRAINED_CHARTS = 10  # charts the model learns from: the fit is not what is measured here
START = datetime(2000, 1, 3, tzinfo=UTC)  # make_series' first bar
START_SECONDS = 120
GIN = "ix_signals_features"
PLAIN_TABLE = """
CREATE TABLE IF NOT EXISTS bench_plain_signals (
    chart_id bigint, time timestamptz, class bigint, proba double precision
)"""


@dataclass(frozen=True)
class Bench:
    url: str
    artifacts: str
    stored: StoredSet
    chart_ids: tuple[int, ...]
    bars: int
    version: int


def set_up(url: str, artifacts: str, charts: int, bars: int, rounds: int) -> Bench:
    """The charts, the `core` set built on them, a model trained and made champion."""
    upgrade_tracking_schema(url, artifacts)
    with connect(url) as conn:
        Market(conn, make_series(charts, bars), bars)
        stored = build_features(conn, round_the_clock_core()).feature_set
        chart_ids = tuple(sorted(r[0] for r in conn.execute("SELECT id FROM charts")))
    data = DatasetRequest(stored, ready_target("triple-barrier"), chart_ids[:TRAINED_CHARTS])
    request = TrainingRequest(data, params={"num_boost_round": rounds}, folds=FoldPlan(folds=2),
                              model_name=MODEL)  # fmt: skip
    version = train(url, artifacts, request).model_version
    Tracking(url, artifacts).client.set_registered_model_alias(MODEL, "champion", str(version))
    return Bench(url, artifacts, stored, chart_ids, bars, version)


def round_the_clock_core() -> FeatureSet:
    """`core` without `minutes_to_close`, NaN on every bar of a 24/7 chart: prediction
    refuses a vector with a NaN, so a `core` model never predicts on these charts."""
    core = bundled_feature_set("core")
    kept = tuple(f for f in core.features if f.name != "minutes_to_close")
    return FeatureSet("core_24_7", kept, "core without minutes_to_close")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(command: list[str], env: dict[str, str], log: Path, probe: str) -> Iterator[str]:
    """A server process on a free port of 127.0.0.1 (the command's `{port}` filled in),
    once `probe` answers; its base URL. Stopped at the end."""
    port = free_port()
    args = [part.format(port=port) for part in command]
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + probe, process, log)
        yield base
    finally:
        process.terminate()
        process.wait(20)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {START_SECONDS} s")


def candlelab_server(bench: Bench, scratch: Path) -> Any:
    env = {**os.environ, "DATABASE_URL": libpq_url(bench.url),
           "CANDLELAB_ARTIFACT_ROOT": bench.artifacts}  # fmt: skip
    command = [sys.executable, "-m", "candlelab", "serve", "--port", "{port}"]
    return server(command, env, scratch / "candlelab.log", "/openapi.json")


def mlflow_server(bench: Bench, scratch: Path, one_thread: bool = False) -> Any:
    """MLflow's scoring server on the registered version's own MLflow model directory
    (saved by `mlflow.lightgbm.save_model` at training), the model call only;
    `one_thread`: OpenMP held to one thread (OMP_NUM_THREADS=1), as candlelab predicts a
    row, where MLflow's LightGBM wakes its threads for each row."""
    tracking = Tracking(bench.url, bench.artifacts)
    _, run_id = tracking.model_version(MODEL, None, bench.version)
    model = tracking.download_model(run_id, scratch / "mlflow-model")
    bin_dir = str(Path(sys.executable).parent)  # its `uvicorn`
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model),
               "--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}"]  # fmt: skip
    return server(command, env, scratch / "mlflow.log", "/ping")


def bar_time(index: int) -> str:
    return (START + timedelta(days=int(index))).isoformat()


def requests(bench: Bench, count: int, seed: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Bodies of the candlelab requests of each kind: the newest bar of distinct charts,
    distinct past bars (stored vectors inside the blocks), one bar asked again and again."""
    rng = np.random.default_rng(seed)
    charts = np.array(bench.chart_ids)
    newest = [{"chart_id": int(c)} for c in charts[rng.permutation(len(charts))[:count]]]
    first, span = bench.bars // 2, bench.bars // 2 - 3  # past the warm-up; bars-2 warms up
    picked = rng.choice(len(charts) * span, count, replace=False)
    past = [{"chart_id": int(charts[p // span]), "time": bar_time(first + p % span)}
            for p in picked]  # fmt: skip
    repeated = [{"chart_id": int(charts[0]), "time": bar_time(bench.bars - 2)}] * count
    return {"the newest bar (stored vector)": newest, "a past bar (stored vector)": past,
            "the same bar again (stored signal)": repeated}  # fmt: skip


def mlflow_bodies(matrix: FeatureMatrix, count: int) -> list[bytes]:
    """One complete row each, as MLflow's scoring server reads a data frame."""
    complete = np.flatnonzero(~np.isnan(matrix.values).any(axis=1))
    rows = np.random.default_rng(7).choice(complete, count)
    return [json.dumps({"dataframe_split": {"columns": list(matrix.columns),
                                            "data": [matrix.values[r].tolist()]}}).encode()
            for r in rows]  # fmt: skip


Times = tuple[list[float], list[float]]


def taking_turns(ours: Callable[[dict[str, Any]], None], theirs: Callable[[bytes], None],
                 bodies: list[dict[str, Any]], rows: list[bytes]) -> Times:  # fmt: skip
    """Milliseconds of each request, candlelab's and MLflow's one after the other."""
    mine, others = [], []
    for body, row in zip(bodies, rows, strict=False):
        started = time.perf_counter()
        ours(body)
        mine.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        theirs(row)
        others.append((time.perf_counter() - started) * 1000)
    return mine, others


WARM_UP = 8  # psycopg prepares a statement at its 6th execution on a connection


def warm_up(bench: Bench, repeated: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests before the timing, as a server in service has had: the model loaded and
    the pool's connection made (the repeated bar, whose first request writes its signal),
    then new past bars not among the timed ones, so that every statement of a new
    prediction is past its first executions (parsed and planned each time) and prepared."""
    charts, last = bench.chart_ids, bench.bars // 2 - 1  # timed past bars start at bars // 2
    fresh = [{"chart_id": charts[i % len(charts)], "time": bar_time(last - i)}
             for i in range(WARM_UP)]  # fmt: skip
    return [repeated] * 5 + fresh


def predictions(bench: Bench, matrix: FeatureMatrix, count: int, scratch: Path,
                one_thread: bool) -> None:  # fmt: skip
    kinds = requests(bench, count)
    rows = mlflow_bodies(matrix, count)
    with ExitStack() as stack:
        ours = stack.enter_context(httpx.Client(base_url=stack.enter_context(
            candlelab_server(bench, scratch)), timeout=30))  # fmt: skip
        theirs = stack.enter_context(httpx.Client(base_url=stack.enter_context(
            mlflow_server(bench, scratch, one_thread)), timeout=30))  # fmt: skip
        headers = {"Content-Type": "application/json"}

        def predict(body: dict[str, Any]) -> None:
            answer = ours.post(f"/api/models/{MODEL}/predict", json=body)
            assert answer.status_code == 200, answer.text

        def score(row: bytes) -> None:
            answer = theirs.post("/invocations", content=row, headers=headers)
            assert answer.status_code == 200, answer.text

        checkpoint(bench.url)
        for body in warm_up(bench, kinds["the same bar again (stored signal)"][0]):
            predict(body)
            score(rows[0])
        held = ", MLflow's OpenMP on one thread" if one_thread else ""
        print(f"one prediction over HTTP, candlelab and MLflow taking turns ({count} each{held}):")
        for kind, bodies in kinds.items():
            report_turns(kind, *taking_turns(predict, score, bodies, rows))


def checkpoint(url: str) -> None:
    """The set-up's writes flushed before the timing starts, as pgbench does: else the
    checkpoint they bring about runs under the first requests, and only candlelab's
    write its WAL to the disk it keeps busy."""
    with connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def report_turns(kind: str, ours: list[float], theirs: list[float]) -> None:
    p50, p99 = statistics.median(ours), percentile(ours, 99)
    m50, m99 = statistics.median(theirs), percentile(theirs, 99)
    print(f"  {kind:36s} ({len(ours)}) candlelab p50 {p50:6.2f} ms p99 {p99:6.2f} ms | MLflow "
          f"p50 {m50:6.2f} ms p99 {m99:6.2f} ms | ratio p50 {p50 / m50:5.2f} "
          f"{mark(p50 / m50, 0.5)} p99 {p99 / m99:5.2f} {mark(p99 / m99, 0.5)}")  # fmt: skip


def percentile(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100)[q - 1] if len(times) > 1 else times[0]


def mark(ratio: float, target: float) -> str:
    return "✓" if ratio <= target else "✗"


def lightgbm_one_row(served: ServedModel, matrix: FeatureMatrix, count: int) -> None:
    complete = matrix.values[~np.isnan(matrix.values).any(axis=1)]
    booster = served.model.fitted.model
    times = []
    for row in complete[:count]:
        started = time.perf_counter()
        booster.predict(row[None, :])
        times.append((time.perf_counter() - started) * 1000)
    print(f"  LightGBM's own one-row predict: p50 {statistics.median(times):.3f} ms, "
          f"p99 {percentile(times, 99):.3f} ms")  # fmt: skip


def baseline_backtest(url: str, served: ServedModel, matrix: FeatureMatrix) -> None:
    """LightGBM's predict on the matrix in memory, one binary COPY of the result rows."""
    complete = ~np.isnan(matrix.values).any(axis=1)
    proba = served.model.fitted.model.predict(matrix.values[complete])
    best = proba.argmax(axis=1)
    columns = [CopyColumn("bigint", matrix.chart_id[complete]),
               CopyColumn("timestamptz", matrix.time[complete]), CopyColumn("bigint", best),
               CopyColumn("double precision", proba[np.arange(len(best)), best])]  # fmt: skip
    with connect(url) as conn:
        with conn.cursor().copy("COPY bench_plain_signals FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(binary_copy_buffer(columns))
        conn.commit()


def baseline_into_signals(url: str, served: ServedModel, matrix: FeatureMatrix) -> None:
    """The same, the COPY into `signals` itself (its keys, indexes, foreign key and
    trigger): the rows a backtest must write, written as cheaply as a client can."""
    complete = ~np.isnan(matrix.values).any(axis=1)
    proba = served.model.fitted.model.predict(matrix.values[complete])
    best = proba.argmax(axis=1)
    rows = SignalRows(matrix.chart_id[complete], matrix.time[complete], best,
                      proba[np.arange(len(best)), best])  # fmt: skip
    with connect(url) as conn:
        with conn.cursor().copy(SIGNALS_COPY) as copy:
            copy.write(rows.binary(served.model.name, served.model.version, served.model.classes))
        conn.commit()


SIGNALS_COPY = ("COPY signals (chart_id, time, model_name, model_version, alias, pred, proba) "
                "FROM STDIN (FORMAT BINARY)")  # fmt: skip


@dataclass(frozen=True)
class SignalRows:
    """Predicted rows as one binary COPY payload into `signals`, chart after chart as a
    backtest writes them. The class word's length varies, so each class's rows are laid
    out as fixed-width records, and a chart's rows go class by class (each in time
    order): the keys' B-trees get the chart's pages once, as from rows in time order."""

    chart_id: np.ndarray[Any, Any]
    time: np.ndarray[Any, Any]
    best: np.ndarray[Any, Any]
    proba: np.ndarray[Any, Any]

    def binary(self, name: str, version: int, classes: tuple[str, ...]) -> bytes:
        order = np.lexsort((self.best, self.chart_id))  # stable: time order kept within
        best = self.best[order]
        records = [self._records(name, version, word.encode(), order[best == index])
                   for index, word in enumerate(classes)]  # fmt: skip
        return b"PGCOPY\n\xff\r\n\0" + bytes(8) + self._by_chart(order, best, records) + b"\xff\xff"

    def _by_chart(self, order: np.ndarray[Any, Any], best: np.ndarray[Any, Any],
                  records: list[np.ndarray[Any, Any]]) -> bytes:  # fmt: skip
        """The classes' records joined run by run of (chart, class) in sorted order."""
        charts = self.chart_id[order]
        starts = np.flatnonzero(np.r_[True, (np.diff(charts) != 0) | (np.diff(best) != 0)])
        lengths = np.diff(np.r_[starts, len(order)])
        raw = [memoryview(each.tobytes()) for each in records]
        width = [each.dtype.itemsize for each in records]
        taken, pieces = [0] * len(records), []
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            c = int(best[start])
            pieces.append(raw[c][taken[c] * width[c] : (taken[c] + length) * width[c]])
            taken[c] += length
        return b"".join(pieces)

    def _records(self, name: str, version: int, word: bytes,
                 rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:  # fmt: skip
        text = [("name", name.encode()), ("alias", b"champion"), ("pred", word)]
        fields = [("n", ">i2"), ("chart_len", ">i4"), ("chart", ">i8"), ("time_len", ">i4"),
                  ("time", ">i8"), ("name_len", ">i4"), ("name", f"S{len(text[0][1])}"),
                  ("version_len", ">i4"), ("version", ">i4"), ("alias_len", ">i4"),
                  ("alias", f"S{len(text[1][1])}"), ("pred_len", ">i4"), ("pred", f"S{len(word)}"),
                  ("proba_len", ">i4"), ("proba", ">f8")]  # fmt: skip
        out = np.zeros(len(rows), dtype=np.dtype(fields))
        out["n"], out["chart_len"], out["time_len"], out["version_len"] = 7, 8, 8, 4
        out["proba_len"], out["version"] = 8, version
        for field, value in text:
            out[f"{field}_len"], out[field] = len(value), value
        out["chart"] = self.chart_id[rows]
        out["time"] = (self.time[rows].astype("datetime64[us]") - POSTGRES_EPOCH).astype(np.int64)
        out["proba"] = self.proba[rows]
        return out


def emptied(url: str, table: str) -> Callable[[], None]:
    def empty() -> None:
        with connect(url) as conn:
            conn.execute(f"TRUNCATE {table} CASCADE")  # a name of this file
            conn.commit()

    return empty


def backtests(bench: Bench, served: ServedModel, matrix: FeatureMatrix, repeat: int) -> None:
    url, charts = bench.url, bench.chart_ids
    with connect(url) as conn:
        conn.execute(PLAIN_TABLE)
        conn.commit()
    t = timed([
        ("baseline", lambda: baseline_backtest(url, served, matrix),
         emptied(url, "bench_plain_signals")),
        ("into_signals", lambda: baseline_into_signals(url, served, matrix),
         emptied(url, "signals")),
        ("backtest", lambda: backtest(url, served, charts), emptied(url, "signals")),
        ("again", lambda: backtest(url, served, charts), lambda: None),
    ], repeat)  # fmt: skip
    t |= timed([("no_gin", lambda: backtest(url, served, charts), without_gin(url))], 1)
    restore_gin(url)
    report_backtests(t, len(charts), bench.bars, repeat)


GIN_DEFINITION: list[str] = []


def without_gin(url: str) -> Callable[[], None]:
    def drop() -> None:
        with connect(url) as conn:
            row = conn.execute("SELECT pg_get_indexdef(%s::regclass)", (GIN,)).fetchone()
            GIN_DEFINITION.append(row[0])  # type: ignore[index]
            conn.execute(f"DROP INDEX {GIN}")
            conn.execute("TRUNCATE signals CASCADE")
            conn.commit()

    return drop


def restore_gin(url: str) -> None:
    with connect(url) as conn:
        conn.execute("TRUNCATE signals CASCADE")
        conn.execute(GIN_DEFINITION.pop())  # as the server gave it
        conn.commit()


def report_backtests(t: dict[str, float], charts: int, bars: int, repeat: int) -> None:
    print(f"backtest of {charts:,} charts x {bars:,} bars (medians of {repeat}):")
    lines = [
        ("LightGBM predict in memory + one binary COPY", t["baseline"], None),
        ("the same, the COPY into `signals` (its keys)", t["into_signals"], None),
        ("candlelab backtest (every index)", t["backtest"], t["into_signals"]),
        ("  the same, to the plain table's baseline", t["backtest"], t["baseline"]),
        ("candlelab backtest without the GIN index", t["no_gin"], t["into_signals"]),
        ("the backtest again (every signal there: merged)", t["again"], t["into_signals"]),
    ]
    for name, seconds, base in lines:
        shown = f"{seconds / base:7.2f} {mark(seconds / base, 1.3)} (target ≤ 1.3)" if base else ""
        print(f"  {name:46s} {seconds:8.2f} s  {shown}")
    print(f"  the GIN index costs {t['backtest'] - t['no_gin']:.2f} s of the backtest; "
          f"signals' keys, indexes and trigger {t['into_signals'] - t['baseline']:.2f} s of "
          "the COPY baseline")  # fmt: skip


def run(url: str, args: argparse.Namespace, scratch: Path) -> None:
    started = time.perf_counter()
    bench = set_up(url, (scratch / "artifacts").as_uri(), args.charts, args.bars, args.rounds)
    matrix = read_features(url, bench.stored)
    print(f"set-up: {args.charts} charts x {args.bars} bars, features, a model of "
          f"{args.rounds} trees per class: {time.perf_counter() - started:.1f} s")  # fmt: skip
    if not args.backtest_only:
        predictions(bench, matrix, args.requests, scratch, args.mlflow_one_thread)
    with connect(url) as conn:
        served = ModelShelf(url, bench.artifacts).served(conn, ModelReference(MODEL))
    if not args.backtest_only:
        lightgbm_one_row(served, matrix, args.requests)
    backtests(bench, served, matrix, args.repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=300)  # the newest bar: one a chart
    parser.add_argument("--bars", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--backtest-only", action="store_true", help="skip the HTTP part")
    parser.add_argument(
        "--mlflow-one-thread",
        action="store_true",
        help="MLflow's server with OMP_NUM_THREADS=1 (as candlelab predicts a row)",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("bench_serving", Path(scratch)) as url,
    ):
        run(url, args, Path(scratch))


if __name__ == "__main__":
    main()
