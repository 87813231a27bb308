"""Training from the database at the issue's sizing, against baselines in the same run.

    python bench/bench_training.py [--charts 1000] [--bars 5000] [--rounds 10] [--repeat 1]
    python bench/bench_training.py --matrix-only --pairs 5   # the set-up, then the pairs

The data set: `charts` daily random walks of `bars` bars (bench_candles_io's), the bundled
`core` set built on them, the ready `triple-barrier` target. Runs on BENCH_DATABASE_URL's
server if set, else on a fresh embedded server in a temporary home.

- data preparation: the pipeline a user runs today (export the candles to CSV, read them
  with pandas, compute the same features per chart, compute the same targets, each
  chart's put in place in one training matrix and target vector) against
  `candlelab train`'s (`trainer.checked_plan`: features from the store, targets, folds:
  everything before the fit);
- the training matrix (`assemble_dataset`: features + targets) against reading the
  feature matrix alone (`read_features`, in the training matrix's float32); both this
  and the preparation as medians of the rotation and as the median ratio of `--pairs`
  pairs, each step after a pause (`settled_pairs`); both warm (the
  target values kept beside the feature blocks by an earlier run) and cold (none kept:
  the first run of a target, which computes and keeps them);
- the fit: candlelab's (`Learner`: one binned Dataset of every row, the fit on a subset)
  against LightGBM's own `lgb.train` on the same NumPy arrays; then every walk-forward
  fold plus the final fit against one fit on all rows;
- `candlelab train` end to end as a user runs it (a process of its own), with its peak
  memory against the size of the feature matrix.
The fits use `--rounds` trees per class, not a real run's 200, so the run ends in minutes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from bench_candles_io import make_series, timed
from bench_features import DAILY, Market
from servers import bench_database

from candlelab.features.computation import ChartBars, compute
from candlelab.features.definitions import bundled_feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import read_features
from candlelab.features.registry import StoredSet
from candlelab.store.database import connect
from candlelab.store.urls import libpq_url
from candlelab.training.barriers import Prices
from candlelab.training.datasets import DatasetRequest, assemble_dataset
from candlelab.training.estimators import MATRIX, Learner
from candlelab.training.folds import FoldPlan
from candlelab.training.target_values import target_values
from candlelab.training.targets import ready_target
from candlelab.training.tracking import upgrade_tracking_schema
from candlelab.training.trainer import TrainingRequest, checked_plan

FOLDS = 3
SETTLE = 3.0  # seconds before each step of a pair (see settled_pairs)
PRICES = ("open", "high", "low", "close", "volume")


def baseline_preparation(url: str, scratch: Path) -> int:
    """Export to CSV, read with pandas, features and targets per chart, each chart's put in
    place in the training matrix and its target vector (allocated once, as a careful user
    would: what LightGBM is then given); rows prepared."""
    path = scratch / "candles.csv"
    with connect(url) as conn, path.open("wb") as out:
        copy_sql = (
            "COPY (SELECT * FROM candles ORDER BY chart_id, time) TO STDOUT (FORMAT CSV, HEADER)"
        )
        with conn.cursor().copy(copy_sql) as copy:
            for chunk in copy:
                out.write(chunk)
    frame = pd.read_csv(path, parse_dates=["time"])
    features, target, rows = bundled_feature_set("core"), ready_target("triple-barrier"), 0
    x = np.empty((len(frame), len(features.columns)))
    y = np.empty(len(frame))
    in_place = 0.0  # the matrix's share, reported apart
    for _, chart in frame.groupby("chart_id", sort=False):
        time_ = chart["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("M8[us]")
        columns = {
            c: chart[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")
        }
        values = compute(features, ChartBars(time_, columns, DAILY, "UTC", "24/7"))
        ids = np.full(len(chart), 1, dtype=np.int64)
        prices = Prices.of(ids, columns["open"], columns["high"], columns["low"], columns["close"])
        y_chart = target_values(target, prices).y
        started = time.perf_counter()
        x[rows : rows + len(values)] = values
        y[rows : rows + len(values)] = y_chart
        in_place += time.perf_counter() - started
        rows += len(values)
    MATRIX_TIMES.append(in_place)
    return rows


MATRIX_TIMES: list[float] = []  # each baseline run's seconds putting charts in the matrix


def fits(url: str, request: TrainingRequest, rounds: int, repeat: int) -> dict[str, float]:
    """candlelab's fit and its folds against LightGBM's own fit on the same arrays; the
    two single fits take turns, medians of `repeat` (a fit is the step the shared
    machine's load sways most: LightGBM's threads wait on each other)."""
    import lightgbm as lgb

    plan = checked_plan(url, request)
    x, y, taught = plan.x, plan.y, plan.dataset.taught
    x_taught, y_taught = x[taught], y[taught]
    settings = {k: v for k, v in plan.spec.settings.items() if k not in ("class_weight", "max_bin")}
    del settings["num_boost_round"]
    params = {**settings, "objective": "multiclass", "num_class": 3, "verbosity": -1,
              "deterministic": True, "force_row_wise": True}  # fmt: skip
    out = {"rows": float(len(taught)), "width": float(x.shape[1])}
    out |= timed([
        ("lightgbm", lambda: lgb.train(params, lgb.Dataset(x_taught, label=y_taught,
                                                           params={"verbosity": -1}), rounds),
         lambda: None),
        ("ours", lambda: Learner(plan.spec, x, y).fit(taught), lambda: None),
    ], repeat)  # fmt: skip
    started = time.perf_counter()
    learner = Learner(plan.spec, x, y)
    for fold in plan.folds:
        learner.fit(fold.train)
    learner.fit(taught)
    out["folds"] = time.perf_counter() - started
    return out


def train_process(url: str, scratch: Path, rounds: int) -> tuple[float, float]:
    """`candlelab train` as a process of its own: wall time and peak resident memory (GB)."""
    env = {**os.environ, "DATABASE_URL": libpq_url(url),
           "CANDLELAB_ARTIFACT_ROOT": (scratch / "artifacts").as_uri()}  # fmt: skip
    command = [sys.executable, "-m", "candlelab", "train", "--features", "core", "--target",
               "triple-barrier", "--folds", str(FOLDS), "--param", f"num_boost_round={rounds}",
               "--json"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"candlelab train failed: {done.stderr}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1e6


def run(url: str, args: argparse.Namespace) -> None:
    charts, bars, rounds, repeat = args.charts, args.bars, args.rounds, args.repeat
    with connect(url) as conn, tempfile.TemporaryDirectory() as scratch:
        upgrade_tracking_schema(url, (Path(scratch) / "artifacts").as_uri())
        started = time.perf_counter()
        Market(conn, make_series(charts, bars), bars)
        stored = build_features(conn, bundled_feature_set("core")).feature_set
        print(f"set-up: {charts} charts x {bars} bars ingested and built in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        chart_ids = tuple(sorted(r[0] for r in conn.execute("SELECT id FROM charts")))
        data = DatasetRequest(stored, ready_target("triple-barrier"), chart_ids)
        request = TrainingRequest(data, params={"num_boost_round": rounds},
                                  folds=FoldPlan(folds=FOLDS))  # fmt: skip
        if not args.matrix_only:
            t = _measured(url, Path(scratch), stored, request, rounds=rounds, repeat=repeat)
            report(t, repeat)
        if args.pairs:
            settled_pairs(url, Path(scratch), stored, request, args.pairs)


def settled_pairs(url: str, scratch: Path, stored: StoredSet, request: TrainingRequest,
                  pairs: int) -> None:  # fmt: skip
    """Each ratio again, step against its baseline pair by pair, the first of a pair
    alternating, each step after SETTLE seconds idle. Here much of a step is the first
    touch of its output's memory (2.5 GB at 5M rows), and what that costs depends on how
    long ago the last step freed its own: back to back, a read right after a read took
    2.3-3.0 s, right after `assemble_dataset` 1.8-1.9 s (1,000 charts, 2026-12-06), so the
    rotation's medians compare steps under unequal conditions. After a pause every step
    pays it in full, as `candlelab train` does in a process of its own."""
    assemble_dataset(url, request.data)  # the targets kept
    compared = [
        ("training matrix over the feature read", "≤ 1.3",
         ("read_features", lambda: read_features(url, stored, dtype=MATRIX)),
         ("assemble_dataset", lambda: assemble_dataset(url, request.data))),
        ("preparation over the baseline's", "≤ 0.2",
         ("baseline", lambda: baseline_preparation(url, scratch)),
         ("checked_plan", lambda: checked_plan(url, request))),
    ]  # fmt: skip
    for title, target, base, step in compared:
        ratios = [_settled_pair(base, step, turn) for turn in range(pairs)]
        print(f"{title}, {pairs} pairs after a pause: median ratio "
              f"{statistics.median(ratios):.3f} (from {min(ratios):.3f} to {max(ratios):.3f}), "
              f"target {target}")  # fmt: skip


Named = tuple[str, Callable[[], object]]


def _settled_pair(base: Named, step: Named, turn: int) -> float:
    took: dict[str, float] = {}
    for name, run in (base, step) if turn % 2 == 0 else (step, base):
        time.sleep(SETTLE)
        started = time.perf_counter()
        run()
        took[name] = time.perf_counter() - started
    ratio = took[step[0]] / took[base[0]]
    print(f"  pair {turn + 1}: {base[0]} {took[base[0]]:.2f} s, {step[0]} {took[step[0]]:.2f} s, "
          f"ratio {ratio:.3f}")  # fmt: skip
    return ratio


def _measured(url: str, scratch: Path, stored: StoredSet, request: TrainingRequest, *,
              rounds: int, repeat: int) -> dict[str, float]:  # fmt: skip
    """Each step's median; the cold ones start with no target values kept (the first run
    of a target on the charts), the others with them kept (every run after it)."""
    assemble_dataset(url, request.data)  # the targets kept, for the warm steps
    t = timed_apart({
        "baseline": lambda: baseline_preparation(url, scratch),
        "prepare": lambda: checked_plan(url, request),
        "read": lambda: read_features(url, stored, dtype=MATRIX),
        "assemble": lambda: assemble_dataset(url, request.data),
        "prepare_cold": (lambda: forget_targets(url), lambda: checked_plan(url, request)),
        "assemble_cold": (lambda: forget_targets(url),
                          lambda: assemble_dataset(url, request.data)),
    }, repeat)  # fmt: skip
    t["matrix"] = statistics.median(MATRIX_TIMES)
    t |= fits(url, request, rounds, repeat)
    t["train"], t["peak_gb"] = train_process(url, scratch, rounds)
    return t


def forget_targets(url: str) -> None:
    """No target values kept: the next training set computes them (and keeps them)."""
    with connect(url) as conn:
        conn.execute("DELETE FROM target_blocks")


Step = Callable[[], object] | tuple[Callable[[], object], Callable[[], object]]


def timed_apart(steps: dict[str, Step], repeat: int) -> dict[str, float]:
    """The median time of each step (a pair: an untimed set-up, then the step). Every
    round starts with the first step (the baseline), then the others in an order turned
    by one each round, so that each follows the baseline once in every len(steps) - 1
    rounds.

    Here (a virtual machine that hands freed memory back to its host), the step right
    after the baseline took 2-4 s more whichever it was (on 1,000 charts on the local
    PostgreSQL 15: the feature read 5.67 s right after it, 2.51 s after another step;
    `assemble_dataset` 5.93 s against 3.91 s): in a fixed order that cost fell on one
    step every round. (A process forked per step paid it as well, and deadlocked on a
    lock of polars' threads held at the fork.)"""
    (first, run_first), *others = steps.items()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for turn in range(repeat):
        at = turn % len(others) if others else 0
        for name, step in [(first, run_first), *others[at:], *others[:at]]:
            set_up, timed_step = step if isinstance(step, tuple) else (lambda: None, step)
            set_up()
            started = time.perf_counter()
            timed_step()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def report(t: dict[str, float], repeat: int) -> None:
    kind = np.dtype(MATRIX)
    matrix_gb = t["rows"] * t["width"] * kind.itemsize / 1e9
    print(f"{int(t['rows']):,} taught rows x {int(t['width'])} features ({matrix_gb:.2f} GB of "
          f"{kind.name}); preparation and single fits: medians of {repeat}")  # fmt: skip
    ends = (t["baseline"] + t["lightgbm"], t["prepare"] + t["ours"])
    lines = [
        ("baseline: CSV + pandas + features + targets + matrix", t["baseline"], None, ""),
        ("  of which putting each chart in the matrix (median)", t["matrix"], None, ""),
        ("candlelab train's preparation (checked_plan)", t["prepare"], t["baseline"],
         "≤ 0.2 to baseline"),
        ("  the same, cold (targets computed and kept)", t["prepare_cold"], t["baseline"],
         "≤ 0.2 to baseline"),
        ("read_features alone", t["read"], None, ""),
        ("training matrix (assemble_dataset)", t["assemble"], t["read"],
         "≤ 1.3 to read_features"),
        ("  the same, cold (targets computed and kept)", t["assemble_cold"], t["read"],
         "≤ 1.3 to read_features"),
        ("LightGBM's own fit on the same arrays", t["lightgbm"], None, ""),
        ("candlelab's fit (one binning, a subset)", t["ours"], t["lightgbm"],
         "≤ 1.1 to LightGBM's"),
        (f"{FOLDS} folds + final fit (one binning)", t["folds"], t["ours"],
         "(to one fit on all rows)"),
        ("end to end: baseline preparation + LightGBM fit", ends[0], None, ""),
        ("end to end: candlelab's preparation + fit", ends[1], ends[0], "(same settings)"),
        ("`candlelab train` process (folds, MLflow, registry)", t["train"], None, ""),
    ]  # fmt: skip
    print(f"{'what':54} {'time':>9}  {'ratio':>6}  target")
    for name, seconds, base, target in lines:
        shown = f"{seconds / base:6.3f}" if base else ""
        print(f"{name:54} {seconds:7.2f} s  {shown:>6}  {target}")
    print(f"peak memory of `candlelab train`: {t['peak_gb']:.2f} GB, "
          f"{t['peak_gb'] / matrix_gb:.2f} x the feature matrix")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charts", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--pairs",
        type=int,
        default=7,
        help="read_features / assemble_dataset pairs after the rest (0: none)",
    )
    parser.add_argument("--matrix-only", action="store_true",
                        help="the set-up and the pairs alone")  # fmt: skip
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("bench_training", Path(scratch)) as url,
    ):
        run(url, args)


if __name__ == "__main__":
    main()
