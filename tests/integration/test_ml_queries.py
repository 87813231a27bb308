"""The queries the ML side runs, each in plain SQL over one shared connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from candlelab.labels.spans import LabelType, NewSpan, add_label_type, add_span, chart_spans
from candlelab.market.candles import Bars, chart_candles, load_bars
from candlelab.market.charts import ChartKey, upsert_chart
from candlelab.store.database import Connection, connect
from candlelab.store.urls import database_name
from candlelab.training.runs import NewRun, finish_run, newest_runs, record_run
from candlelab.training.tracking import tracking_uri

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def rising_bars(times: list[str]) -> Bars:
    n = len(times)
    close = np.arange(1.0, n + 1.0)
    return Bars(
        np.array(times, dtype="datetime64[us]"),
        close - 0.5,
        close + 1.0,
        close - 1.0,
        close,
        np.full(n, 10.0),
    )


def test_training_runs_come_newest_first(conn: Connection) -> None:
    for number in range(3):
        record_run(conn, NewRun(f"run{number}", "lightgbm", "demo", params={"n": number}))
        conn.execute(
            "UPDATE training_runs SET created_at = %(at)s WHERE run_id = %(id)s",
            {"at": T0 + timedelta(days=number), "id": f"run{number}"},
        )
    finish_run(conn, "run1", status="finished", metrics={"auc": 0.61}, total_samples=900)
    runs = newest_runs(conn)
    assert [run.run_id for run in runs] == ["run2", "run1", "run0"]
    assert runs[1].metrics == {"auc": 0.61}
    assert runs[1].total_samples == 900
    plain = conn.execute("SELECT run_id FROM training_runs ORDER BY created_at DESC").fetchall()
    assert [row[0] for row in plain] == ["run2", "run1", "run0"]


def test_a_charts_candles_come_by_chart_id_in_time_order(conn: Connection) -> None:
    btc = upsert_chart(conn, ChartKey("BTCUSDT", "1h", "test"))
    eth = upsert_chart(conn, ChartKey("ETHUSDT", "1h", "test"))
    # Stored out of order, and interleaved with another chart's bars.
    load_bars(conn, btc, rising_bars(["2024-03-01T02:00", "2024-03-01T00:00"]).to_frame())
    load_bars(conn, eth, rising_bars(["2024-03-01T01:00"]).to_frame())
    load_bars(conn, btc, rising_bars(["2024-03-01T01:00"]).to_frame())
    times = [row[0] for row in chart_candles(conn, btc)]
    assert times == [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    plain = conn.execute(
        "SELECT time FROM candles WHERE chart_id = %(id)s ORDER BY time", {"id": btc}
    ).fetchall()
    assert [row[0] for row in plain] == times


def test_a_charts_spans_come_by_chart_id_optionally_by_source(conn: Connection) -> None:
    chart = upsert_chart(conn, ChartKey("AAPL", "1d", "test"))
    other = upsert_chart(conn, ChartKey("MSFT", "1d", "test"))
    long = add_label_type(conn, LabelType("long", "#0a0", hotkey="l", direction=1))
    record_run(conn, NewRun("run-x", "lightgbm", "demo"))
    spans = [
        NewSpan(
            chart,
            long,
            T0 + timedelta(days=5),
            T0 + timedelta(days=6),
            source="model",
            status="proposed",
            confidence=0.8,
            training_run_id="run-x",
        ),
        NewSpan(chart, long, T0, T0 + timedelta(days=2)),
        NewSpan(chart, long, T0 + timedelta(days=3), T0 + timedelta(days=4), source="import"),
        NewSpan(other, long, T0, T0 + timedelta(days=1)),
    ]
    for span in spans:
        add_span(conn, span)
    assert [s.source for s in chart_spans(conn, chart)] == ["manual", "import", "model"]
    model = chart_spans(conn, chart, source="model")
    assert [(s.label, s.status, s.confidence) for s in model] == [("long", "proposed", 0.8)]
    plain = conn.execute(
        "SELECT count(*) FROM span_annotations WHERE chart_id = %(id)s AND source = 'manual'",
        {"id": chart},
    ).fetchone()
    assert plain == (1,)


def test_one_connection_runs_all_three(database_url: str) -> None:
    with connect(database_url) as shared:
        chart = upsert_chart(shared, ChartKey("SPY", "1d", "test"))
        assert newest_runs(shared) == []
        assert chart_candles(shared, chart) == []
        assert chart_spans(shared, chart, source="manual") == []


def test_the_app_and_mlflow_share_one_database(database_url: str) -> None:
    import sqlalchemy

    with connect(database_url) as app_side:
        app_database = app_side.execute("SELECT current_database()").fetchone()
    mlflow_side = sqlalchemy.create_engine(tracking_uri(database_url))
    with mlflow_side.connect() as connection:
        row = connection.exec_driver_sql("SELECT current_database(), current_schema()").one()
    mlflow_side.dispose()
    assert (row[0],) == app_database
    assert row[1] == "mlflow"


@pytest.mark.embedded
def test_the_embedded_database_is_named_candle_annotator(server_url: str) -> None:
    assert database_name(server_url) == "candle_annotator"
    with connect(server_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("candle_annotator",)
