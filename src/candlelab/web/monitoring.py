"""A model version's record in service, in the browser and over the API: its result curve
and drawdown, win rate and expectancy by week, calibration and latency, its features'
drift, its open alerts (acknowledged here), and champion against challenger.

Everything is read through the modules that own it: the windows `candlelab evaluate
--report` stored in model_performance (`performance.report`), the drift of the version's
newest served week (`drift.drift`, computed on request as `candlelab drift` does: drift
is not stored), the alerts table (`alerts.alerts`, `alerts.acknowledge`) and the
comparison (`comparison.champion_challenger`). Nothing is recomputed here: the result
curve is the day windows' results added up (a day's result is its trades times its
expectancy), so its deepest drawdown is the one the 'all' window stores.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from candlelab.errors import NotFound
from candlelab.models.deployments import ModelState, VersionState
from candlelab.monitoring.alerts import acknowledge, alerts
from candlelab.monitoring.comparison import Comparison, champion_challenger
from candlelab.monitoring.drift import PSI_ALERT, PSI_WARN, WINDOW, Measure, drift
from candlelab.monitoring.performance import VersionReport, report
from candlelab.store.database import Connection
from candlelab.web.params import Id, Name
from candlelab.web.pool import Conn
from candlelab.web.predictions import NAME

router = APIRouter(tags=["monitoring"])
DAYS = 365  # day windows the result curve shows at most, the newest
WEEKS = 12  # week windows shown, the newest
ORDER = ("champion", "challenger")  # the versions in service shown first, in this order
ModelName = Annotated[str, Path(pattern=rf"^{NAME}$", max_length=100,
                                description="A registered model's name.")]  # fmt: skip
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]


class Day(BaseModel):
    day: datetime
    trades: int
    result_r: float = Field(description="The day's trades' results added up, in R.")
    curve_r: float = Field(description="The results added up to this day, from 0.")
    drawdown_r: float = Field(description="How far the curve is below its peak so far.")


class Drift(BaseModel):
    window_start: datetime | None = None
    window_end: datetime | None = None
    signals: int = 0
    without_features: int = 0
    psi_warn: float = PSI_WARN
    psi_alert: float = PSI_ALERT
    measures: list[Measure] = Field(default_factory=list, description="Worst PSI first.")
    unavailable: str | None = Field(None, description="Why there is nothing to compare.")


class VersionMonitoring(BaseModel):
    model_name: str
    model_version: int
    overall: dict[str, Any] = Field(description="Its 'all' window over every chart; "
                                    "empty before `candlelab evaluate --report`.")  # fmt: skip
    days: list[Day] = Field(description=f"The result curve: its newest {DAYS} day windows.")
    weeks: list[dict[str, Any]] = Field(description=f"Its newest {WEEKS} week windows, "
                                        "oldest first.")  # fmt: skip
    drift: Drift
    alerts: list[dict[str, Any]] = Field(description="Its open alerts not acknowledged.")


class Acknowledgement(BaseModel):
    by: Name = Field(description="Who has seen it.")


@router.get("/api/models/{name}/versions/{version}/monitoring", response_model=VersionMonitoring,
            summary="A model version's record in service")  # fmt: skip
def get_version_monitoring(name: ModelName, version: VersionNumber,
                           conn: Conn) -> VersionMonitoring:  # fmt: skip
    """Its figures over every signal, its result curve by day, its weeks, the drift of its
    newest served week and its open alerts, as `candlelab evaluate --report` and
    `candlelab drift` left or find them."""
    return version_monitoring(conn, name, version)


@router.get("/api/models/{name}/comparison", response_model=Comparison | None,
            summary="Champion against challenger")  # fmt: skip
def get_comparison(name: ModelName, conn: Conn) -> Comparison | None:
    """The challenger's expectancy and win rate minus the champion's, with their block
    bootstrap intervals and the sequential verdict; null unless both aliases name a
    version."""
    return champion_challenger(conn, name)


@router.get("/api/alerts", summary="Open alerts")
def get_alerts(conn: Conn) -> list[dict[str, Any]]:
    """The open alerts, acknowledged or not, newest seen first (`candlelab alerts`)."""
    return alerts(conn)


@router.post("/api/alerts/{alert_id}/acknowledge", status_code=204,
             summary="Acknowledge an alert")  # fmt: skip
def post_acknowledgement(alert_id: Id, body: Acknowledgement, conn: Conn) -> None:
    """Someone has seen it (`candlelab alerts ack`): it stays open while its condition
    holds, and leaves the pages' lists of alerts to see to."""
    acknowledge(conn, alert_id, body.by)
    conn.commit()


def version_monitoring(conn: Connection, name: str, version: int) -> VersionMonitoring:
    daily = _version(report(conn, name, "day", DAYS), version)
    weekly = _version(report(conn, name, "week", WEEKS), version)
    return VersionMonitoring(
        model_name=name, model_version=version, overall=weekly.overall,
        days=result_curve(daily.windows), weeks=weekly.windows[::-1],
        drift=version_drift(conn, name, version), alerts=unseen_alerts(conn, name, version),
    )  # fmt: skip


def _version(reports: list[VersionReport], version: int) -> VersionReport:
    """The version's report; an empty one before its first `evaluate --report`."""
    found = (r for r in reports if r.model_version == version)
    return next(found, VersionReport("", version, {}, []))


def result_curve(days: list[dict[str, Any]]) -> list[Day]:
    """The day windows (newest first) as a curve from 0, oldest first, with its drawdown."""
    curve, peak, shown = 0.0, 0.0, []
    for window in reversed(days):
        result = (window["expectancy_r"] or 0.0) * window["trades"]
        curve += result
        peak = max(peak, curve)
        shown.append(Day(day=window["window_start"], trades=window["trades"], result_r=result,
                         curve_r=curve, drawdown_r=peak - curve))  # fmt: skip
    return shown


def version_drift(conn: Connection, name: str, version: int) -> Drift:
    """Its drift over the WINDOW before its newest served signal, or why there is none."""
    try:
        (found,) = drift(conn, name, version, WINDOW).versions
    except NotFound as exc:
        return Drift(unavailable=str(exc))
    shown = asdict(found)
    del shown["model_name"], shown["model_version"]
    return Drift(**shown)


def unseen_alerts(conn: Connection, name: str | None = None,
                  version: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The open alerts nobody acknowledged: a model's, a version's, or every one."""
    return [a for a in alerts(conn) if a["acknowledged_at"] is None
            and (name is None or a["model_name"] == name)
            and (version is None or a["model_version"] == version)]  # fmt: skip


def in_service(conn: Connection, state: ModelState) -> list[tuple[VersionState, VersionMonitoring]]:
    """The record of each version holding an alias: champion, challenger, then the others."""
    held = [v for v in state.versions if v.aliases]
    held.sort(key=lambda v: (min(_rank(a) for a in v.aliases), v.version))
    return [(v, version_monitoring(conn, state.name, v.version)) for v in held]


def _rank(alias: str) -> int:
    return ORDER.index(alias) if alias in ORDER else len(ORDER)
