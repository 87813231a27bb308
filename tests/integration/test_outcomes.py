"""Signals judged in the database: once, again after a corrected bar, after a gap's backfill,
never twice; the judgement is training's result at that bar."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb

from candlelab.errors import NotFound
from candlelab.market.candles import LOCK_CLASS, Bars
from candlelab.market.quality import utc_datetime
from candlelab.models.prediction import ModelShelf, backtest, served_reference
from candlelab.monitoring.outcomes import EvaluationReport, OutcomeWriter, evaluate, plan
from candlelab.store.database import Connection
from candlelab.training.barriers import Prices
from candlelab.training.target_values import TargetValues, target_values
from candlelab.training.targets import TargetDefinition, target_definition
from tests.fixtures.charts import XNYS_HOURLY, XNYS_TIMES, stored_chart
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.served_models import MODEL, champion, served_market
from tests.fixtures.training_data import store

SIZE = 300
TARGET = target_definition({"name": "tight", "kind": "triple-barrier", "unit": "fraction",
                            "take_profit": 0.01, "stop_loss": 0.005, "horizon": 10})  # fmt: skip


def register(conn: Connection, model: str, version: int, target: TargetDefinition) -> None:
    """A version's run and dataset as training records them: what a judgement reads."""
    conn.execute("INSERT INTO feature_sets (name, version, definition_hash, columns, definition)"
                 " VALUES ('f', 1, 'h', '{x}', '{}') ON CONFLICT DO NOTHING")  # fmt: skip
    definition = {"target": {**target.canonical(), "hash": target.version_hash}}
    conn.execute(
        "INSERT INTO datasets (version, feature_set_id, target_hash, definition, chart_ids, rows,"
        " classes, class_counts, ambiguous, candles_digest, label_digest, spans) SELECT %s, id,"
        " %s, %s, '{}', 0, '{short,none,long}', '{}', 0, '', '', '[]' FROM feature_sets",
        (f"d-{model}-{version}", target.version_hash, Jsonb(definition)))  # fmt: skip
    conn.execute("INSERT INTO training_runs (run_id, model_type, experiment_name, dataset_version,"
                 " status, model_name, model_version) VALUES (%s, 'lightgbm', 'e', %s, "
                 "'finished', %s, %s)", (f"r-{model}-{version}", f"d-{model}-{version}", model,
                                         version))  # fmt: skip
    conn.commit()


def add_signals(conn: Connection, chart_id: int, bars: Bars, rows: list[int], preds: list[str],
                *, model: str = "m", version: int = 1) -> None:  # fmt: skip
    for row, pred in zip(rows, preds, strict=True):
        conn.execute("INSERT INTO signals (chart_id, time, model_name, model_version, pred, proba)"
                     " VALUES (%s, %s, %s, %s, %s, 0.6)",
                     (chart_id, utc_datetime(bars.time[row]), model, version, pred))  # fmt: skip
    conn.commit()


def run(url: str, conn: Connection, **kw: Any) -> EvaluationReport:
    planned = plan(conn, **kw)
    report = planned.waiting
    for done in evaluate(url, planned.charts, kw.get("model_name")):
        report += done
    return report


def judgements(conn: Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT id, time, pred, outcome, outcome_reason, realized_rr, held_bars, mae_r, mfe_r, "
        "judged_to, evaluated_at FROM signals ORDER BY chart_id, time, model_name"
    ).fetchall()


def training_values(bars: Bars, target: TargetDefinition) -> TargetValues:
    ends = np.full(len(bars), len(bars), dtype=np.int64)
    return target_values(target, Prices(bars.open, bars.high, bars.low, bars.close, ends))


@pytest.fixture
def chart(conn: Connection) -> tuple[int, Bars]:
    bars = clean_bars(5, SIZE)
    chart_id = store(conn, "BTCUSDT", bars)
    register(conn, "m", 1, TARGET)
    return chart_id, bars


