"""The indexes on `signals` serve the phase-1 lookups, and a feature index made on demand
(`candlelab signals index NAME`) makes a range on one feature an index scan.

The plans are read on realistic rows after ANALYZE, with no planner setting: 20 charts,
two versions of a model serving live (each signal with its 62 features as the predict
path writes them) and ten backtested versions (no features), 500 bars each.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from psycopg.errors import LockNotAvailable
from psycopg.types.json import Jsonb

from candlelab.errors import InvalidValue
from candlelab.features.definitions import bundled_feature_set
from candlelab.models.signals import (
    create_feature_index,
    drop_feature_index,
    feature_indexes,
    feature_values,
)
from candlelab.store.database import Connection, connect

CHARTS, BARS, LIVE_VERSIONS, BACKTESTED_VERSIONS = 20, 500, 2, 10
START = datetime(2025, 1, 6, tzinfo=UTC)
COLUMNS = bundled_feature_set("core").columns
RANGE = ("SELECT id, chart_id, time, pred FROM signals"
         " WHERE (features->>'rsi_14')::double precision < 30")  # fmt: skip
BACKTESTS = """
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba)
SELECT c.id, %(start)s + b * interval '1 hour', 'bt', v, 'champion',
       (ARRAY['short', 'none', 'long'])[1 + (b + v) %% 3], 0.5
