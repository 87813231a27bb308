"""Predictions of a real LightGBM model on stored and new bars, logged as signals once."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, LiteralString

import numpy as np
import pytest
from psycopg import pq

from candlelab.errors import NotFound, NotPredictable
from candlelab.features.definitions import bundled_feature_set, feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import latest_vector, read_features
from candlelab.labels.spans import LabelType, NewSpan, add_label_type, create_span
from candlelab.market.charts import chart
from candlelab.market.quality import utc_datetime
from candlelab.models.prediction import (
    ModelShelf,
    ServedModel,
    backtest,
    bar_state,
    bar_vector,
    predict,
    served_reference,
)
from candlelab.models.signals import feature_values
from candlelab.store.database import Connection, connect
from candlelab.training.tracking import Tracking
from tests.fixtures.served_models import BUILT, LATER, MODEL, ServedMarket, champion, served_market
from tests.fixtures.training_data import SMALL

Served = tuple[ServedMarket, ServedModel]


@pytest.fixture
def served(conn: Connection, database_url: str, artifact_root: str) -> Served:
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    shelf = ModelShelf(database_url, artifact_root)
    return market, shelf.served(conn, served_reference(MODEL))


@pytest.fixture
def served_core(conn: Connection, database_url: str, artifact_root: str) -> Served:
    """The served market with the bundled set `core` built, the model trained on it."""
    market = served_market(conn, bundled_feature_set("core"))
    champion(database_url, artifact_root, market)
    shelf = ModelShelf(database_url, artifact_root)
    return market, shelf.served(conn, served_reference(MODEL))


def label_bars(conn: Connection, chart_id: int, first: datetime, last: datetime) -> None:
    """An accepted span `up` over the bars from `first` to `last`."""
    up = add_label_type(conn, LabelType("up", "#0a0", direction=1))
    create_span(conn, NewSpan(chart_id, up, first, last))
    conn.commit()


def signal_count(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) FROM signals").fetchone()
    assert row is not None
    return int(row[0])


def test_a_bare_name_is_the_champion_and_a_repeated_request_writes_nothing(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    assert (model.alias, model.model.version, model.model.classes) == (
        "champion", 1, ("short", "none", "long"))  # fmt: skip
    first = predict(conn, model, market.other_id)
    newest = latest_vector(conn, market.stored, market.other_id)
    assert newest is not None
    assert first.new
    assert first.time == newest[0]
    assert first.pred in model.model.classes
    assert 0 < first.proba <= 1
    assert first.features is not None
    assert sorted(first.features) == sorted(market.stored.columns)  # jsonb orders its keys
    assert first.latency_ms is not None
    assert first.latency_ms > 0
    again = predict(conn, model, market.other_id)
    assert not again.new
    assert again.id == first.id
    assert again.latency_ms == first.latency_ms
    assert signal_count(conn) == 1


def test_the_signal_is_the_models_output_on_the_stored_vector(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    matrix = read_features(database_url, market.stored, [market.other_id])
    bar = 500
    at = utc_datetime(matrix.time[bar])
    label_bars(conn, market.other_id, at - timedelta(hours=2), at + timedelta(hours=2))
    signal = predict(conn, model, market.other_id,
                     time=utc_datetime(matrix.time[bar]))  # fmt: skip
    proba = model.model.fitted.predict(matrix.values[bar : bar + 1])[0]
    assert signal.pred == model.model.classes[int(proba.argmax())]
    assert signal.proba == pytest.approx(float(proba.max()), abs=1e-12)
    assert signal.features == feature_values(matrix.columns, matrix.values[bar])
    assert signal.alias == "champion"
    assert signal.label == "up"
    assert signal.model_name == MODEL


def test_each_stored_bars_vector_is_read_with_the_signal_in_one_query(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    matrix = read_features(database_url, market.stored, [market.other_id])
    for row, opens in enumerate(matrix.time[:-1]):  # the bar found in its block's times
        state = bar_state(conn, model, market.other_id, utc_datetime(opens))
        assert state.signal is None
        np.testing.assert_array_equal(state.at_bar, matrix.values[row])  # NaN as NaN
    newest = bar_state(conn, model, market.other_id, utc_datetime(matrix.time[-1]))
    assert newest.at_bar is None  # the newest bar's is `latest`, read anyway
    assert newest.latest is not None
    np.testing.assert_array_equal(newest.latest[1], matrix.values[-1])
    between = utc_datetime(matrix.time[10]) + timedelta(minutes=30)
    assert bar_state(conn, model, market.other_id, between).at_bar is None
    signal = predict(conn, model, market.other_id, time=utc_datetime(matrix.time[500]))
    found = bar_state(conn, model, market.other_id, utc_datetime(matrix.time[500])).signal
    assert found is not None
    assert (found.id, found.pred, found.new) == (signal.id, signal.pred, False)


def test_a_bar_not_materialised_yet_is_computed_as_the_build_then_stores_it(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    newest = utc_datetime(market.bars.time[BUILT + LATER - 1])
    stored_before = latest_vector(conn, market.stored, market.chart_id)
    assert stored_before is not None
    assert stored_before[0] < newest
    signal = predict(conn, model, market.chart_id)
    assert signal.time == newest
    computed = bar_vector(conn, model, chart(conn, market.chart_id), newest)
    conn.commit()
    build_features(conn, SMALL, [market.chart_id])
    conn.commit()
    stored = latest_vector(conn, market.stored, market.chart_id)
    assert stored is not None
    assert stored[0] == newest
    # Recursive indicators started `history` bars back agree to 1e-12 relative (by design).
    np.testing.assert_allclose(computed, stored[1], rtol=1e-12, atol=0)
    assert signal.features == pytest.approx(feature_values(market.stored.columns, stored[1]),
                                            rel=1e-12)  # fmt: skip


def test_a_bar_the_chart_lacks_or_before_the_warm_up_is_refused(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    first = utc_datetime(market.bars.time[0])
    with pytest.raises(NotPredictable, match="no bar opening then") as lacking:
        predict(conn, model, market.chart_id, time=first + timedelta(minutes=30))
    assert lacking.value.chart_id == market.chart_id
    with pytest.raises(NotPredictable, match="warm-up of feature set small@1: rsi_14, ret_5"):
        predict(conn, model, market.chart_id, time=first)
    with pytest.raises(NotFound, match="no version holds alias 'challenger'"):
        ModelShelf(database_url, "unused").served(conn, served_reference(f"{MODEL}@challenger"))
    assert signal_count(conn) == 0


def test_a_backtest_writes_every_complete_bar_once_and_keeps_served_signals(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    kept = predict(conn, model, market.other_id)
    at = utc_datetime(read_features(database_url, market.stored, [market.chart_id]).time[100])
    label_bars(conn, market.chart_id, at, at + timedelta(hours=20))
    report = backtest(database_url, model, [market.other_id, market.chart_id])
    matrix = read_features(database_url, market.stored, [market.other_id, market.chart_id])
    complete = ~np.isnan(matrix.values).any(axis=1)
    assert (report.predicted, report.skipped) == (int(complete.sum()), int((~complete).sum()))
    assert report.written == report.predicted - 1 == signal_count(conn) - 1
    row = conn.execute("SELECT latency_ms, features FROM signals WHERE id = %s",
                       (kept.id,)).fetchone()  # fmt: skip
    assert row == (kept.latency_ms, kept.features)
    bar = int(np.flatnonzero(complete)[10])
    pred, proba, features, alias, latency = conn.execute(
        "SELECT pred, proba, features, alias, latency_ms FROM signals "
        "WHERE chart_id = %s AND time = %s",
        (int(matrix.chart_id[bar]), utc_datetime(matrix.time[bar]))).fetchone() or ()  # fmt: skip
    expected = model.model.fitted.predict(matrix.values[bar : bar + 1])[0]
    assert (pred, alias) == (model.model.classes[int(expected.argmax())], "champion")
    assert proba == pytest.approx(float(expected.max()), abs=1e-12)
    assert (features, latency) == (None, None)  # the feature store's vector, nothing served
    assert backtest(database_url, model, [market.other_id]).written == 0
    labelled = conn.execute("SELECT chart_id, count(*) FROM signals WHERE label = 'up' "
                            "GROUP BY chart_id").fetchall()  # fmt: skip
    assert labelled == [(market.chart_id, 21)]


def signal_rows(conn: Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT chart_id, time, model_name, model_version, alias, pred, proba, label, features,"
        " latency_ms, shadow FROM signals ORDER BY chart_id, time").fetchall()  # fmt: skip


def test_a_rerun_writes_nothing_and_a_merge_writes_the_rows_a_direct_insert_does(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    charts = [market.other_id, market.chart_id]
    label_bars(conn, market.other_id, *bars_of(database_url, market, market.other_id, 200, 260))
    direct = backtest(database_url, model, charts)
    rows = signal_rows(conn)
    assert direct.written == len(rows) == direct.predicted
    assert backtest(database_url, model, charts).written == 0
    assert signal_rows(conn) == rows
    conn.execute("DELETE FROM signals")
    conn.commit()
    served_bar = bars_of(database_url, market, market.other_id, 400, 400)[0]
    kept = predict(conn, model, market.other_id, time=served_bar)
    merged = backtest(database_url, model, charts)
    assert merged.written == direct.written - 1
    after = signal_rows(conn)
    assert [r for r in after if r[:2] != (market.other_id, served_bar)] == [
        r for r in rows if r[:2] != (market.other_id, served_bar)]  # fmt: skip
    assert [r[8] for r in after if r[:2] == (market.other_id, served_bar)] == [kept.features]


def test_a_signal_written_during_a_backtests_plain_insert_is_kept_and_the_batch_merged(
    conn: Connection, database_url: str, served: Served
) -> None:
    """A request writes a signal on a bar of the batch after the backtest found none
    there: the backtest's plain insert waits on it, fails on the unique key once it is
    committed, and merges the batch instead of failing."""
    market, model = served
    bar = bars_of(database_url, market, market.other_id, 300, 300)[0]
    racing = connect(database_url)
    racing.execute("INSERT INTO signals (chart_id, time, model_name, model_version, pred, "
                   "latency_ms) VALUES (%s, %s, %s, 1, 'long', 7.0)",
                   (market.other_id, bar, MODEL))  # fmt: skip
    waited = threading.Thread(target=commit_once_waited_on, args=(racing, database_url))
    waited.start()
    report = backtest(database_url, model, [market.other_id])
    waited.join()
    assert racing.info.transaction_status == pq.TransactionStatus.IDLE
    racing.close()
    assert report.written == report.predicted - 1 == signal_count(conn) - 1
    row = conn.execute("SELECT pred, latency_ms FROM signals WHERE chart_id = %s AND time = %s",
                       (market.other_id, bar)).fetchone()  # fmt: skip
    assert row == ("long", 7.0)


def commit_once_waited_on(racing: Connection, url: str) -> None:
    """Commits `racing` once another session waits on its lock (30 s at most)."""
    with connect(url, autocommit=True) as watcher:
        for _ in range(300):
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (racing.info.backend_pid,)).fetchone()  # fmt: skip
            if row and row[0]:
                break
            time.sleep(0.1)
        else:
            racing.rollback()  # nobody waited: the plain insert was not taken, the test fails
            return
    racing.commit()


def bars_of(url: str, market: ServedMarket, chart_id: int, first: int, last: int,
            ) -> tuple[datetime, datetime]:  # fmt: skip
    """The opens of the chart's stored bars number `first` and `last`."""
    times = read_features(url, market.stored, [chart_id]).time
    return utc_datetime(times[first]), utc_datetime(times[last])