def test_matured_signals_are_judged_as_training_judges_their_bars_and_only_once(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    rows = list(range(0, SIZE, 3))
    preds = [("long", "short", "none")[i % 3] for i in range(len(rows))]
    add_signals(conn, chart_id, bars, rows, preds)
    report = run(database_url, conn)
    matured = [r for r, p in zip(rows, preds, strict=True) if r + 10 < SIZE and p != "none"]
    assert report.judged == len(matured) > 50
    assert report.counts["not traded"] == len(rows) // 3
    waiting = [r for r, p in zip(rows, preds, strict=True) if r + 10 >= SIZE and p != "none"]
    assert report.counts["not matured"] == len(waiting) == 2
    values = training_values(bars, TARGET)
    for _, time, pred, outcome, reason, rr, held, mae, mfe, judged_to, _ in judgements(conn):
        row = int(np.searchsorted(bars.time, np.datetime64(time.replace(tzinfo=None), "us")))
        if pred == "none":
            assert (outcome, reason, rr, judged_to) == (None, "not traded", None, None)
        elif row + 10 < SIZE:
            assert rr == pytest.approx((values.long if pred == "long" else values.short)[row])
            assert outcome in ("win", "loss", "timeout", "ambiguous")
            assert 1 <= held <= 10
            assert min(mae, mfe) >= 0
            assert judged_to == utc_datetime(bars.time[row + 10])
    first = judgements(conn)
    assert run(database_url, conn).judged == 0
    assert judgements(conn) == first  # evaluated_at included: nothing rewritten


def test_a_corrected_bar_voids_the_judgements_that_read_it_and_they_are_judged_again(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    add_signals(conn, chart_id, bars, list(range(100, 160)), ["long"] * 60)
    run(database_url, conn)
    before = {row[1]: row for row in judgements(conn)}
    corrected = bars.close.copy()
    corrected[140] *= 0.97  # a bad tick fixed by the vendor, 3 % lower
    fixed = replace(bars, close=corrected, low=np.minimum(bars.low, corrected))
    store(conn, "BTCUSDT", fixed, on_conflict="update")
    voided = [row for row in judgements(conn) if row[-1] is None]
    assert {row[1] for row in voided} == {utc_datetime(bars.time[r]) for r in range(130, 160)}
    report = run(database_url, conn)
    assert report.judged == 30
    after = {row[1]: row for row in judgements(conn)}
    values = training_values(fixed, TARGET)
    for r in range(130, 160):
        assert after[utc_datetime(bars.time[r])][5] == pytest.approx(values.long[r])
    assert any(after[t][5] != before[t][5] for t in after if t >= utc_datetime(bars.time[130]))
    assert all(after[t] == before[t] for t in before if t < utc_datetime(bars.time[130]))


def test_a_gap_inside_a_horizon_is_skipped_then_judged_when_a_backfill_brings_the_bar(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    add_signals(conn, chart_id, bars, [100, 110, 121], ["long", "short", "long"])
    conn.execute("DELETE FROM candles WHERE chart_id = %s AND time = %s",
                 (chart_id, utc_datetime(bars.time[115])))  # fmt: skip
    conn.commit()
    report = run(database_url, conn)
    assert (report.judged, report.counts["gap"]) == (2, 1)  # 110 reads 111…120
    assert [row[3] is None for row in judgements(conn)] == [False, True, False]
    store(conn, "BTCUSDT", bars)  # the backfill: the missing bar is added
    # 121 read bars after the one added (an ATR would move): judged again, 100 is kept.
    assert [row[-1] is None for row in judgements(conn)] == [False, True, True]
    report = run(database_url, conn)
    assert (report.judged, report.counts.get("gap", 0)) == (2, 0)
    values = training_values(bars, TARGET)
    assert [row[5] for row in judgements(conn)] == pytest.approx(
        [values.long[100], values.short[110], values.long[121]])  # fmt: skip


def test_a_market_closure_is_no_gap_and_missing_session_hours_are(
    conn: Connection, database_url: str
) -> None:
    """On an hourly NYSE chart lacking three hours of Monday's session, a horizon over
    the night is judged; one over the missing hours is skipped."""
    chart_id = stored_chart(conn, XNYS_TIMES, XNYS_HOURLY)
    conn.commit()
    register(conn, "m", 1, replace(TARGET, judgement=replace(TARGET.judgement, horizon=2)))
    bars = Bars(np.array([np.datetime64(t, "us") for t in XNYS_TIMES]), *(np.zeros(5),) * 5)
    add_signals(conn, chart_id, bars, [0, 1, 2], ["long", "long", "long"])
    report = run(database_url, conn)
    assert (report.judged, report.counts["gap"]) == (2, 1)
    outcomes = [row[3] for row in judgements(conn)]
    assert outcomes[0] is None  # 14:30 reads 18:30, 19:30: 15:30-17:30 are missing
    assert None not in outcomes[1:]  # 19:30 reads 20:30 and Tuesday 14:30: the night is closed


def test_a_chart_being_loaded_is_left_for_the_next_run(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    add_signals(conn, chart_id, bars, [50, 60], ["long", "long"])
    with psycopg.connect(database_url) as loader:
        loader.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, chart_id))
        busy = run(database_url, conn)
    assert (busy.judged, busy.counts["chart busy"]) == (0, 2)
    assert run(database_url, conn).judged == 2


def test_charts_chosen_before_another_run_judged_them_are_judged_by_neither_twice(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    add_signals(conn, chart_id, bars, [50, 60], ["long", "short"])
    chosen = plan(conn).charts
    assert sum(r.judged for r in evaluate(database_url, chosen)) == 2
    late = list(evaluate(database_url, chosen))  # the same charts, nothing pending now
    assert [r.judged for r in late] == [0]


JUDGED = "SELECT chart_id, count(*) FROM signals WHERE outcome IS NOT NULL GROUP BY 1"


def batches_of_one(conn: Connection, chart: tuple[int, Bars], count: int,
                   monkeypatch: pytest.MonkeyPatch) -> list[int]:  # fmt: skip
    """`count` charts (the fixture's first) with two signals each, judged a chart a batch."""
    chart_id, bars = chart
    others = [store(conn, f"C{i}USDT", clean_bars(6 + i, SIZE)) for i in range(count - 1)]
    for each in (chart_id, *others):
        add_signals(conn, each, bars, [50, 60], ["long", "short"])
    monkeypatch.setattr("candlelab.monitoring.outcomes.CHARTS_PER_BATCH", 1)
    return [chart_id, *others]


def test_a_run_stopped_after_a_batch_keeps_it_and_the_next_run_does_the_rest(
    conn: Connection,
    database_url: str,
    chart: tuple[int, Bars],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    charts = batches_of_one(conn, chart, 2, monkeypatch)
    batches = evaluate(database_url, plan(conn).charts)
    assert next(batches).judged == 2
    batches.close()  # Ctrl-C between two batches
    assert conn.execute(JUDGED).fetchall() == [(charts[0], 2)]
    assert (run(database_url, conn).judged, plan(conn).charts) == (2, [])


def test_a_write_that_fails_stops_the_run_and_keeps_only_the_batches_committed_before_it(
    conn: Connection,
    database_url: str,
    chart: tuple[int, Bars],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A batch is written on one connection while the next is judged on the other.
    charts = batches_of_one(conn, chart, 3, monkeypatch)
    calls, write = [], OutcomeWriter.write

    def second_fails(self: OutcomeWriter) -> int:
        calls.append(self)
        if len(calls) == 2:
            raise OSError("no space left on device")
        return write(self)

    monkeypatch.setattr(OutcomeWriter, "write", second_fails)
    batches = evaluate(database_url, plan(conn).charts)
    assert next(batches).judged == 2
    with pytest.raises(OSError, match="no space"):
        next(batches)
    assert conn.execute(JUDGED).fetchall() == [(charts[0], 2)]
    monkeypatch.setattr(OutcomeWriter, "write", write)
    assert (run(database_url, conn).judged, plan(conn).charts) == (4, [])
    assert conn.execute("SELECT count(*) FROM outcome_queue").fetchone() == (0,)


def test_a_version_without_a_recorded_target_is_skipped_and_bad_names_are_refused(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    add_signals(conn, chart_id, bars, [50], ["long"], model="m", version=2)
    add_signals(conn, chart_id, bars, [50], ["long"], model="other", version=1)
    register(conn, "m", 3, TARGET)
    conn.execute("UPDATE datasets SET definition = jsonb_set(definition, '{target,bogus}', '1')"
                 " WHERE version = 'd-m-3'")  # a key this candlelab does not know  # fmt: skip
    add_signals(conn, chart_id, bars, [50], ["long"], model="m", version=3)
    report = run(database_url, conn, model_name="m")
    assert (report.judged, report.counts["no target"]) == (0, 2)
    assert plan(conn, "other", [chart_id]).charts == [chart_id]
    with pytest.raises(NotFound, match="no model 'nope' has signals"):
        plan(conn, "nope")
    with pytest.raises(NotFound, match="no chart 999"):
        plan(conn, None, [999])


def test_a_chart_whose_signals_cannot_have_matured_is_not_read(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    """Its newest bar is less than a horizon after its oldest pending signal: counted as
    not matured without reading its candles; one more bar makes it worth reading."""
    chart_id, bars = chart
    add_signals(conn, chart_id, bars, [SIZE - 11, SIZE - 10, SIZE - 2], ["none"] * 3)
    conn.execute("DELETE FROM candles WHERE chart_id = %s AND time = %s",
                 (chart_id, utc_datetime(bars.time[SIZE - 1])))  # fmt: skip
    conn.commit()
    planned = plan(conn)
    assert (planned.charts, planned.waiting.summary()["skipped"]["not matured"]) == ([], 3)
    assert planned.waiting.charts == 1
    store(conn, "BTCUSDT", bars)
    assert plan(conn).charts == [chart_id]
    assert run(database_url, conn).counts["not traded"] == 3


def test_a_registered_models_backtest_is_judged_with_its_training_target(
    conn: Connection, database_url: str, artifact_root: str
) -> None:
    """A real LightGBM version's backtest signals (features NULL) judged under the
    triple-barrier target its run recorded: training's ATR barriers, result by result."""
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    served = ModelShelf(database_url, artifact_root).served(conn, served_reference(MODEL))
    backtest(database_url, served, [market.chart_id])
    report = run(database_url, conn, model_name=MODEL, chart_ids=[market.chart_id])
    assert (report.judged > 0, report.charts) == (True, 1)
    definition = target_definition({"name": "triple-barrier", "kind": "triple-barrier"})
    values = training_values(market.bars, definition)
    rows = conn.execute("SELECT time, pred, realized_rr FROM signals WHERE outcome IS NOT NULL "
                        "AND features IS NULL").fetchall()  # fmt: skip
    assert len(rows) == report.judged
    times = np.array([np.datetime64(t.replace(tzinfo=None), "us") for t, _, _ in rows])
    at = np.searchsorted(market.bars.time, times)
    expected = [values.long[i] if p == "long" else values.short[i]
                for i, (_, p, _) in zip(at, rows, strict=True)]  # fmt: skip
    assert [rr for _, _, rr in rows] == pytest.approx(expected)
    assert run(database_url, conn).judged == 0


def test_the_queue_finds_what_psql_inserts_and_a_run_clears_rows_left_by_deleted_signals(
    conn: Connection, database_url: str, chart: tuple[int, Bars]
) -> None:
    """A signal inserted judged queues nothing and is voided by a bar it read (its reach
    recorded by the insert); a queue row whose signals are gone is cleared by a run."""
    chart_id, bars = chart
    conn.execute("INSERT INTO signals (chart_id, time, model_name, model_version, pred, outcome,"
                 " realized_rr, evaluated_at, judged_to) VALUES (%s, %s, 'm', 1, 'long', 'win',"
                 " 1, now(), %s)", (chart_id, utc_datetime(bars.time[50]),
                                    utc_datetime(bars.time[60])))  # fmt: skip
    assert conn.execute("SELECT count(*) FROM outcome_queue").fetchone() == (0,)
    conn.execute("SELECT mark_outcomes_stale(%s, %s)", (chart_id, utc_datetime(bars.time[60])))
    conn.commit()
    assert run(database_url, conn).judged == 1
    add_signals(conn, chart_id, bars, [70], ["long"])
    conn.execute("DELETE FROM signals WHERE time = %s", (utc_datetime(bars.time[70]),))
    conn.commit()
    assert plan(conn).charts == [chart_id]
    assert (run(database_url, conn).judged, plan(conn).charts) == (0, [])
    assert conn.execute("SELECT count(*) FROM outcome_queue").fetchone() == (0,)
