"""Driver errors come out as domain errors, chosen by the violated constraint's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from candlelab import errors
from candlelab.labels.spans import LabelType, NewSpan, add_label_type, add_span
from candlelab.market.candles import Bars, load_bars
from candlelab.market.charts import ChartKey, upsert_chart
from candlelab.store.database import Connection, translated

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def one_bar(open_: float, high: float, low: float, close: float, volume: float = 1.0) -> Bars:
    def column(value: float) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
        return np.array([value], dtype=np.float64)

    return Bars(
        np.array(["2024-01-01T00:00"], dtype="datetime64[us]"),
        column(open_),
        column(high),
        column(low),
        column(close),
        column(volume),
    )


@pytest.fixture
def chart_id(conn: Connection) -> int:
    return upsert_chart(conn, ChartKey("BTCUSDT", "1h", "test"))


def test_a_candle_outside_its_range_is_an_invalid_candle(conn: Connection, chart_id: int) -> None:
    with pytest.raises(errors.InvalidCandle, match="ck_candles_ohlc"):
        load_bars(conn, chart_id, one_bar(10.0, 9.0, 8.0, 9.5).to_frame())


def test_negative_volume_is_an_invalid_candle(conn: Connection, chart_id: int) -> None:
    with pytest.raises(errors.InvalidCandle, match="ck_candles_volume"):
        load_bars(conn, chart_id, one_bar(10.0, 11.0, 9.0, 10.5, volume=-1.0).to_frame())


def test_a_second_chart_with_the_same_key_is_refused(conn: Connection) -> None:
    conn.execute(
        "INSERT INTO charts (symbol, timeframe, source, name) VALUES ('A', '1d', 's', 'A')"
    )
    with pytest.raises(errors.ChartExists, match="uq_charts_symbol_timeframe_source"), translated():
        conn.execute(
            "INSERT INTO charts (symbol, timeframe, source, name) VALUES ('A', '1d', 's', 'A2')"
        )


def test_a_duplicate_label_name_or_hotkey_is_refused(conn: Connection) -> None:
    add_label_type(conn, LabelType("long", "#0a0", hotkey="l", direction=1))
    with pytest.raises(errors.LabelExists, match="uq_span_label_types_name"):
        add_label_type(conn, LabelType("long", "#0b0"))
    conn.rollback()
    add_label_type(conn, LabelType("long", "#0a0", hotkey="l", direction=1))
    with pytest.raises(errors.LabelExists, match="uq_span_label_types_hotkey"):
        add_label_type(conn, LabelType("short", "#a00", hotkey="l", direction=-1))


def test_a_span_that_ends_before_it_starts_is_invalid(conn: Connection, chart_id: int) -> None:
    label = add_label_type(conn, LabelType("long", "#0a0"))
    backwards = NewSpan(chart_id, label, T0, T0 - timedelta(hours=1))
    with pytest.raises(errors.InvalidSpan, match="ck_span_annotations_time_order"):
        add_span(conn, backwards)


def test_a_span_with_an_unknown_source_is_invalid(conn: Connection, chart_id: int) -> None:
    label = add_label_type(conn, LabelType("long", "#0a0"))
    with pytest.raises(errors.InvalidSpan, match="ck_span_annotations_source"):
        add_span(conn, NewSpan(chart_id, label, T0, T0, source="guess"))


def test_a_span_on_a_missing_chart_is_an_unknown_reference(conn: Connection) -> None:
    label = add_label_type(conn, LabelType("long", "#0a0"))
    with pytest.raises(errors.UnknownReference, match="fk_span_annotations_chart_id_charts"):
        add_span(conn, NewSpan(999_999, label, T0, T0))


def test_every_named_constraint_in_the_map_exists(conn: Connection) -> None:
    from candlelab.store.database import CONSTRAINT_ERRORS

    names = {row[0] for row in conn.execute("SELECT conname FROM pg_constraint")}
    assert set(CONSTRAINT_ERRORS) <= names
