"""Monitoring at the issue's sizing, against baselines measured in the same run.

    python bench/bench_monitoring.py [--charts 100] [--signals-per-chart 1000]
        [--drift-rows 100000] [--features 50] [--metric-signals 1000000]
        [--versions 100] [--repeat 1] [--parts judging,drift,metrics]
        [--parts evidently --evidently-rows 100000]

The full size of issue 17: `--charts 1000 --drift-rows 1000000 --metric-signals 10000000`
(1,000 signals per chart: 1,000,000 signals judged). Runs on BENCH_DATABASE_URL's server
if set, else on a fresh embedded server in a temporary home.

- judging: `charts` daily random walks (bench_candles_io's), a signal on each of the
  first `signals-per-chart` bars of every chart (long, short or none at random) by one
  model version whose target is the ready `triple-barrier`; `candlelab evaluate`'s path
  (`plan` + `evaluate`: read the pending signals and the candles, judge, write) against
  the baseline: the same judgements (`judgement.judge`, vectorised NumPy) from the same
  arrays already in memory, written by one binary COPY into a plain table keyed by
  signal id. Before each round every judgement is dropped (not timed);
- drift: `drift-rows` training rows and as many serving rows of `features` columns (the
  last fifth of every serving column shifted by half a standard deviation): the
  reference stored as training stores it (from a sample of 200,000 rows), read back
  (`version_references`), and `feature_measure` per column, against a NumPy baseline
  that computes both samples' decile bins, PSI (NaN a bin of its own) and a sorted
  two-sample KS per feature from scratch;
- `/metrics`: `versions` model versions sharing `metric-signals` judged signals an hour
  apart on 100 charts (a model serving hourly bars), made by generate_series in the
  server (its time printed), `model_performance` computed by
  `performance.update` (its time printed); the scrape's handler on a kept-open
  connection (the server time of a request: the gauges read and rendered), p50 and
  p99, against one indexed SELECT of the stored aggregates (the floor) and against one
  SELECT computing the same aggregates from the signals (what an exporter without
  `model_performance` would run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from bench_candles_io import make_series, timed
from bench_features import Market
from psycopg.types.json import Jsonb
from servers import bench_database, vacuum

from candlelab.models.signals import BulkWriter, SignalBatch
from candlelab.monitoring.drift import Thresholds, feature_measure, version_references
from candlelab.monitoring.judgement import STORED, ChartBars, judge
from candlelab.monitoring.outcomes import evaluate, plan
from candlelab.store.binary_copy import CopyColumn, binary_copy_buffer
from candlelab.store.database import Connection, connect
from candlelab.training.references import feature_references, record_references, sample_rows
from candlelab.training.targets import TargetDefinition, ready_target

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
MODEL, CLASSES = "bench", ("short", "none", "long")
TARGET = ready_target("triple-barrier")
BASELINE_TABLE = """
CREATE TABLE IF NOT EXISTS outcomes_baseline (
    signal_id bigint PRIMARY KEY, verdict bigint NOT NULL, realized_rr double precision,
    held_bars bigint, mae_r double precision, mfe_r double precision, judged_to timestamptz
)"""


# --- the version a judgement reads its target from ------------------------------------------


def register(conn: Connection, model: str, version: int, target: TargetDefinition) -> None:
    """A version's run and dataset as training records them (what a judgement reads)."""
    conn.execute("INSERT INTO feature_sets (name, version, definition_hash, columns, definition)"
                 " VALUES ('bench', 1, 'bench', '{x}', '{}') ON CONFLICT DO NOTHING")  # fmt: skip
    definition = {"target": {**target.canonical(), "hash": target.version_hash}}
    conn.execute(
        "INSERT INTO datasets (version, feature_set_id, target_hash, definition, chart_ids, rows,"
        " classes, class_counts, ambiguous, candles_digest, label_digest, spans) SELECT %s, id,"
        " %s, %s, '{}', 0, '{short,none,long}', '{}', 0, '', '', '[]' FROM feature_sets"
        " WHERE definition_hash = 'bench'",
        (f"d-{model}-{version}", target.version_hash, Jsonb(definition)))  # fmt: skip
    conn.execute("INSERT INTO training_runs (run_id, model_type, experiment_name, dataset_version,"
                 " status, model_name, model_version) VALUES (%s, 'lightgbm', 'bench', %s, "
                 "'finished', %s, %s)", (f"r-{model}-{version}", f"d-{model}-{version}", model,
                                         version))  # fmt: skip
    conn.commit()


