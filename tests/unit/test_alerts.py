"""The alert rules that need no database: drift findings, the performance rule, the
webhook's backoff, the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from candlelab.errors import ConfigError
from candlelab.monitoring.alerts import (
    Rules,
    _performance_severity,
    backoff,
    drift_found,
    round_wait,
)
from candlelab.monitoring.drift import DriftReport, Measure, VersionDrift
from candlelab.settings import load_settings

START = datetime(2026, 1, 1, tzinfo=UTC)


def measure(name: str, psi: float, kind: str = "feature") -> Measure:
    status = "alert" if psi >= 0.25 else "warn" if psi >= 0.1 else "ok"
    return Measure(kind, name, psi, 0.1, 0.1, 0.0, 0.0, status)


def version(number: int, *measures: Measure) -> VersionDrift:
    return VersionDrift("m", number, START, START + timedelta(days=7), 500, 0, list(measures))


def test_drift_raises_one_feature_alert_per_version_naming_its_features() -> None:
    report = DriftReport([
        version(1, measure("range_1", 0.9), measure("ret_5", 0.3), measure("rsi", 0.15)),
        version(2, measure("range_1", 0.05), measure("pred", 0.4, "prediction")),
    ])  # fmt: skip
    found = drift_found(report)
    assert found.checked == ["feature_drift:m/1", "prediction_drift:m/1",
                             "feature_drift:m/2", "prediction_drift:m/2"]  # fmt: skip
    features, predictions = found.findings
    assert features.dedupe_key == "feature_drift:m/1"
    assert features.figures["psi"] == {"range_1": 0.9, "ret_5": 0.3}  # not the 'warn' one
    assert "range_1, ret_5" in features.message
    assert (predictions.kind, predictions.model_version) == ("prediction_drift", 2)


def test_a_drift_alert_names_the_six_worst_features_and_counts_the_rest() -> None:
    drifted = [measure(f"f{i}", 1.0 - i / 100) for i in range(9)]
    (features,) = drift_found(DriftReport([version(1, *drifted)])).findings
    assert features.message.endswith("f0, f1, f2, f3, f4, f5 and 3 more")
    assert len(features.figures["psi"]) == 9  # every one in the figures


@pytest.mark.parametrize(
    ("trades", "mean", "estimate", "severity"),
    [
        (29, -1.0, None, None),  # too few trades to say
        (30, -0.01, None, "alert"),  # losing
        (30, 0.2, 0.5, "warn"),  # 0.3 R short of its walk-forward estimate
        (30, 0.3, 0.5, None),  # within the margin
        (30, 0.2, None, None),  # no estimate recorded, not losing
    ],
)
def test_the_performance_rule(trades: int, mean: float, estimate: float | None,
                              severity: str | None) -> None:  # fmt: skip
    assert _performance_severity(trades, mean, estimate, Rules()) == severity


def test_the_webhook_backs_off_exponentially_within_a_run_and_between_runs() -> None:
    assert [backoff(n, 0.5) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    minutes = [round_wait(rounds * 4) / timedelta(minutes=1) for rounds in (1, 2, 3)]
    assert minutes == [5, 10, 20]


def test_the_webhook_setting_is_an_http_url_never_echoed() -> None:
    assert load_settings({"CANDLELAB_ALERT_WEBHOOK": ""}).alert_webhook is None
    with pytest.raises(ConfigError) as refused:
        load_settings({"CANDLELAB_ALERT_WEBHOOK": "ftp://secret@host"})
    assert "secret" not in str(refused.value)
