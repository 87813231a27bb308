"""Alerts: what the checks found wrong, raised once and kept while the condition holds.

A check (drift, performance, latency, stale data) returns `Found`: the conditions it
found (`Finding`, each with a dedupe key, kind:subject, the subject a model version
`name/version` or a chart `chart/ID`) and the keys it looked at. `record` then, in the
caller's transaction:
- raises each finding: a new alert, or the open alert of its key updated (last_seen,
  severity, figures, message): one open alert per key (a partial unique index);
- the cooldown: a finding whose key's alert was resolved less than `cooldown` ago
  reopens that alert instead (resolved_at cleared; it was delivered already), so a
  condition that flickers is one alert, not one per flicker;
- resolves the open alerts of the keys looked at and not found (and, after a check of
  every model, the open alerts of its kinds not found, whatever their subject);
- keeps each version's drift check as its latest (`drift.store_check`: its worst PSI,
  what /metrics shows), with the alerts it raised.
The rules (`Rules`), each configurable:
- feature_drift: a version's features at PSI alert level, one alert naming them;
  prediction_drift: its predicted classes' PSI at alert level;
- performance: a version's trades whose bar is within `performance_window` (7 days) of
  its newest trade, at least `min_trades` (30) of them: `alert` when their mean result
  is below `min_expectancy` (0 R), `warn` when it is more than `expectancy_margin`
  (0.25 R) below the walk-forward expectancy of its training run;
- latency: the p99 of a version's latencies over `latency_window` (1 day back from its
  newest signal), at least `min_signals` (20) of them, above `latency_p99_ms` (500);
- stale_data: a chart a model serves whose newest bar is overdue. A 24/7 chart: its
  newest bar, closed, is older than `stale_bars` (3) bar lengths. A chart on another
  calendar (an exchange's, the FX week): at least `stale_bars` bars its calendar expects
  after its newest one have closed, so a night or a weekend is not stale. A monthly
  chart (bars of varying length) is not watched.
New alerts are POSTed to a webhook by `deliver` (see there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from candlelab.errors import NotFound
from candlelab.market.calendars import CONTINUOUS, bar_ends
from candlelab.market.charts import Chart, chart
from candlelab.market.quality import missing_bars
from candlelab.market.timeframes import Timeframe
from candlelab.monitoring.drift import DriftReport, VersionDrift, store_check
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
log = logging.getLogger(__name__)
KINDS = ("feature_drift", "prediction_drift", "performance", "latency", "stale_data")


@dataclass(frozen=True)
class Rules:
    cooldown: timedelta = timedelta(hours=1)
    performance_window: timedelta = timedelta(days=7)
    min_trades: int = 30
    min_expectancy: float = 0.0
    expectancy_margin: float = 0.25
    latency_window: timedelta = timedelta(days=1)
    min_signals: int = 20
    latency_p99_ms: float = 500.0
    stale_bars: float = 3.0


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str  # "name/version" or "chart/ID"
    severity: str  # warn / alert
    message: str
    figures: dict[str, Any]
    model_name: str | None = None
    model_version: int | None = None
    chart_id: int | None = None

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}:{self.subject}"


@dataclass
class Found:
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # dedupe keys looked at
    # Kinds looked at everywhere (no --model): an open alert of one not found is resolved,
    # its subject checked or not (a chart no longer served, a version's signals deleted).
    every: list[str] = field(default_factory=list)
    drift: list[VersionDrift] = field(default_factory=list)  # the versions' checks, kept

    def __iadd__(self, other: Found) -> Found:
        self.findings += other.findings
        self.checked += other.checked
        self.every += other.every
        self.drift += other.drift
        return self


@dataclass(frozen=True)
class Recorded:
    raised: list[int]  # new alerts' ids
    updated: list[int]  # open (or reopened) alerts found again
    resolved: list[int]


def version_key(kind: str, name: str, version: int) -> str:
    return f"{kind}:{name}/{version}"


def record(conn: Connection, found: Found, cooldown: timedelta) -> Recorded:
    """Raise, update and resolve alerts for what a check found, in the caller's transaction."""
    raised: list[int] = []
    updated: list[int] = []
    for finding in found.findings:
        alert_id, new = _raise(conn, finding, cooldown)
        (raised if new else updated).append(alert_id)
    keys = [f.dedupe_key for f in found.findings]
    params = {"checked": found.checked, "kinds": found.every, "found": keys}
    resolved = [row[0] for row in conn.execute(QUERIES["resolve"], params)]
    for version in found.drift:
        store_check(conn, version)
    return Recorded(raised, updated, resolved)