# --- judging ----------------------------------------------------------------------------------


class Judging:
    """The charts, their signals as stored (ids in chart and bar order) and in memory."""

    def __init__(self, conn: Connection, charts: int, per_chart: int) -> None:
        bars = per_chart + TARGET.judgement.horizon + 1
        self.series = make_series(charts, bars)
        self.market = Market(conn, self.series, bars)
        register(conn, MODEL, 1, TARGET)
        rng = np.random.default_rng(5)
        ids = np.array([c.id for c in self.market.charts], dtype=np.int64)
        times = self.series[0]["time"].dt.replace_time_zone(None).to_numpy()[:per_chart]
        batch = SignalBatch(np.repeat(ids, per_chart), np.tile(times, charts),
                            rng.integers(0, 3, charts * per_chart),
                            rng.uniform(0.34, 1, charts * per_chart))  # fmt: skip
        BulkWriter(conn, MODEL, 1, "champion", CLASSES).write(batch)
        conn.commit()
        rows = conn.execute("SELECT id, chart_id, pred FROM signals WHERE model_name = %s "
                            "ORDER BY chart_id, time", (MODEL,)).fetchall()  # fmt: skip
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.sides = np.array([{"short": -1, "none": 0, "long": 1}[r[2]] for r in rows])
        self.per_chart, self.times = per_chart, times

    def bars(self) -> list[ChartBars]:
        """Every chart's bars as the baseline holds them: already in memory."""
        none = np.zeros(0, dtype="M8[us]")
        return [ChartBars(f["time"].dt.replace_time_zone(None).to_numpy().astype("M8[us]"),
                          f["open"].to_numpy(), f["high"].to_numpy(), f["low"].to_numpy(),
                          f["close"].to_numpy(), none)
                for f in self.series]  # fmt: skip


def reset_judgements(conn: Connection) -> None:
    """Every judgement dropped and every chart queued from its first signal (judgements
    cleared by hand), the table vacuumed: each round judges every signal anew."""
    conn.execute("UPDATE signals SET outcome = NULL, outcome_reason = NULL, realized_rr = NULL, "
                 "held_bars = NULL, mae_r = NULL, mfe_r = NULL, judged_to = NULL, "
                 "evaluated_at = NULL WHERE evaluated_at IS NOT NULL")  # fmt: skip
    conn.execute("INSERT INTO outcome_queue (chart_id, model_name, model_version, since) "
                 "SELECT chart_id, model_name, model_version, min(time) FROM signals "
                 "GROUP BY chart_id, model_name, model_version")  # fmt: skip
    conn.commit()
    vacuum(conn, "signals")


def judge_all(url: str) -> int:
    """`candlelab evaluate` without its printing: plan, then every batch of charts."""
    with connect(url) as conn:
        planned = plan(conn)
    return sum(report.judged for report in evaluate(url, planned.charts))


