"""Drift end to end: training records its references, a version serving calm bars is
quiet, the same version serving bars five times as volatile names the range feature; the
latest check recorded is the worst PSI /metrics shows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from candlelab.errors import NotFound
from candlelab.features.materialisation import build_features
from candlelab.market.candles import Bars
from candlelab.models.prediction import ModelShelf, backtest, predict, served_reference
from candlelab.monitoring.alerts import drift_found, record
from candlelab.monitoring.drift import DriftReport, Thresholds, VersionDrift, drift
from candlelab.monitoring.performance_drift import PerformanceDrift, performance_status
from candlelab.store.database import Connection
from candlelab.training.references import SAMPLE_ROWS
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.served_models import BUILT, MODEL, ServedMarket, champion, served_market
from tests.fixtures.training_data import SMALL, opened, store

SERVED = 120  # bars predicted per chart, every STEP-th of its last ones
STEP = 6  # a random walk's RSI over 120 bars in a row is one trend, not its distribution
WINDOW = timedelta(days=60)  # every bar of the charts (800 hourly bars)


def volatile_bars(seed: int, size: int) -> Bars:
    """`clean_bars` with moves and wicks five times as large."""
    calm, rng = clean_bars(seed, size), np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.025, size)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.01, (2, size)))
    return Bars(calm.time, open_, np.maximum(open_, close) * (1 + wick[0]),
                np.minimum(open_, close) * (1 - wick[1]), close, calm.volume)  # fmt: skip


def serve(conn: Connection, database_url: str, artifact_root: str, chart_id: int,
          bars: Bars) -> None:  # fmt: skip
    """The champion asked for SERVED of the chart's built bars, one request each."""
    served = ModelShelf(database_url, artifact_root).served(conn, served_reference(MODEL))
    for i in range(BUILT - SERVED * STEP, BUILT, STEP):
        predict(conn, served, chart_id, time=opened(bars, i))


@pytest.fixture
def market(conn: Connection, database_url: str, artifact_root: str) -> ServedMarket:
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    return market


def test_training_records_each_features_reference_and_the_predictions(
    conn: Connection, market: ServedMarket
) -> None:
    rows = conn.execute(
        "SELECT d.kind, d.name, d.position, d.rows, cardinality(d.edges), d.counts, d.missing, "
        "cardinality(d.quantiles), d.categories, d.std, r.total_samples "
        "FROM drift_references d JOIN training_runs r USING (run_id) "
        "WHERE r.model_name = %s AND r.model_version = 1 ORDER BY d.kind, d.position",
        (MODEL,),
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("feature", "rsi_14", 0), ("feature", "ret_5", 1), ("feature", "range_1", 2),
        ("prediction", "pred", 0)]  # fmt: skip
    taught = rows[0][10]
    assert taught < SAMPLE_ROWS  # so every taught row is counted
    for kind, _, _, counted, edges, counts, missing, quantiles, categories, std, _ in rows:
        assert counted == taught
        assert sum(counts) + missing == taught
        if kind == "feature":
            assert (edges, len(counts), quantiles, categories) == (9, 10, 101, [])
            assert std > 0
        else:
            assert categories == ["short", "none", "long"]
            assert len(counts) == 3


def test_calm_bars_are_quiet_and_volatile_ones_name_the_range_first(
    conn: Connection, database_url: str, artifact_root: str, market: ServedMarket
) -> None:
    serve(conn, database_url, artifact_root, market.chart_id, market.bars)
    calm = drift(conn, MODEL, window=WINDOW)
    assert not calm.drifted, [(m.name, m.psi, m.ks) for m in calm.versions[0].measures]
    (version,) = calm.versions
    assert (version.model_version, version.signals, version.without_features) == (1, SERVED, 0)
    assert {m.name for m in version.measures} == {"rsi_14", "ret_5", "range_1", "pred"}

    bars = volatile_bars(3, BUILT)
    wild = store(conn, "SOLUSDT", bars)
    build_features(conn, SMALL, [wild])
    conn.commit()
    serve(conn, database_url, artifact_root, wild, bars)
    report = drift(conn, MODEL, 1, WINDOW)
    assert report.drifted
    (version,) = report.versions
    assert version.signals == 2 * SERVED
    assert version.measures[0].name == "range_1"  # worst first
    assert "range_1" in version.drifted
    assert "ret_5" in version.drifted
    worst = version.measures[0]
    assert worst.ks is not None
    assert worst.ks > 0.4
    assert worst.wasserstein is not None
    assert worst.wasserstein > 1

    lenient = drift(conn, MODEL, window=WINDOW, thresholds=Thresholds(50, 100))
    assert not lenient.drifted


def test_a_backtests_signals_are_skipped_and_counted(
    conn: Connection, database_url: str, artifact_root: str, market: ServedMarket
) -> None:
    shelf = ModelShelf(database_url, artifact_root)
    served = shelf.served(conn, served_reference(MODEL))
    backtest(database_url, served, [market.other_id])
    with pytest.raises(NotFound, match="no served signals"):
        drift(conn, MODEL)
    serve(conn, database_url, artifact_root, market.chart_id, market.bars)
    (version,) = drift(conn, MODEL, window=WINDOW).versions
    assert version.signals == SERVED
    assert version.without_features > 0