def _raise(conn: Connection, finding: Finding, cooldown: timedelta) -> tuple[int, bool]:
    params = {**finding.__dict__, "dedupe_key": finding.dedupe_key,
              "figures": Jsonb(finding.figures), "cooldown": cooldown}  # fmt: skip
    del params["subject"]
    reopened = conn.execute(QUERIES["reopen"], params).fetchone()
    if reopened is not None:
        return int(reopened[0]), False
    row = conn.execute(QUERIES["upsert"], params).fetchone()
    assert row is not None  # an upsert returns its row
    return int(row[0]), bool(row[1])


# The checks -----------------------------------------------------------------------------


def drift_found(report: DriftReport) -> Found:
    """Feature and prediction drift at alert level, per version checked."""
    found = Found(drift=list(report.versions))
    for version in report.versions:
        subject = f"{version.model_name}/{version.model_version}"
        found.checked += [f"feature_drift:{subject}", f"prediction_drift:{subject}"]
        found.findings += _drift_findings(version, subject)
    return found


def _drift_findings(version: VersionDrift, subject: str) -> list[Finding]:
    window = {"window_start": version.window_start.isoformat(),
              "window_end": version.window_end.isoformat(), "signals": version.signals}  # fmt: skip
    name, number = version.model_name, version.model_version
    features = {m.name: round(m.psi, 4) for m in version.measures
                if m.kind == "feature" and m.status == "alert"}  # fmt: skip
    predictions = [m for m in version.measures if m.kind == "prediction" and m.status == "alert"]
    title = f"{version.model_name} v{version.model_version}"
    findings = []
    if features:
        message = f"{title}: features drifted (PSI, worst first): {_names(list(features))}"
        findings.append(Finding("feature_drift", subject, "alert", message,
                                {"psi": features, **window}, name, number))  # fmt: skip
    for m in predictions:
        message = f"{title}: predicted classes drifted, PSI {m.psi:.3f}"
        findings.append(Finding("prediction_drift", subject, "alert", message,
                                {"psi": round(m.psi, 4), **window}, name, number))  # fmt: skip
    return findings