def baseline_judging(conn: Connection, judging: Judging, bars: list[ChartBars]) -> int:
    """The same judgements from the arrays in memory, written by one binary COPY."""
    n, columns = judging.per_chart, []
    for index, chart_bars in enumerate(bars):
        rows = slice(index * n, (index + 1) * n)
        verdicts = judge(chart_bars, judging.times, judging.sides[rows], TARGET.judgement)
        columns.append((judging.ids[rows], verdicts))
    ids = np.concatenate([c[0] for c in columns])
    v = {f: np.concatenate([getattr(c[1], f) for c in columns])
         for f in ("verdict", "realized_rr", "held", "mae", "mfe", "judged_to")}  # fmt: skip
    kept = v["verdict"] < STORED
    copy_columns = [
        CopyColumn("bigint", ids[kept]),
        CopyColumn("bigint", v["verdict"][kept]),
        *(CopyColumn("double precision", v[f][kept], np.isnan(v[f][kept]))
          for f in ("realized_rr",)),
        CopyColumn("bigint", v["held"][kept], v["held"][kept] < 0),
        *(CopyColumn("double precision", v[f][kept], np.isnan(v[f][kept])) for f in ("mae", "mfe")),
        CopyColumn("timestamptz", v["judged_to"][kept], np.isnat(v["judged_to"][kept])),
    ]  # fmt: skip
    with conn.cursor().copy("COPY outcomes_baseline FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(binary_copy_buffer(copy_columns))
    conn.commit()
    return int(kept.sum())


def judged_alike(conn: Connection) -> bool:
    """The stored results equal the baseline's, signal by signal."""
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE s.realized_rr IS DISTINCT FROM b.realized_rr "
        "OR s.held_bars IS DISTINCT FROM b.held_bars OR s.judged_to IS DISTINCT FROM b.judged_to)"
        ", (SELECT count(*) FROM signals WHERE evaluated_at IS NOT NULL) "
        "FROM outcomes_baseline b JOIN signals s ON s.id = b.signal_id"
    ).fetchone()
    conn.commit()
    assert row is not None
    return bool(row[1] == 0 and row[0] == row[2])


def run_judging(url: str, conn: Connection, charts: int, per_chart: int,
                repeat: int) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    conn.execute(BASELINE_TABLE)
    conn.commit()
    judging = Judging(conn, charts, per_chart)
    setup = time.perf_counter() - started
    print(
        f"judging set-up: {charts} charts, {len(judging.ids):,} signals in {setup:.1f} s",
        flush=True,
    )
    in_memory: list[list[ChartBars]] = []

    def before_baseline() -> None:
        conn.execute("TRUNCATE outcomes_baseline")
        conn.commit()
        in_memory[:] = [judging.bars()]

    t = timed([
        ("evaluate", lambda: judge_all(url), lambda: reset_judgements(conn)),
        ("judge_base", lambda: baseline_judging(conn, judging, in_memory[-1]), before_baseline),
    ], repeat)  # fmt: skip
    return t | {"signals": len(judging.ids), "judged_alike": judged_alike(conn)}


# --- drift ------------------------------------------------------------------------------------


