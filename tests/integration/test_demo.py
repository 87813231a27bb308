"""The demo's market goes in through the candle path, and a second run adds nothing."""

from __future__ import annotations

from datetime import date

from candlelab.demo import seed_labels, store_market, waiting_proposals
from candlelab.market.candles import count_candles
from candlelab.market.charts import chart_summaries
from candlelab.market.ingest import IngestReport
from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec
from candlelab.store.database import Connection

SMALL = MarketSpec(start=date(2025, 1, 1), end=date(2025, 3, 1), hourly_days=10)


def test_the_demo_stores_every_chart_once(conn: Connection) -> None:
    seen: list[IngestReport] = []
    first = store_market(conn, SMALL, seen.append)
    assert len(first) == len(seen) == 2 * len(INSTRUMENTS)
    total = count_candles(conn)
    assert total == sum(report.loaded for report in first) > 0
    assert all(report.ok and report.rejected == 0 for report in first)

    again = store_market(conn, SMALL, lambda chart: None)
    assert sum(report.loaded for report in again) == 0
    assert sum(report.unchanged for report in again) == total
    assert count_candles(conn) == total
    summaries = chart_summaries(conn)
    assert {(c.symbol, c.timeframe) for c in summaries} == {
        (i.symbol, tf) for i in INSTRUMENTS for tf in ("1d", "1h")
    }
    assert all(c.bars > 0 for c in summaries)


def test_with_labels_each_chart_gets_its_trend_proposals_once(conn: Connection) -> None:
    store_market(conn, SMALL, lambda chart: None, seed_labels(conn))
    made = waiting_proposals(conn)
    assert made > 0
    store_market(conn, SMALL, lambda chart: None, seed_labels(conn))
    assert waiting_proposals(conn) == made
    rows = conn.execute(
        "SELECT DISTINCT t.direction FROM span_annotations s "
        "JOIN span_label_types t ON t.id = s.label_type_id WHERE s.source = 'model'"
    ).fetchall()
    assert {row[0] for row in rows} <= {-1, 1}
