"""`/metrics`: Prometheus's text format, read from the tables at each scrape.

Per model version (labels `model`, `version`), from its overall record in
model_performance (window 'all', every chart: as `candlelab evaluate --report` last left
it): signals, win rate, expectancy in R, latency p50/p95/p99; its open alerts; and from
its latest drift check in drift_checks (`candlelab drift` or the worker's scheduled one),
the PSI of its worst feature and of its predictions, absent for a version never checked.
The open alerts about no version (stale data) are one more gauge. Nothing is kept in the
process: every server process answers the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from candlelab.monitoring.alerts import version_gauges
from candlelab.store.database import Connection
from candlelab.web.pool import Conn

router = APIRouter(tags=["monitoring"])
LABELS = ["model", "version"]
# (column of version_gauges after name and version, metric name, help)
FIGURES = (
    (0, "candlelab_model_signals", "Signals of the model version, every chart."),
    (1, "candlelab_model_win_rate", "Share of the version's trades above 0 R."),
    (2, "candlelab_model_expectancy_r", "The version's mean trade result, in R."),
    (7, "candlelab_model_worst_psi", "PSI of the version's worst feature, latest drift check."),
    (8, "candlelab_model_prediction_psi", "PSI of the version's predictions, latest drift check."),
)
QUANTILES = ((3, "0.5"), (4, "0.95"), (5, "0.99"))
OPEN_ALERTS = 6


class TablesCollector(Collector):
    """The gauges of one scrape, from the tables as they are now."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows, chart_alerts = version_gauges(self.conn)
        yield from (_figure(rows, *figure) for figure in FIGURES)
        yield _latency(rows)
        alerts = GaugeMetricFamily("candlelab_model_open_alerts",
                                   "Open alerts of the model version.", labels=LABELS)  # fmt: skip
        for name, version, *values in rows:
            alerts.add_metric([name, str(version)], values[OPEN_ALERTS])
        yield alerts
        yield GaugeMetricFamily("candlelab_chart_open_alerts",
                                "Open alerts about a chart, not a model (stale data).",
                                value=chart_alerts)  # fmt: skip


def _figure(rows: list[tuple[Any, ...]], column: int, metric: str,
            text: str) -> GaugeMetricFamily:  # fmt: skip
    family = GaugeMetricFamily(metric, text, labels=LABELS)
    for name, version, *values in rows:
        if values[column] is not None:  # not measured (no trade, no record, no check yet)
            family.add_metric([name, str(version)], values[column])
    return family


def _latency(rows: list[tuple[Any, ...]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("candlelab_model_latency_ms",
                               "Prediction latency quantiles of the version's signals, ms.",
                               labels=[*LABELS, "quantile"])  # fmt: skip
    for name, version, *values in rows:
        for column, quantile in QUANTILES:
            if values[column] is not None:
                family.add_metric([name, str(version), quantile], values[column])
    return family


@router.get("/metrics", include_in_schema=False)
def metrics(conn: Conn) -> Response:
    """Prometheus's scrape: every gauge read from the tables now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TablesCollector(conn))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