def drift_data(rows: int, width: int) -> tuple[Floats, list[Floats]]:
    """The training rows and the serving window, as many: the window's last fifth shifted,
    its columns one array each, as `drift._window_features` reads them."""
    rng = np.random.default_rng(9)
    reference = np.asfortranarray(rng.normal(0, 1, (rows, width)))
    window = rng.normal(0, 1, (rows, width))
    window[-rows // 5 :] += 0.5
    window[rng.random(window.shape) < 0.01] = np.nan
    return reference, [np.ascontiguousarray(window[:, j]) for j in range(width)]


def store_reference(conn: Connection, reference: Floats) -> list[str]:
    """The reference as training stores it: from a sample of the training rows."""
    columns = [f"f{j:02d}" for j in range(reference.shape[1])]
    register(conn, "drift", 1, TARGET)
    sample = reference[sample_rows(np.arange(len(reference)))]
    record_references(conn, "r-drift-1", feature_references(columns, sample))
    conn.commit()
    return columns


def stored_drift(conn: Connection, window: list[Floats]) -> list[float]:
    """The stored references read back, then each column of the window measured."""
    references = version_references(conn, "drift", 1)
    conn.commit()
    limits = Thresholds()
    return [feature_measure(r, window[r.position], limits).psi for r in references]


def baseline_drift(reference: Floats, window: list[Floats]) -> list[tuple[float, float]]:
    """From scratch per feature: both samples' decile bins, PSI, and a sorted KS."""
    found = []
    for j, cur_all in enumerate(window):
        ref_all = reference[:, j]
        ref, cur = np.sort(ref_all[~np.isnan(ref_all)]), np.sort(cur_all[~np.isnan(cur_all)])
        edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9)))
        # Ten bins and one for NaN, as the product's PSI has them.
        expected = np.diff(np.concatenate([[0], np.searchsorted(ref, edges), [len(ref)]]))
        actual = np.diff(np.concatenate([[0], np.searchsorted(cur, edges), [len(cur)]]))
        expected = np.append(expected, len(ref_all) - len(ref))
        actual = np.append(actual, len(cur_all) - len(cur))
        e = np.maximum(expected / len(ref_all), 1e-4)
        a = np.maximum(actual / len(cur_all), 1e-4)
        both = np.concatenate([ref, cur])
        ks = np.abs(np.searchsorted(ref, both, "right") / len(ref)
                    - np.searchsorted(cur, both, "right") / len(cur)).max()  # fmt: skip
        found.append((float(np.sum((a - e) * np.log(a / e))), float(ks)))
    return found


def run_drift(conn: Connection, rows: int, width: int, repeat: int) -> dict[str, Any]:
    reference, window = drift_data(rows, width)
    store_reference(conn, reference)
    ours, base = stored_drift(conn, window), baseline_drift(reference, window)
    t = timed([
        ("drift_base", lambda: baseline_drift(reference, window), lambda: None),
        ("drift", lambda: stored_drift(conn, window), lambda: None),
    ], repeat)  # fmt: skip
    close = bool(np.allclose(ours, [psi for psi, _ in base], atol=0.01))
    return t | {"drift_rows": rows, "drift_width": width, "psi_alike": close}


EVIDENTLY_HOME = Path.home() / ".cache" / "candlelab" / "bench-evidently"
EVIDENTLY = ("evidently==0.7.23", "pandas<3")  # it does not import beside pandas 3


def evidently_python() -> Path:
    """The Python of the throw-away environment holding Evidently, made on first use."""
    python = EVIDENTLY_HOME / "bin" / "python"
    if not python.exists():
        print(f"installing {' '.join(EVIDENTLY)} into {EVIDENTLY_HOME} (this benchmark only)",
              flush=True)  # fmt: skip
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_HOME)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY], check=True)
    return python


def run_evidently(rows: int, width: int, scratch: Path) -> dict[str, Any]:
    """Evidently's DataDriftPreset on the first `rows` rows of the drift part's data (its
    reference and window as two frames), in its own environment (`drift_peers.py`), and
    the from-scratch baseline on the same rows, in this process."""
    reference, window = drift_data(rows, width)
    np.save(scratch / "reference.npy", reference)
    np.save(scratch / "window.npy", np.column_stack(window))
    peer = Path(__file__).with_name("drift_peers.py")
    done = subprocess.run([str(evidently_python()), str(peer), str(scratch / "reference.npy"),
                           str(scratch / "window.npy")], capture_output=True, text=True,
                          check=True)  # fmt: skip
    found = json.loads(done.stdout.splitlines()[-1])
    started = time.perf_counter()
    baseline_drift(reference, window)
    return {"evidently": found, "evidently_base": time.perf_counter() - started}


# --- /metrics ---------------------------------------------------------------------------------