FROM charts c, generate_series(0, %(bars)s - 1) b, generate_series(1, %(versions)s) v"""


def live_rows(rng: np.random.Generator, chart_ids: list[int]) -> list[tuple[object, ...]]:
    """Signals of model `live`, each with a vector of core's columns as the predict path
    stores it (`feature_values`): RSI(14) around 50 (below 30 about one bar in twenty),
    minutes_to_close null (a 24/7 chart), the rest standard normal."""
    keys = [(version, chart_id, bar) for version in range(1, LIVE_VERSIONS + 1)
            for chart_id in chart_ids for bar in range(BARS)]  # fmt: skip
    vectors = rng.normal(size=(len(keys), len(COLUMNS)))
    vectors[:, COLUMNS.index("rsi_14")] = np.clip(rng.normal(50, 12, len(keys)), 0, 100)
    vectors[:, COLUMNS.index("minutes_to_close")] = np.nan
    return [(chart_id, START + timedelta(hours=bar), "live", version, "champion", "long", 0.6,
             Jsonb(feature_values(COLUMNS, vector)), 3.2)
            for (version, chart_id, bar), vector in zip(keys, vectors, strict=True)]  # fmt: skip


@pytest.fixture
def signals(conn: Connection) -> int:
    """The rows described above, analysed; how many live signals have rsi_14 < 30."""
    conn.execute("INSERT INTO charts (symbol, timeframe, source, name) SELECT 'S' || i, '1h', "
                 "'test', 'S' || i FROM generate_series(1, %s) i", (CHARTS,))  # fmt: skip
    chart_ids = [int(row[0]) for row in conn.execute("SELECT id FROM charts ORDER BY id")]
    rows = live_rows(np.random.default_rng(7), chart_ids)
    columns = "chart_id, time, model_name, model_version, alias, pred, proba, features, latency_ms"
    with conn.cursor().copy(f"COPY signals ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute(BACKTESTS, {"start": START, "bars": BARS, "versions": BACKTESTED_VERSIONS})
    conn.commit()
    conn.autocommit = True  # CREATE INDEX CONCURRENTLY runs outside a transaction
    conn.execute("ANALYZE signals")
    return sum(row[7].obj["rsi_14"] < 30 for row in rows)  # type: ignore[attr-defined]


def plan(conn: Connection, query: str, params: tuple[object, ...] = ()) -> str:
    return "\n".join(str(row[0]) for row in conn.execute(f"EXPLAIN {query}", params))


def test_a_feature_index_makes_a_range_on_the_feature_an_index_scan(
    conn: Connection, signals: int
) -> None:
    """Without it, the range reads the whole table: the GIN index answers containment
    only. The planner picks the index by itself (no enable_seqscan = off), though it keeps
    no statistics on a partial index's expression (it guesses a third of the rows).
    ANALYZE is not run again after the index: it would change nothing."""
    assert "Seq Scan on signals" in plan(conn, RANGE)
    assert "Index" not in plan(conn, RANGE)

    made, created = create_feature_index(conn, "rsi_14")
    assert created
    assert (made.feature, made.name, made.valid) == ("rsi_14", "ix_signals_feature_rsi_14", True)
    entries = conn.execute("SELECT reltuples FROM pg_class WHERE relname = %s", (made.name,))
    assert entries.fetchone() == (LIVE_VERSIONS * CHARTS * BARS,)  # no backtest's signal
    indexed = plan(conn, RANGE)
    assert "ix_signals_feature_rsi_14" in indexed  # a bitmap or a plain index scan
    assert "Seq Scan" not in indexed
    assert len(conn.execute(RANGE).fetchall()) == signals > 0


def test_a_judgement_of_a_signal_with_a_feature_index_is_still_a_hot_update(
    conn: Connection, signals: int
) -> None:
    """The index reads `features`, which a judgement leaves alone: it still rewrites the
    row on its page and writes no index entry (docs/models.md, "Querying signals")."""
    create_feature_index(conn, "rsi_14")
    with conn.transaction():
        judged = conn.execute(
            "UPDATE signals SET outcome = 'win', realized_rr = 1.5, evaluated_at = now()"
            " WHERE model_name = 'live' AND chart_id = (SELECT min(id) FROM charts)"
        ).rowcount
        counts = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
                              " WHERE relname = 'signals'").fetchone()  # fmt: skip
    assert counts == (judged, judged) == (LIVE_VERSIONS * BARS,) * 2


def test_a_feature_index_is_made_once_listed_and_dropped(conn: Connection, signals: int) -> None:
    made, _ = create_feature_index(conn, "rsi_14")
    again, created = create_feature_index(conn, "rsi_14")
    assert (again, created) == (made, False)
    create_feature_index(conn, "hour")
    assert [(f.feature, f.name) for f in feature_indexes(conn)] == [
        ("hour", "ix_signals_feature_hour"), ("rsi_14", "ix_signals_feature_rsi_14")]  # fmt: skip

    assert drop_feature_index(conn, "rsi_14")
    assert not drop_feature_index(conn, "rsi_14")
    assert [f.feature for f in feature_indexes(conn)] == ["hour"]
    assert "Index" not in plan(conn, RANGE)


def test_an_index_left_invalid_by_an_interrupted_build_is_made_again(
    conn: Connection, database_url: str, signals: int
) -> None:
    # A build waits for the transactions writing to signals; one stopped while it waits
    # (here by lock_timeout) leaves the index, not valid. Autovacuum off first (waiting
    # out one at work on the fixture's rows): its lock on signals stopped the build before
    # it made the index, one run in many.
    conn.execute("ALTER TABLE signals SET (autovacuum_enabled = off)")
    with connect(database_url) as writer:
        writer.execute("UPDATE signals SET latency_ms = 1 WHERE id = (SELECT min(id) FROM signals)")
        conn.execute("SET lock_timeout = '100ms'")
        with pytest.raises(LockNotAvailable):
            create_feature_index(conn, "rsi_14")
        conn.execute("RESET lock_timeout")
    assert [(f.name, f.valid) for f in feature_indexes(conn)] == [
        ("ix_signals_feature_rsi_14", False)]  # fmt: skip

    made, created = create_feature_index(conn, "rsi_14")
    assert (created, made.valid) == (True, True)
    assert feature_indexes(conn) == [made]


def test_a_value_that_is_not_a_number_leaves_no_index(conn: Connection, signals: int) -> None:
    conn.execute("""UPDATE signals SET features = features || '{"rsi_14": "n/a"}'
                    WHERE id = (SELECT min(id) FROM signals WHERE model_name = 'live')""")
    with pytest.raises(InvalidValue, match="feature rsi_14: a signal's value is not a number"):
        create_feature_index(conn, "rsi_14")
    assert feature_indexes(conn) == []


def test_the_phase_1_lookups_are_index_scans(conn: Connection, signals: int) -> None:
    """By (chart, time range): the unique key (chart_id, time, model_name, model_version);
    by (model, version): (model_name, model_version, time). Picked by the planner on
    these rows after ANALYZE (no planner setting)."""
    chart = plan(conn, "SELECT * FROM signals WHERE chart_id = %s AND time >= %s AND time < %s",
                 (3, START + timedelta(days=5), START + timedelta(days=6)))  # fmt: skip
    assert "uq_signals_chart_id_time_model_name_model_version" in chart
    version = plan(conn, "SELECT * FROM signals WHERE model_name = %s AND model_version = %s",
                   ("bt", 4))  # fmt: skip
    assert "ix_signals_model_name_model_version_time" in version
    assert "Seq Scan" not in chart + version
