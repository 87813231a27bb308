"""From `promote` to the new version serving, in a running server, and requests while
the champion moves.

    python bench/serving_rollout.py [--charts 3] [--bars 3000] [--clients 8] [--seconds 30]

The set-up: `charts` daily random walks (bench_candles_io's), a small feature set built
on them, two versions of one LightGBM model (version 1 champion), and the web app served
by uvicorn on 127.0.0.1 (in a thread; its serving sets watched as `candlelab serve`
watches them). Each request asks for a bar not asked before where it can (cycling over
the predictable bars), so its signal is predicted, not read back.

- (a) switch: seconds from `promote` (or `rollback`) returning to the first HTTP response
  whose signal is the new version's, one client asking bar after bar; goal ≤ 5 s; with
  LISTEN/NOTIFY, then with NOTIFY lost (the server not listening: polling alone);
- (b) load: `clients` concurrent HTTP clients for `seconds` while the champion moves
  twice: failed requests (goal 0), and whether every returned signal is the row of
  `signals` it names with the same version (one version each).
Runs on BENCH_DATABASE_URL's server if set, else on a fresh embedded server.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from bench_candles_io import make_series
from bench_features import Market
from servers import bench_database

from candlelab.features.definitions import feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import read_features
from candlelab.features.registry import StoredSet
from candlelab.models.deployments import promote, rollback
from candlelab.store.database import connect
from candlelab.training.datasets import DatasetRequest
from candlelab.training.folds import FoldPlan
from candlelab.training.targets import ready_target
from candlelab.training.tracking import Tracking, upgrade_tracking_schema
from candlelab.training.trainer import TrainingRequest, train
from candlelab.web.app import create_app
from candlelab.web.serving import serving

MODEL = "rollout"
FEATURES = feature_set({"name": "rollout", "features": [
    {"name": "rsi_14", "talib": "RSI", "timeperiod": 14},
    {"name": "ret_5", "expr": "close / ref(close, 5) - 1"},
    {"name": "range_1", "expr": "(high - low) / close"},
]})  # fmt: skip
MOVES = (("promote 2", 2, 2), ("rollback to 1", None, 1))  # (what, version moved to, served)
SWITCH_TIMEOUT = 60.0  # seconds before a switch counts as never seen
Bar = tuple[int, str]  # chart id, bar open (ISO)


def prepared(url: str, artifacts: str, charts: int, bars: int) -> list[Bar]:
    """The market, two versions of MODEL (1 champion); the bars a request can ask for."""
    upgrade_tracking_schema(url, artifacts)
    with connect(url) as conn:
        market = Market(conn, make_series(charts, bars), bars)
        ids = [c.id for c in market.charts]
        stored = build_features(conn, FEATURES, ids).feature_set
        conn.commit()
    for rounds in (20, 10):
        data = DatasetRequest(stored, ready_target("triple-barrier"), tuple(ids))
        request = TrainingRequest(data, params={"num_boost_round": rounds}, folds=FoldPlan(2),
                                  model_name=MODEL)  # fmt: skip
        train(url, artifacts, request)
    move(url, artifacts, 1)
    return predictable(url, stored, ids)


def predictable(url: str, stored: StoredSet, charts: list[int]) -> list[Bar]:
    """Every (chart, bar) with a complete feature vector, shuffled."""
    matrix = read_features(url, stored, charts)
    complete = ~np.isnan(matrix.values).any(axis=1)
    times = matrix.time[complete].astype("datetime64[us]").astype(datetime)
    bars = [(int(c), t.replace(tzinfo=UTC).isoformat())
            for c, t in zip(matrix.chart_id[complete], times, strict=True)]  # fmt: skip
    order = np.random.default_rng(5).permutation(len(bars))
    return [bars[i] for i in order]


@dataclass(frozen=True)
class Rollout:
    """The server's base URL, the database, MLflow's artifact root, the bars to ask for."""

    site: str
    url: str
    artifacts: str
    bars: Iterator[Bar]

    def move(self, version: int | None) -> None:
        move(self.url, self.artifacts, version)


def move(url: str, artifacts: str, version: int | None) -> None:
    """Promote `version` to champion (None: roll the champion back), as the CLI does."""
    tracking = Tracking(url, artifacts)
    with connect(url) as conn:
        if version is None:
            rollback(conn, tracking, MODEL, who="bench")
        else:
            promote(conn, tracking, MODEL, version, "champion", reason="bench", who="bench")


def ask(http: httpx.Client, bar: Bar) -> httpx.Response:
    return http.post(f"/api/models/{MODEL}/predict", json={"chart_id": bar[0], "time": bar[1]})


def switch_seconds(run: Rollout, version: int | None, expected: int) -> float:
    """Seconds from the move returning to the first response by version `expected`."""
    with httpx.Client(base_url=run.site, timeout=30) as http:
        ask(http, next(run.bars)).raise_for_status()  # the connection is open before the clock
        run.move(version)
        started = time.perf_counter()
        while time.perf_counter() - started < SWITCH_TIMEOUT:
            answer = ask(http, next(run.bars))
            answer.raise_for_status()
            if answer.json()["model_version"] == expected:
                return time.perf_counter() - started
    return float("inf")


@dataclass
class Load:
    """What the clients of the load run saw: (signal id, version) of each answer, and
    each failure (a status or an exception)."""

    answers: list[tuple[int, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, site: str, bars: Iterator[Bar], until: float) -> None:
        with httpx.Client(base_url=site, timeout=30) as http:
            while time.monotonic() < until:
                with self.lock:
                    bar = next(bars)
                try:
                    answer = ask(http, bar)
                    self.record(answer)
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.failures.append(repr(exc))

    def record(self, answer: httpx.Response) -> None:
        with self.lock:
            if answer.status_code != 200:
                self.failures.append(f"{answer.status_code} {answer.text[:200]}")
            else:
                body = answer.json()
                self.answers.append((body["id"], body["model_version"]))


def load_run(run: Rollout, clients: int, seconds: float) -> Load:
    """`clients` threads asking for `seconds`, the champion moved at a third and at two
    thirds of the run (to version 2, then rolled back)."""
    load, started = Load(), time.monotonic()
    threads = [threading.Thread(target=load.client, args=(run.site, run.bars, started + seconds))
               for _ in range(clients)]  # fmt: skip
    for thread in threads:
        thread.start()
    for at, version in ((seconds / 3, 2), (2 * seconds / 3, None)):
        time.sleep(max(0.0, started + at - time.monotonic()))
        run.move(version)
    for thread in threads:
        thread.join()
    return load


def attributed(url: str, load: Load) -> tuple[bool, Counter[int]]:
    """Whether each answer is the stored signal it names, with the same version; how many
    answers each version gave."""
    ids = [signal_id for signal_id, _ in load.answers]
    with connect(url) as conn:
        found = conn.execute("SELECT id, model_version FROM signals WHERE id = ANY(%s)", (ids,))
        rows: dict[int, int] = dict(found.fetchall())
    same = all(rows.get(signal_id) == version for signal_id, version in load.answers)
    return same, Counter(version for _, version in load.answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=3)
    parser.add_argument("--bars", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("candlelab_bench_rollout", Path(scratch)) as url,
    ):
        artifacts = (Path(scratch) / "artifacts").as_uri()
        bars = itertools.cycle(prepared(url, artifacts, args.charts, args.bars))
        print("(a) from the move returning to the first prediction by the new version (goal ≤ 5 s)")
        for listen in (True, False):
            app = create_app(url, artifact_location=artifacts)
            app.state.models.servings.listen = listen  # False: NOTIFY lost, polling alone
            with serving(app) as site:
                switches(Rollout(site, url, artifacts, bars), listen)
        with serving(create_app(url, artifact_location=artifacts)) as site:
            loaded(Rollout(site, url, artifacts, bars), args)


def switches(run: Rollout, listen: bool) -> None:
    how = "LISTEN/NOTIFY" if listen else "polling alone (no LISTEN)"
    for what, version, expected in MOVES:
        print(f"  {how:26s} {what:14s} {switch_seconds(run, version, expected):6.2f} s")


def loaded(run: Rollout, args: argparse.Namespace) -> None:
    load = load_run(run, args.clients, args.seconds)
    same, versions = attributed(run.url, load)
    total = len(load.answers) + len(load.failures)
    print(f"(b) {args.clients} clients for {args.seconds:g} s while the champion moves twice")
    print(f"  requests {total:,} ({total / args.seconds:.0f}/s), failed {len(load.failures)} "
          f"(goal 0), answers by version {dict(sorted(versions.items()))}")  # fmt: skip
    print(f"  every answer the stored signal of exactly its version: {'yes' if same else 'NO'}")
    for failure in load.failures[:5]:
        print(f"  failure: {failure}")


if __name__ == "__main__":
    main()