METRIC_CHARTS = 100  # hourly signals on 100 charts: ~42 days of windows per version at 10M
METRIC_SIGNALS = """
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba,
                     latency_ms, outcome, realized_rr, evaluated_at, judged_to, held_bars)
SELECT c.id, timestamptz '2001-01-01' + b * interval '1 hour', 'metric' || (v %% 10),
       v / 10 + 1, 'champion', (ARRAY['short','none','long'])[1 + (b + v) %% 3],
       0.34 + 0.66 * random(), 1 + 20 * random(),
       (ARRAY['win','loss','timeout'])[1 + (b * 7 + v) %% 3], random() * 3 - 1, now(),
       timestamptz '2001-01-01' + (b + 20) * interval '1 hour', 5
FROM generate_series(0, %(versions)s - 1) AS v,
     (SELECT id FROM charts ORDER BY id LIMIT %(charts)s) AS c,
     generate_series(0, %(bars)s - 1) AS b
"""
METRIC_DRIFT_CHECKS = """
INSERT INTO drift_checks (model_name, model_version, window_start, window_end, signals,
                          worst_feature, worst_feature_psi, prediction_psi)
SELECT DISTINCT model_name, model_version, now() - interval '7 days', now(), 1000, 'f00',
       0.3, 0.05
FROM signals WHERE model_name LIKE 'metric%'
"""
AGGREGATES = """
SELECT model_name, model_version, count(*), avg((realized_rr > 0)::int), avg(realized_rr),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms)
FROM signals WHERE model_name LIKE 'metric%%'
GROUP BY model_name, model_version
"""
STORED_AGGREGATES = """
SELECT model_name, model_version, signals, win_rate, expectancy_r, latency_p50_ms,
       latency_p95_ms, latency_p99_ms
FROM model_performance WHERE chart_id IS NULL AND window_kind = 'all'
"""