def test_a_backtests_labels_are_the_newest_accepted_span_over_each_bar(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    up = add_label_type(conn, LabelType("up", "#0a0", direction=1))
    down = add_label_type(conn, LabelType("down", "#a00", direction=-1))
    spans = [(market.chart_id, up, 100, 300, "accepted"), (market.chart_id, down, 250, 350,
             "accepted"), (market.chart_id, down, 50, 120, "proposed"),
             (market.other_id, down, 300, 301, "accepted")]  # fmt: skip
    for chart_id, label, first, last, status in spans:
        start, end = bars_of(database_url, market, chart_id, first, last)
        create_span(conn, NewSpan(chart_id, label, start, end, status=status))
        conn.commit()
    backtest(database_url, model, [market.other_id, market.chart_id])
    counts = conn.execute("SELECT chart_id, label, count(*) FROM signals WHERE label IS NOT NULL"
                          " GROUP BY 1, 2 ORDER BY 1, 2").fetchall()  # fmt: skip
    assert counts == sorted([(market.chart_id, "up", 150), (market.chart_id, "down", 101),
                             (market.other_id, "down", 2)])  # fmt: skip
    row = conn.execute(LIVE_LABEL_MISMATCHES).fetchone()
    assert row == (0, signal_count(conn))


# Backtest signals whose label differs from the one a live signal's lookup gives its bar.
LIVE_LABEL_MISMATCHES = """
SELECT count(*) FILTER (WHERE g.label IS DISTINCT FROM (
           SELECT t.name FROM span_annotations s
           JOIN span_label_types t ON t.id = s.label_type_id
           WHERE s.chart_id = g.chart_id AND s.status = 'accepted'
             AND s.start_time <= g.time AND s.end_time >= g.time
           ORDER BY s.updated_at DESC, s.id DESC LIMIT 1)), count(*)
FROM signals g"""


def test_a_request_for_a_backtested_bar_answers_with_the_stored_vector(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, model = served
    backtest(database_url, model, [market.other_id])
    matrix = read_features(database_url, market.stored, [market.other_id])
    bar = int(np.flatnonzero(~np.isnan(matrix.values).any(axis=1))[-5])
    signal = predict(conn, model, market.other_id, time=utc_datetime(matrix.time[bar]))
    assert not signal.new
    assert signal.latency_ms is None
    assert signal.features == feature_values(matrix.columns, matrix.values[bar])


def registry_row(conn: Connection, columns: LiteralString) -> tuple[Any, ...]:
    """The columns of `model_registry` for version 1 of the served model."""
    row = conn.execute(
        "SELECT " + columns + " FROM model_registry WHERE model_name = %s AND version = 1",
        (MODEL,),
    ).fetchone()
    assert row is not None
    return row


def test_the_registry_view_and_the_features_index(
    conn: Connection, database_url: str, served: Served
) -> None:
    market, _ = served
    row = registry_row(conn, "model_type, feature_set, feature_columns, aliases, is_active, "
                             "artifact_path")  # fmt: skip
    assert row[:5] == ("lightgbm", "small@1", list(market.stored.columns), ["champion"], True)
    assert str(row[5]).endswith("/model")
    conn.execute("SET enable_seqscan = off")
    plan = conn.execute("EXPLAIN SELECT id FROM signals WHERE features @> '{\"ret_5\": 0.01}'")
    assert "ix_signals_features" in "\n".join(r[0] for r in plan)


def test_the_registry_view_has_the_training_runs_date_metrics_and_parameters(
    conn: Connection, database_url: str, artifact_root: str, served: Served
) -> None:
    """As the run recorded them in MLflow: its parameters (as strings there), its pooled
    metrics (step 0; each fold's are steps 1, 2), trained between its start and end."""
    run_id, trained_at, metrics, hyperparameters = registry_row(
        conn, "run_id, trained_at, metrics, hyperparameters"
    )
    client = Tracking(database_url, artifact_root).client
    run = client.get_run(run_id)
    assert {k: str(v) for k, v in hyperparameters.items()} == run.data.params
    asked = ("model", "model.num_boost_round", "features", "folds")
    assert [hyperparameters[k] for k in asked] == ["lightgbm", 20, "small@1", 2]
    pooled = {key: [m.value for m in client.get_metric_history(run_id, key) if m.step == 0]
              for key in run.data.metrics}  # fmt: skip
    assert {k: [v] for k, v in metrics.items() if v is not None} == pooled
    assert 0 <= metrics["balanced_accuracy"] <= 1
    assert run.info.start_time <= int(trained_at.timestamp() * 1000) <= run.info.end_time


def test_core_on_a_24_7_chart_is_predicted_past_its_warm_up_though_no_vector_is_complete(
    conn: Connection, database_url: str, served_core: Served
) -> None:
    """minutes_to_close has no value on a 24/7 chart (no session closes): a vector with it
    NaN is predicted past the warm-up, stored or computed, and refused inside it."""
    market, model = served_core
    matrix = read_features(database_url, market.stored, [market.other_id])
    missing = np.isnan(matrix.values)
    assert missing[:, matrix.columns.index("minutes_to_close")].all()
    warmup = int(np.flatnonzero(missing.sum(axis=1) == 1)[0])  # the first bar past it
    assert warmup == model.warmups.most
    signal = predict(conn, model, market.other_id, time=utc_datetime(matrix.time[warmup]))
    proba = model.model.fitted.predict(matrix.values[warmup : warmup + 1])[0]
    assert signal.features is not None  # a live signal keeps its vector
    assert (signal.pred, signal.features["minutes_to_close"]) == (
        model.model.classes[int(proba.argmax())], None)  # fmt: skip
    warming = [c for j, c in enumerate(matrix.columns)
               if missing[warmup - 1, j] and not missing[warmup, j]]  # fmt: skip
    refusal = (f"{', '.join(warming)} have no value yet "
               rf"\(bar {warmup} of the chart; the set's warm-up is {warmup} bars\)")  # fmt: skip
    with pytest.raises(NotPredictable, match=refusal):
        predict(conn, model, market.other_id, time=utc_datetime(matrix.time[warmup - 1]))
    newest = predict(conn, model, market.chart_id)  # not materialised: computed
    assert newest.time == utc_datetime(market.bars.time[BUILT + LATER - 1])
    assert newest.features is not None
    assert newest.features["minutes_to_close"] is None


def test_a_backtest_of_core_on_a_24_7_chart_predicts_every_bar_past_the_warm_up(
    conn: Connection, database_url: str, served_core: Served
) -> None:
    market, model = served_core
    warmup = model.warmups.most
    report = backtest(database_url, model, [market.other_id, market.chart_id])
    assert (report.predicted, report.skipped) == (2 * (BUILT - warmup), 2 * warmup)
    assert report.written == report.predicted == signal_count(conn)
    first = conn.execute("SELECT min(time) FROM signals WHERE chart_id = %s",
                         (market.other_id,)).fetchone()  # fmt: skip
    assert first == (utc_datetime(market.bars.time[warmup]),)
    # From a start inside the warm-up: the bars before it count, those read are not all warm.
    matrix = read_features(database_url, market.stored, [market.other_id])
    start = utc_datetime(matrix.time[warmup - 5])
    again = backtest(database_url, model, [market.other_id], start=start)
    assert (again.predicted, again.skipped, again.written) == (BUILT - warmup, 5, 0)


def test_a_model_on_a_set_named_with_dashes_and_dots_loads_and_predicts(
    conn: Connection, database_url: str, artifact_root: str
) -> None:
    market = served_market(conn, replace(SMALL, name="small-24.7"))
    champion(database_url, artifact_root, market)
    model = ModelShelf(database_url, artifact_root).served(conn, served_reference(MODEL))
    assert (model.feature_set.name, model.model.features.label) == ("small-24.7",
                                                                    "small-24.7@1")  # fmt: skip
    assert predict(conn, model, market.other_id).new


DAILY = feature_set({"name": "daily", "features": [
    {"name": "ret_5", "expr": "close / ref(close, 5) - 1"},
    {"name": "rsi_3_1d", "talib": "RSI", "timeperiod": 3, "timeframe": "1d"},
    {"name": "rsi_gap", "expr": "rsi_3_1d - 50"},
    {"name": "minutes_to_close", "calendar": "minutes_to_close"},
]})  # fmt: skip


def test_a_feature_of_the_daily_chart_waits_for_its_warm_up_there(
    conn: Connection, database_url: str, artifact_root: str
) -> None:
    """RSI(3) of the daily chart has its first value at the 4th day's close: the hourly
    bars before it are refused, naming it and what reads it; from it on, predicted."""
    market = served_market(conn, DAILY)
    champion(database_url, artifact_root, market)
    model = ModelShelf(database_url, artifact_root).served(conn, served_reference(MODEL))
    matrix = read_features(database_url, market.stored, [market.other_id])
    missing = np.isnan(matrix.values)
    first = int(np.flatnonzero(missing.sum(axis=1) == 1)[0])  # only minutes_to_close
    assert first == 4 * 24 - 1  # the charts start at midnight
    assert predict(conn, model, market.other_id, time=utc_datetime(matrix.time[first])).new
    with pytest.raises(NotPredictable, match=r"rsi_3_1d, rsi_gap have no value yet \(past "
                       r"its first bars; .* is 5 bars, and 3 bars of its 1d chart\)"):  # fmt: skip
        predict(conn, model, market.other_id, time=utc_datetime(matrix.time[first - 1]))
    report = backtest(database_url, model, [market.other_id, market.chart_id])
    assert (report.predicted, report.skipped) == (2 * (BUILT - first), 2 * first)