def _names(names: list[str], shown: int = 6) -> str:
    """The worst names; the rest counted (every one is in the alert's figures)."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def performance_found(conn: Connection, model_name: str | None, rules: Rules) -> Found:
    """Versions whose recent trades lose, or fall short of their walk-forward estimate."""
    found = Found()
    params = {"model_name": model_name, "window": rules.performance_window}
    for name, version, trades, mean, estimate in conn.execute(QUERIES["recent_results"], params):
        found.checked.append(version_key("performance", name, version))
        severity = _performance_severity(trades, mean, estimate, rules)
        if severity is not None:
            results = (trades, mean, estimate)
            found.findings.append(_performance_finding(name, version, severity, results, rules))
    return found


def _performance_severity(trades: int, mean: float, estimate: float | None,
                          rules: Rules) -> str | None:  # fmt: skip
    if trades < rules.min_trades:
        return None
    if mean < rules.min_expectancy:
        return "alert"
    short = estimate is not None and mean < estimate - rules.expectancy_margin
    return "warn" if short else None


Results = tuple[int, float, float | None]  # trades, their mean in R, walk-forward estimate


def _performance_finding(name: str, version: int, severity: str, results: Results,
                         rules: Rules) -> Finding:  # fmt: skip
    trades, mean, estimate = results
    days = rules.performance_window / timedelta(days=1)
    against = "" if estimate is None else f", walk-forward estimate {estimate:+.3f} R"
    message = (f"{name} v{version}: expectancy {mean:+.3f} R over its last {days:g} days "
               f"({trades} trades){against}")  # fmt: skip
    numbers = {"trades": trades, "expectancy_r": mean, "walk_forward_expectancy_r": estimate,
               "min_expectancy": rules.min_expectancy, "window_days": days}  # fmt: skip
    return Finding("performance", f"{name}/{version}", severity, message, numbers,
                   model_name=name, model_version=version)  # fmt: skip


def latency_found(conn: Connection, model_name: str | None, rules: Rules) -> Found:
    """Versions whose recent p99 latency is over the limit."""
    found = Found()
    params = {"model_name": model_name, "window": rules.latency_window}
    for name, version, count, p99 in conn.execute(QUERIES["recent_latency"], params):
        found.checked.append(version_key("latency", name, version))
        if count >= rules.min_signals and p99 > rules.latency_p99_ms:
            message = (f"{name} v{version}: latency p99 {p99:.0f} ms over "
                       f"{rules.latency_p99_ms:g} ms ({count} signals)")  # fmt: skip
            figures = {"p99_ms": p99, "signals": count, "limit_ms": rules.latency_p99_ms}
            who = {"model_name": name, "model_version": version}
            found.findings.append(
                Finding("latency", f"{name}/{version}", "alert", message, figures, **who)
            )
    return found


def stale_found(conn: Connection, model_name: str | None, rules: Rules,
                now: datetime | None = None) -> Found:  # fmt: skip
    """Charts a model serves whose newest bar is overdue, as of `now` (the database's now()
    unless given): by the clock on a 24/7 chart, by its calendar's sessions on another."""
    found = Found()
    params = {"model_name": model_name, "now": now}
    for chart_id, name, timeframe, calendar, last_bar, at in conn.execute(
        QUERIES["served_charts"], params
    ):
        micros = Timeframe.parse(timeframe).micros
        if micros is None:  # a month's length varies: not watched
            continue
        found.checked.append(f"stale_data:chart/{chart_id}")
        if calendar == CONTINUOUS:
            overdue = _overdue_bars(last_bar, at, timedelta(microseconds=micros))
            stale = overdue > rules.stale_bars
        else:  # the (few) calendar charts: their sessions say which bars were owed
            overdue = float(_closed_since(chart(conn, chart_id), last_bar, at, rules.stale_bars))
            stale = overdue >= rules.stale_bars
        if stale:
            found.findings.append(_stale_finding(chart_id, name, last_bar, overdue, calendar))
    return found


def _overdue_bars(last_bar: datetime, now: datetime, bar: timedelta) -> float:
    """Bar lengths since the newest bar closed (its open plus one bar)."""
    return (now - last_bar - bar) / bar


# How far past a calendar chart's newest bar its owed bars are counted: enough for
# `stale_bars` bars of any length over the longest closure (a few days), and no more, so
# a minute chart silent for years is not gridded bar by bar at every check.
LOOKAHEAD = timedelta(days=14)


def _closed_since(served: Chart, last_bar: datetime, now: datetime, stale_bars: float) -> int:
    """How many bars the chart's calendar expects after its newest one have closed by
    `now` (counted over at most LOOKAHEAD plus `stale_bars` bar lengths past it): none
    over a night or a weekend, when its sessions expect no bar."""
    length = timedelta(microseconds=Timeframe.parse(served.timeframe).micros or 0)
    newest = _utc64(last_bar)
    until = _utc64(min(now, last_bar + LOOKAHEAD + (stale_bars + 1) * length))
    if until <= newest:
        return 0
    owed = missing_bars(served, np.array([newest]), newest, until)
    if not len(owed):
        return 0
    closes = bar_ends(Timeframe.parse(served.timeframe), served.timezone, owed)
    return int(np.count_nonzero(closes <= until))


