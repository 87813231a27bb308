"""model_performance kept incrementally: every window once, then only those whose signals
were written or judged since; a re-judged signal's windows computed again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from candlelab.monitoring.comparison import champion_challenger, comparisons
from candlelab.monitoring.figures import WindowSignals, figures
from candlelab.monitoring.performance import report, update
from candlelab.store.database import Connection
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.training_data import store

START = datetime(2026, 1, 5, 14, tzinfo=UTC)  # a Monday


def add_signal(conn: Connection, chart_id: int, time: datetime, rr: float | None, *,
               version: int = 1, latency: float = 5.0, proba: float = 0.6) -> None:  # fmt: skip
    """A judged signal as `candlelab evaluate` leaves it (no result: judged without a trade)."""
    conn.execute(
        "INSERT INTO signals (chart_id, time, model_name, model_version, pred, proba, latency_ms,"
        " outcome, outcome_reason, realized_rr, evaluated_at) VALUES (%s, %s, 'm', %s, %s, %s,"
        " %s, %s, %s, %s, now())",
        (chart_id, time, version, "long" if rr is not None else "none", proba, latency,
         None if rr is None else ("win" if rr > 0 else "loss"),
         "not traded" if rr is None else None, rr),
    )  # fmt: skip


@pytest.fixture
def charts(conn: Connection) -> tuple[int, int]:
    first, second = (store(conn, s, clean_bars(i, 30)) for i, s in enumerate(("BTCUSDT", "ETH")))
    for day in range(40):  # 2026-01-05 … 2026-02-13: six weeks, two months
        add_signal(conn, first, START + timedelta(days=day), (1.5, -1.0, None, 0.5)[day % 4],
                   latency=float(day))  # fmt: skip
        if day % 3 == 0:
            add_signal(conn, second, START + timedelta(days=day, hours=1), -1.0 + day / 20)
    conn.commit()
    return first, second


def rows(conn: Connection, where: str = "TRUE") -> dict[tuple[Any, ...], dict[str, Any]]:
    cursor = conn.execute(f"SELECT * FROM model_performance WHERE {where}")  # test-only SQL
    names = [d.name for d in cursor.description or ()]
    found = [dict(zip(names, row, strict=True)) for row in cursor]
    return {(r["chart_id"], r["window_kind"], r["window_start"]): r for r in found}


def test_every_window_is_stored_once_with_the_figures_of_its_signals(
    conn: Connection, charts: tuple[int, int]
) -> None:
    first, second = charts
    written = update(conn)
    conn.commit()
    stored = rows(conn)
    days = 40 + 14  # per chart
    weeks, months = 6 + 6, 2 + 2
    overall = 40 + 6 + 2 + 1  # the second chart's days are days of the first's
    assert written == len(stored) == days + weeks + months + 2 + overall
    signals = conn.execute("SELECT time, realized_rr, proba, latency_ms FROM signals "
                           "ORDER BY time").fetchall()  # fmt: skip
    times = np.array([np.datetime64(t.replace(tzinfo=None), "us") for t, *_ in signals])
    columns = list(zip(*signals, strict=True))[1:]
    window = WindowSignals(times, *(np.array([np.nan if v is None else v for v in col],
                                             dtype=np.float64) for col in columns))  # fmt: skip
    expected = figures(window)
    everything = stored[(None, "all", datetime(1970, 1, 1, tzinfo=UTC))]
    assert everything["reliability"] == expected.pop("reliability")
    for name, value in expected.items():
        assert everything[name] == pytest.approx(value), name
    week = stored[(first, "week", START.replace(hour=0))]
    assert (week["signals"], week["trades"]) == (7, 5)  # two of seven judged without a trade
    assert week["window_end"] - week["window_start"] == timedelta(days=7)
    assert stored[(second, "month", datetime(2026, 2, 1, tzinfo=UTC))]["trades"] == 5

    assert update(conn) == 0  # nothing new: nothing computed


def test_a_new_signal_and_a_rejudged_one_recompute_only_their_windows(
    conn: Connection, charts: tuple[int, int]
) -> None:
    first, _ = charts
    update(conn)
    conn.commit()
    before = rows(conn)
    add_signal(conn, first, START + timedelta(days=39, hours=3), 4.0)  # in the open window
    conn.commit()
    assert update(conn) == 8  # day, week, month and all, of the chart and overall
    conn.commit()
    # A corrected bar voided an old judgement; `candlelab evaluate` judged it again.
    old = START + timedelta(days=1)
    conn.execute("UPDATE signals SET realized_rr = 3.0, outcome = 'win', evaluated_at = now() "
                 "WHERE chart_id = %s AND time = %s", (first, old))  # fmt: skip
    conn.commit()
    assert update(conn) == 8
    conn.commit()
    after = rows(conn)
    changed = {key for key in after if after[key]["computed_at"] != before[key]["computed_at"]}
    monday = START.replace(hour=0)
    assert {(c, k, s.date().isoformat()) for c, k, s in changed} == {
        (chart, kind, start)
        for chart in (first, None)
        for kind, start in (("day", "2026-02-13"), ("week", "2026-02-09"), ("month", "2026-02-01"),
                            ("all", "1970-01-01"), ("day", "2026-01-06"), ("week", "2026-01-05"),
                            ("month", "2026-01-01"))
    }  # fmt: skip
    assert after[(first, "day", monday + timedelta(days=1))]["expectancy_r"] == 3.0
    assert after[(first, "week", monday)]["wins"] == before[(first, "week", monday)]["wins"] + 1


def test_the_report_and_the_comparison_of_champion_and_challenger(
    conn: Connection, charts: tuple[int, int]
) -> None:
    first, _ = charts
    rng = np.random.default_rng(0)
    for i in range(60):
        add_signal(conn, first, START + timedelta(hours=i * 3 + 1), float(rng.normal(0, 1)),
                   version=2)  # fmt: skip
    for alias, version in (("champion", 1), ("challenger", 2)):
        conn.execute("INSERT INTO model_deployments (model_name, alias, version) "
                     "VALUES ('m', %s, %s)", (alias, version))  # fmt: skip
    conn.commit()
    update(conn)
    reports = report(conn, window_kind="week", newest=2)
    assert [(r.model_version, len(r.windows)) for r in reports] == [(1, 2), (2, 2)]
    assert reports[0].overall["trades"] == 30 + 14
    found = champion_challenger(conn, "m")
    assert found is not None
    assert (found.champion, found.challenger) == (1, 2)
    # version 2's trades start on the first day: both sides from then on, 60 and 3 days' worth
    assert found.n_challenger == 60
    assert found.verdict.startswith(("not enough evidence", "challenger"))
    assert [c.model_name for c in comparisons(conn)] == ["m"]
    conn.execute("INSERT INTO model_deployments (model_name, alias, version, action) "
                 "VALUES ('m', 'challenger', NULL, 'retire')")  # fmt: skip
    assert comparisons(conn) == []