def metric_signals(conn: Connection, signals: int, versions: int) -> tuple[float, float]:
    """`signals` judged signals of `versions` versions (generate_series, in the server), and
    model_performance computed; the two times."""
    from candlelab.monitoring.performance import update

    found = conn.execute("SELECT count(*) FROM charts").fetchone()
    charts = min(METRIC_CHARTS, int(found[0]) if found else 0)
    if not charts:
        raise SystemExit("the metrics part puts its signals on the judging part's charts: "
                         "run it with --parts judging,metrics")  # fmt: skip
    per_version = signals // versions
    bars = max(1, per_version // charts)
    started = time.perf_counter()
    conn.execute(METRIC_SIGNALS, {"versions": versions, "charts": charts, "bars": bars})
    conn.execute(METRIC_DRIFT_CHECKS)  # every version checked: the scrape joins them all
    conn.commit()
    vacuum(conn, "signals")
    made = time.perf_counter() - started
    started = time.perf_counter()
    update(conn)
    conn.commit()
    return made, time.perf_counter() - started


def scrape(conn: Connection) -> bytes:
    from candlelab.web.metrics import metrics

    body = metrics(conn).body
    conn.commit()
    return bytes(body)


def latencies(steps: dict[str, Any], calls: int) -> dict[str, list[float]]:
    """Each step `calls` times, taking turns call by call; ms."""
    found: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(calls):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            found[name].append((time.perf_counter() - started) * 1000)
    return found


def run_metrics(conn: Connection, signals: int, versions: int) -> dict[str, Any]:
    made, updated = metric_signals(conn, signals, versions)
    total = int(conn.execute("SELECT count(*) FROM signals").fetchone()[0])  # type: ignore[index]
    conn.commit()
    print(f"/metrics set-up: {total:,} signals in the table; {signals:,} of {versions} "
          f"versions made in {made:.1f} s, model_performance in {updated:.1f} s")  # fmt: skip

    def select(query: str) -> None:
        conn.execute(query).fetchall()
        conn.commit()

    fast = latencies({"scrape": lambda: scrape(conn),
                      "stored": lambda: select(STORED_AGGREGATES)}, 200)  # fmt: skip
    slow = latencies({"aggregates": lambda: select(AGGREGATES)}, 3)
    lines = scrape(conn).decode().count("candlelab_model_signals{")
    return {"latency": fast | slow, "metric_versions": lines, "metric_signals": total}


# --- the report -------------------------------------------------------------------------------


def report(t: dict[str, Any], repeat: int) -> None:
    print(f"medians of {repeat}")
    lines = []
    if "evaluate" in t:
        lines += [(f"baseline: judge {t['signals']:,} in memory + COPY", t["judge_base"], None, ""),
                  ("candlelab evaluate (plan + evaluate)", t["evaluate"], t["judge_base"],
                   "≤ 1.5")]  # fmt: skip
    if "drift" in t:
        lines += [(f"baseline: drift from scratch, {t['drift_width']} x {t['drift_rows']:,}",
                   t["drift_base"], None, ""),
                  ("drift against the stored reference", t["drift"], t["drift_base"],
                   "≤ 0.25")]  # fmt: skip
    print(f"{'what':50} {'time':>9}  {'ratio':>6}  target")
    for name, seconds, base, target in lines:
        shown = f"{seconds / base:6.3f}" if base else ""
        print(f"{name:50} {seconds:7.2f} s  {shown:>6}  {target}")
    if "latency" in t:
        report_metrics(t)
    if "evidently" in t:
        report_evidently(t)
    for name in ("judged_alike", "psi_alike"):
        if name in t:
            print(f"check {name}: {'yes' if t[name] else 'NO'}")


def report_evidently(t: dict[str, Any]) -> None:
    found, base = t["evidently"], t["evidently_base"]
    print(f"Evidently {found['evidently']} DataDriftPreset, {found['columns']} x "
          f"{found['rows']:,} rows: {found['seconds']:.2f} s ({found['drifted']:.0f} columns "
          f"drifted); the from-scratch baseline on the same rows {base:.2f} s: "
          f"{found['seconds'] / base:.1f}x")  # fmt: skip


def report_metrics(t: dict[str, Any]) -> None:
    ms = {name: (np.percentile(v, 50), np.percentile(v, 99)) for name, v in t["latency"].items()}
    print(f"/metrics, {t['metric_versions']} versions, {t['metric_signals']:,} signals:")
    for name, text in (("scrape", "scrape handler (gauges read + rendered)"),
                       ("stored", "baseline: indexed SELECT of the stored figures"),
                       ("aggregates", "baseline: SELECT computing them from signals")):  # fmt: skip
        p50, p99 = ms[name]
        print(f"  {text:50} p50 {p50:9.2f} ms  p99 {p99:9.2f} ms")
    scrape_p50 = ms["scrape"][0]
    print(f"  ratio p50 to the stored SELECT {scrape_p50 / ms['stored'][0]:.2f}, to computing "
          f"{scrape_p50 / ms['aggregates'][0]:.5f} (target: under 50 ms)")  # fmt: skip


def run(url: str, args: argparse.Namespace, scratch: Path) -> None:
    parts, t = set(args.parts.split(",")), dict[str, Any]()
    with connect(url) as conn:
        if "judging" in parts:
            t |= run_judging(url, conn, args.charts, args.signals_per_chart, args.repeat)
        if "drift" in parts:
            t |= run_drift(conn, args.drift_rows, args.features, args.repeat)
        if "metrics" in parts:
            t |= run_metrics(conn, args.metric_signals, args.versions)
    if "evidently" in parts:
        t |= run_evidently(args.evidently_rows, args.features, scratch)
    report(t, args.repeat)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--charts", type=int, default=100)
    parser.add_argument("--signals-per-chart", type=int, default=1000)
    parser.add_argument("--drift-rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--metric-signals", type=int, default=1_000_000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--parts",
        default="judging,drift,metrics",
        help="the parts to run, comma-separated (the first three by default; evidently "
        "installs Evidently into a throw-away environment on first use)",
    )
    parser.add_argument("--evidently-rows", type=int, default=100_000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("bench_monitoring", Path(scratch)) as url,
    ):
        run(url, args, Path(scratch))


if __name__ == "__main__":
    main()