def _utc64(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def _stale_finding(chart_id: int, name: str, last_bar: datetime, overdue: float,
                   calendar: str) -> Finding:  # fmt: skip
    by = "" if calendar == CONTINUOUS else f" by the {calendar} calendar"
    message = f"chart {name} ({chart_id}): newest bar {last_bar:%Y-%m-%d %H:%M}, " \
              f"{overdue:.1f} bars overdue{by}"  # fmt: skip
    figures = {"last_bar": last_bar.isoformat(), "overdue_bars": round(overdue, 2),
               "calendar": calendar}  # fmt: skip
    return Finding("stale_data", f"chart/{chart_id}", "alert", message, figures,
                   chart_id=chart_id)  # fmt: skip


def evaluation_found(conn: Connection, model_name: str | None, rules: Rules) -> Found:
    """What `candlelab evaluate --report` checks: performance, latency, stale data."""
    found = performance_found(conn, model_name, rules)
    found += latency_found(conn, model_name, rules)
    found += stale_found(conn, model_name, rules)
    if model_name is None:
        found.every += ["performance", "latency", "stale_data"]
    return found


# Listing and acknowledging --------------------------------------------------------------


def alerts(conn: Connection, everything: bool = False) -> list[dict[str, Any]]:
    """Open alerts (or every one), newest seen first, as dicts of their columns."""
    cursor = conn.cursor(row_factory=dict_row)
    return cursor.execute(QUERIES["list_alerts"], {"all": everything}).fetchall()


def acknowledge(conn: Connection, alert_id: int, by: str) -> None:
    if conn.execute(QUERIES["acknowledge"], {"id": alert_id, "by": by}).fetchone() is None:
        raise NotFound(f"alert {alert_id} does not exist")


# The webhook ----------------------------------------------------------------------------

ATTEMPTS = 4  # per round: the first try and three retries
ROUNDS = 5  # rounds (runs) before an alert's delivery is given up
ROUND_WAIT = timedelta(minutes=5)  # before the second round, doubled for each later one
TIMEOUT = 5.0  # seconds per attempt
Sleep = Callable[[float], None]


def backoff(attempt: int, first: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1, 2, ...): first, 2 first, 4 first."""
    return first * float(2 ** (attempt - 1))


def round_wait(attempts_made: int) -> timedelta:
    """How long a failed round waits before the next: 5 min, 10, 20, ... by rounds done."""
    return ROUND_WAIT * int(2 ** max(attempts_made // ATTEMPTS - 1, 0))


def deliver(conn: Connection, url: str, first_wait: float = 1.0,
            sleep: Sleep = time.sleep) -> tuple[int, int]:  # fmt: skip
    """POST each open alert the webhook has not received, as JSON: up to ATTEMPTS tries
    with exponential backoff (`first_wait` s, doubled), then the row records the error
    and when the next round (a later run) may try. Never raises for the webhook's sake;
    each alert's outcome is committed at once. Returns (delivered, failed)."""
    pending = alerts_to_deliver(conn)
    done = failed = 0
    with httpx.Client(timeout=TIMEOUT) as client:
        for alert in pending:
            tries, error = _post(client, url, alert, first_wait, sleep)
            _note(conn, alert, tries, error)
            done, failed = (done + 1, failed) if error is None else (done, failed + 1)
    return done, failed


def alerts_to_deliver(conn: Connection) -> list[dict[str, Any]]:
    cursor = conn.cursor(row_factory=dict_row)
    return cursor.execute(QUERIES["undelivered"], {"max_attempts": ATTEMPTS * ROUNDS}).fetchall()


def payload(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as the webhook receives it: its columns, times in ISO 8601."""
    shown = {k: v for k, v in alert.items() if k != "delivery_attempts"}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in shown.items()}


def _post(client: httpx.Client, url: str, alert: dict[str, Any], first_wait: float,
          sleep: Sleep) -> tuple[int, str | None]:  # fmt: skip
    error = None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            client.post(url, json=payload(alert)).raise_for_status()
            return attempt, None
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("alert %s: webhook attempt %d failed: %s", alert["id"], attempt, error)
        if attempt < ATTEMPTS:
            sleep(backoff(attempt, first_wait))
    return ATTEMPTS, error


def _note(conn: Connection, alert: dict[str, Any], tries: int, error: str | None) -> None:
    if error is None:
        conn.execute(QUERIES["delivered"], {"id": alert["id"], "attempts": tries})
    else:
        wait = round_wait(alert["delivery_attempts"] + tries)
        params = {"id": alert["id"], "attempts": tries, "error": error, "wait": wait}
        conn.execute(QUERIES["delivery_failed"], params)
    conn.commit()


def version_gauges(conn: Connection) -> tuple[list[tuple[Any, ...]], int]:
    """Per model version: name, version, signals, win rate, expectancy, latency p50/p95/p99
    (its 'all' record over every chart), open alerts, and its latest drift check's worst
    feature PSI and prediction PSI (NULL if never checked); and the open alerts about no
    version (stale data)."""
    rows = conn.execute(QUERIES["version_gauges"]).fetchall()
    chart_level = conn.execute(QUERIES["chart_alerts"]).fetchone()
    return rows, int(chart_level[0]) if chart_level else 0
