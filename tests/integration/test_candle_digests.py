"""The candles' hash sums stored beside the feature blocks: they add up however a chart's
bars are cut, and any change to a bar changes them."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import numpy as np
import pytest

from candlelab.market.candles import Bars
from candlelab.store.database import Connection
from candlelab.training.candle_digests import candles_digest
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.training_data import opened, store

BARS = 30


@pytest.fixture
def chart(conn: Connection) -> tuple[int, Bars]:
    bars = clean_bars(5, BARS)
    return store(conn, "BTCUSDT", bars), bars


def sums(conn: Connection, chart_id: int, first: datetime, last: datetime) -> bytes:
    row = conn.execute("SELECT candles_hash(%s, %s, %s)", (chart_id, first, last)).fetchone()
    assert row is not None
    return bytes(row[0])


def digest(conn: Connection, chart_id: int, bars: Bars, cuts: list[int]) -> str:
    """The chart's digest from blocks cut before each bar in `cuts`."""
    edges = [0, *cuts, BARS]
    blocks = list(pairwise(edges))
    hashes = [sums(conn, chart_id, opened(bars, a), opened(bars, b - 1)) for a, b in blocks]
    sizes = np.array([b - a for a, b in blocks], dtype=np.int64)
    return candles_digest(np.full(len(blocks), chart_id, dtype=np.int64), sizes, hashes)


def test_the_sums_of_blocks_add_up_to_those_of_their_bars_however_they_are_cut(
    conn: Connection, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    whole = digest(conn, chart_id, bars, [])
    assert digest(conn, chart_id, bars, [10]) == whole
    assert digest(conn, chart_id, bars, [1, 2, 17, 29]) == whole
    two = np.array([chart_id, chart_id + 1], dtype=np.int64)
    one = sums(conn, chart_id, opened(bars, 0), opened(bars, BARS - 1))
    assert candles_digest(two, np.array([BARS, BARS]), [one, one]) != whole  # per chart


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "volume"])
def test_a_value_changed_by_its_last_bit_changes_the_sums(
    conn: Connection, chart: tuple[int, Bars], column: str
) -> None:
    chart_id, bars = chart
    first, last = opened(bars, 0), opened(bars, BARS - 1)
    before = sums(conn, chart_id, first, last)
    value = float(getattr(bars, column)[12])
    conn.execute(f"UPDATE candles SET {column} = %s WHERE chart_id = %s AND time = %s",
                 (float(np.nextafter(value, np.inf)), chart_id, opened(bars, 12)))  # fmt: skip
    assert sums(conn, chart_id, first, last) != before


def test_swapped_bars_and_a_moved_bar_change_the_sums(
    conn: Connection, chart: tuple[int, Bars]
) -> None:
    chart_id, bars = chart
    first, last = opened(bars, 0), opened(bars, BARS - 1)
    before = sums(conn, chart_id, first, last)
    # Bars 3 and 4 exchange their values: the same values, each at the other's time.
    conn.execute(
        "UPDATE candles c SET open = o.open, high = o.high, low = o.low, close = o.close, "
        "volume = o.volume FROM candles o WHERE c.chart_id = %(chart)s AND o.chart_id = "
        "%(chart)s AND ((c.time, o.time) = (%(a)s, %(b)s) OR (c.time, o.time) = (%(b)s, %(a)s))",
        {"chart": chart_id, "a": opened(bars, 3), "b": opened(bars, 4)},
    )
    swapped = sums(conn, chart_id, first, last)
    assert swapped != before
    conn.execute("UPDATE candles SET time = time + interval '1 microsecond' "
                 "WHERE chart_id = %s AND time = %s", (chart_id, opened(bars, 20)))  # fmt: skip
    assert sums(conn, chart_id, first, last) not in (before, swapped)