def test_unknown_models_and_versions_without_references_are_refused(
    conn: Connection, database_url: str, artifact_root: str, market: ServedMarket
) -> None:
    with pytest.raises(NotFound, match="no model 'nope'"):
        drift(conn, "nope")
    serve(conn, database_url, artifact_root, market.chart_id, market.bars)
    conn.execute("DELETE FROM drift_references")  # as a run trained before them has
    conn.commit()
    with pytest.raises(NotFound, match="version 1 has no drift reference"):
        drift(conn, MODEL)
    every = drift(conn)
    assert (every.versions, every.unreferenced, every.drifted) == ([], [(MODEL, 1)], False)


ESTIMATE = "SELECT (metrics ->> 'expectancy_r')::float8, (metrics ->> 'hit_rate')::float8 " \
           "FROM training_runs"  # fmt: skip


def performance(report: DriftReport) -> PerformanceDrift:
    found = report.versions[0].performance
    assert found is not None
    return found


def judge_all(conn: Connection, results: str) -> None:
    """Every signal judged with the result `results` (SQL of `id`), as `evaluate` leaves it."""
    conn.execute(f"UPDATE signals SET realized_rr = {results}, evaluated_at = now(), "  # test SQL
                 f"outcome = CASE WHEN {results} > 0 THEN 'win' ELSE 'loss' END")  # fmt: skip
    conn.commit()


def test_the_windows_trades_are_set_against_the_walk_forward_estimate(
    conn: Connection, database_url: str, artifact_root: str, market: ServedMarket
) -> None:
    serve(conn, database_url, artifact_root, market.chart_id, market.bars)
    found = performance(drift(conn, MODEL, window=WINDOW))
    assert (found.trades, found.expectancy_r, found.status) == (0, None, "unknown")

    judge_all(conn, "CASE WHEN id % 4 = 0 THEN 2.0 ELSE -1.0 END")
    ids = [row[0] for row in conn.execute("SELECT id FROM signals")]
    results = [2.0 if i % 4 == 0 else -1.0 for i in ids]
    estimate = conn.execute(ESTIMATE).fetchone()
    assert estimate is not None
    found = performance(drift(conn, MODEL, window=WINDOW))
    assert found.trades == SERVED
    assert found.expectancy_r == pytest.approx(np.mean(results))
    assert found.win_rate == pytest.approx(np.mean(np.array(results) > 0))
    assert (found.estimate_expectancy_r, found.estimate_win_rate) == pytest.approx(estimate)
    assert found.gap_r == pytest.approx(np.mean(results) - estimate[0])
    assert found.status == performance_status(SERVED, float(np.mean(results)), estimate[0])

    judge_all(conn, "-1.0")  # losing every trade: far below any estimate it was promoted on
    losing = drift(conn, MODEL, window=WINDOW)
    assert performance(losing).status == "alert"
    assert losing.versions[0].drifted[-1] == "performance"
    few = drift(conn, MODEL, window=WINDOW, thresholds=Thresholds(min_trades=SERVED + 1))
    assert performance(few).status == "unknown"


def scraped_psi(client: TestClient) -> dict[str, float]:
    """The drift gauges /metrics shows for the served version, by metric name."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {sample.name: sample.value for family in families for sample in family.samples
            if sample.name.endswith("_psi")
            and sample.labels == {"model": MODEL, "version": "1"}}  # fmt: skip


def recorded_check(conn: Connection, window: timedelta) -> VersionDrift:
    """A check of the version, recorded as `candlelab drift` and the worker record it."""
    report = drift(conn, MODEL, 1, window)
    record(conn, drift_found(report), timedelta(hours=1))
    conn.commit()
    (version,) = report.versions
    return version


def test_metrics_show_the_latest_checks_worst_feature_and_prediction_psi(
    conn: Connection, database_url: str, artifact_root: str, market: ServedMarket,
    client: TestClient,
) -> None:  # fmt: skip
    serve(conn, database_url, artifact_root, market.chart_id, market.bars)
    assert scraped_psi(client) == {}  # never checked: no sample, not 0
    for window in (WINDOW, timedelta(days=10)):  # the second check replaces the first
        version = recorded_check(conn, window)
        worst = next(m for m in version.measures if m.kind == "feature")
        (predictions,) = [m for m in version.measures if m.kind == "prediction"]
        expected = {"candlelab_model_worst_psi": worst.psi,
                    "candlelab_model_prediction_psi": predictions.psi}  # fmt: skip
        assert scraped_psi(client) == expected
    rows = conn.execute("SELECT worst_feature, signals FROM drift_checks").fetchall()
    assert rows == [(worst.name, version.signals)]
    assert version.signals < SERVED  # the ten days' window, not the first check's
