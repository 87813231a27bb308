"""A prediction on a bar whose stored vector went stale (its candles were corrected since
the build) is made on the vector of the corrected candles, never on the stored one."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.features.materialisation import build_features
from candlelab.features.reading import read_features
from candlelab.market.candles import Bars
from candlelab.market.charts import chart
from candlelab.market.quality import utc_datetime
from candlelab.models.prediction import ModelShelf, bar_vector, served_reference
from candlelab.store.database import Connection
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.served_models import BUILT, MODEL, champion, served_market
from tests.fixtures.training_data import SMALL, store

CORRECTED = BUILT - 60  # a bar well inside the stored blocks, past the warm-up
OTHER_BARS = clean_bars(2, BUILT)  # the bars of served_market's other chart


def corrected(bars: Bars, at: int) -> Bars:
    """Bar `at` of the chart with its high and close moved up."""
    part = bars.slice(at, at + 1)
    return Bars(part.time, part.open, part.high * 1.02, part.low, part.close * 1.01, part.volume)


@pytest.mark.parametrize("after", [0, 30], ids=["the corrected bar", "a later bar"])
def test_a_stale_stored_vector_is_recomputed_from_the_corrected_candles(
    conn: Connection, database_url: str, artifact_root: str, after: int
) -> None:
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    served = ModelShelf(database_url, artifact_root).served(conn, served_reference(MODEL))
    other = chart(conn, market.other_id)
    at = utc_datetime(OTHER_BARS.time[CORRECTED + after])
    before = bar_vector(conn, served, other, at)
    store(conn, other.symbol, corrected(OTHER_BARS, CORRECTED), on_conflict="update")
    stale = bar_vector(conn, served, other, at)
    conn.commit()
    build_features(conn, SMALL, [other.id])
    conn.commit()
    rebuilt = read_features(database_url, market.stored, [other.id], at)
    np.testing.assert_allclose(stale, rebuilt.values[0], rtol=1e-12, atol=0)
    assert not np.allclose(before, stale, equal_nan=True)
