"""The migrations build exactly the schema the metadata defines, and undo it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from candlelab.models.signals import create_feature_index
from candlelab.store import migrations
from candlelab.store.database import connect, engine
from candlelab.store.on_demand import managed_name
from candlelab.store.schema import (
    DEPLOYMENTS_SQL,
    FEATURE_STORE_SQL,
    MODELS_SQL,
    OUTCOMES_SQL,
    SPAN_CHANGES_SQL,
    metadata,
)

# The shape of schema public, read from the catalogs: columns, constraints, indexes, views.
CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
               is_identity
        FROM information_schema.columns WHERE table_schema = 'public'
        ORDER BY table_name, column_name""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace
          AND contype <> 'n'  -- PostgreSQL 18 lists NOT NULL as constraints named by the server
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        ORDER BY 1, 2""",
    "functions": """
        SELECT proname, pg_get_function_identity_arguments(oid), prosrc FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal ORDER BY 1, 2""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1""",
    "storage": """
        SELECT relname, reloptions FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL ORDER BY 1""",
}


def describe_schema(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        shape = {name: conn.execute(query).fetchall() for name, query in CATALOG_QUERIES.items()}
    # Alembic's own bookkeeping table is not part of the schema the metadata defines.
    return {
        part: [row for row in rows if row[0] != "alembic_version"] for part, rows in shape.items()
    }


def build_from_metadata(url: str) -> None:
    db = engine(url)
    with db.begin() as connection:
        metadata.create_all(connection)
        for statement in (
            *FEATURE_STORE_SQL,
            *OUTCOMES_SQL,
            *DEPLOYMENTS_SQL,
            *MODELS_SQL,
            *SPAN_CHANGES_SQL,
        ):
            connection.exec_driver_sql(statement)
    db.dispose()


def differences(url: str, options: Mapping[str, object]) -> list[Any]:
    """What Alembic's autogenerate finds between the database and the metadata."""
    db = engine(url)
    with db.connect() as connection:
        context = MigrationContext.configure(connection, opts=dict(options))
        found = compare_metadata(context, metadata)
    db.dispose()
    return list(found)


# As migrations/env.py configures Alembic.
AUTOGENERATE = {"include_name": managed_name}


def test_autogenerate_finds_no_difference_between_migrations_and_metadata(
    database_url: str,
) -> None:
    assert differences(database_url, AUTOGENERATE) == []
    command.check(migrations._config(database_url))  # `alembic check`, through env.py


def test_an_index_made_by_signals_index_is_no_difference(database_url: str) -> None:
    with connect(database_url, autocommit=True) as conn:
        create_feature_index(conn, "rsi_14")
    unfiltered = differences(database_url, {})
    assert [(d[0], d[1].name) for d in unfiltered] == [
        ("remove_index", "ix_signals_feature_rsi_14")]  # fmt: skip
    assert differences(database_url, AUTOGENERATE) == []
    command.check(migrations._config(database_url))


def test_migrations_and_metadata_build_the_same_catalog(
    database_url: str, empty_database_url: str
) -> None:
    build_from_metadata(empty_database_url)
    migrated, built = describe_schema(database_url), describe_schema(empty_database_url)
    for part in CATALOG_QUERIES:
        assert migrated[part] == built[part], part
    assert len(migrated["constraints"]) > 40
    assert ("signals", ["fillfactor=40"]) in migrated["storage"]
    views = [view for view, _ in migrated["views"]]
    assert views == ["feature_values", "feature_values_long", "model_registry"]


def test_every_constraint_and_index_has_a_convention_name(database_url: str) -> None:
    shape = describe_schema(database_url)
    names = [row[1] for row in shape["constraints"]] + [row[1] for row in shape["indexes"]]
    assert names
    assert all(str(name).startswith(("pk_", "fk_", "uq_", "ck_", "ix_")) for name in names)


def test_upgrade_is_idempotent_and_downgrade_to_base_removes_every_table(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url)
    migrations.upgrade(empty_database_url)
    assert migrations.current(empty_database_url) == migrations.head()
    tables = {table for table, *_ in describe_schema(empty_database_url)["columns"]}
    assert tables >= set(metadata.tables)

    migrations.downgrade(empty_database_url, "base")
    assert migrations.current(empty_database_url) is None
    shape = describe_schema(empty_database_url)
    assert shape["columns"] == []
    assert shape["views"] == []

    migrations.upgrade(empty_database_url)
    assert migrations.current(empty_database_url) == migrations.head()
    migrations.downgrade(empty_database_url, "-1")
    assert migrations.current(empty_database_url) == alembic_current(empty_database_url)
    assert migrations.current(empty_database_url) not in (None, migrations.head())


def alembic_current(url: str) -> str | None:
    db = engine(url)
    try:
        with db.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        db.dispose()


def test_the_head_read_from_file_names_is_alembics_and_each_file_is_named_by_its_revision() -> None:
    script = ScriptDirectory(str(Path(migrations.__file__).parent))
    assert migrations.head() == script.get_current_head()
    for revision in script.walk_revisions():
        assert revision.path is not None
        assert Path(revision.path).name.startswith(f"{revision.revision}_"), revision.path


def test_the_application_writes_nothing_into_schema_mlflow_and_mlflow_nothing_into_public(
    database_url: str,
) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('public', 'mlflow')"
        ).fetchall()
    public = {table for schema, table in rows if schema == "public"}
    in_mlflow = {table for schema, table in rows if schema == "mlflow"}
    views = {"feature_values", "feature_values_long", "model_registry"}
    assert public == {*metadata.tables, "alembic_version", *views}
    assert {"experiments", "runs", "metrics", "registered_models"} <= in_mlflow
    # Both keep their own `datasets` (and Alembic's table): MLflow's connections see only
    # schema mlflow (search_path=mlflow), candlelab's only public.
    assert (in_mlflow & set(metadata.tables)) == {"datasets"}


def test_the_chart_bar_counts_revision_counts_the_bars_stored_before_it(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url, "0007")
    with psycopg.connect(empty_database_url) as conn:
        conn.execute(
            "INSERT INTO charts (id, symbol, timeframe, source, name) VALUES "
            "(1, 'A', '1d', 's', 'A'), (2, 'B', '1d', 's', 'B')"
        )
        conn.execute(
            "INSERT INTO candles (chart_id, time, open, high, low, close, volume) "
            "SELECT 1, timestamptz '2024-01-01' + n * interval '1 day', 1, 1, 1, 1, 0 "
            "FROM generate_series(0, 9) n"
        )
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute(
            "SELECT id, bar_count, first_bar::date::text, last_bar::date::text "
            "FROM charts ORDER BY id"
        ).fetchall()
    assert rows == [(1, 10, "2024-01-01", "2024-01-10"), (2, 0, None, None)]


def test_upgrading_upper_cases_stored_symbols_unless_that_would_merge_two_charts(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url, "0009")
    with psycopg.connect(empty_database_url) as db:
        db.execute(
            "INSERT INTO charts (id, symbol, timeframe, source, name) VALUES "
            "(1, ' btcusdt', '1h', 'file', 'a'), (2, 'ethusdt', '1h', 'file', 'b'), "
            "(3, 'ETHUSDT', '1h', 'file', 'c'), (4, 'ethusdt', '1d', 'file', 'd')"
        )
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        symbols = db.execute("SELECT id, symbol FROM charts ORDER BY id").fetchall()
    assert symbols == [(1, "BTCUSDT"), (2, "ethusdt"), (3, "ETHUSDT"), (4, "ETHUSDT")]


def test_the_block_steps_revision_measures_the_blocks_stored_before_it(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url, "0012")
    hour = 3_600_000_000
    blocks = {  # first bar (hours after 2024-01-01) → bar opens, in hours after it
        0: [0, 1, 2, 3],
        10: [10, 11, 13],
        20: [20],
        30: [30, 32, 34],
        40: [40, 41, 43, 44],
    }
    with psycopg.connect(empty_database_url) as db:
        db.execute("INSERT INTO charts (id, symbol, timeframe, source, name) "
                   "VALUES (1, 'A', '1h', 's', 'A')")  # fmt: skip
        db.execute("INSERT INTO feature_sets (id, name, version, definition_hash, columns, "
                   "definition) VALUES (1, 's', 1, 'h', '{c}', '{}')")  # fmt: skip
        for first, opens in blocks.items():
            micros = np.datetime64("2024-01-01", "us").astype(np.int64) + np.array(opens) * hour
            db.execute(
                "INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, "
                "bars, width, times, vectors, nans) VALUES (1, 1, timestamptz '2024-01-01' "
                "+ %s * interval '1 hour', timestamptz '2024-01-01' + %s * interval '1 hour', "
                "%s, 1, %s, %s, '{0}')",
                (
                    first,
                    opens[-1],
                    len(opens),
                    micros.astype("<i8").tobytes(),
                    bytes(8 * len(opens)),
                ),
            )
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        rows = db.execute("SELECT bars, step_us FROM feature_blocks ORDER BY first_time").fetchall()
    assert rows == [(4, hour), (3, None), (1, None), (3, 2 * hour), (4, None)]


def test_the_block_candles_revision_packs_the_bars_of_the_blocks_stored_before_it(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url, "0021")
    with psycopg.connect(empty_database_url) as db:
        db.execute("INSERT INTO charts (id, symbol, timeframe, source, name) "
                   "VALUES (1, 'A', '1h', 's', 'A')")  # fmt: skip
        db.execute("INSERT INTO feature_sets (id, name, version, definition_hash, columns, "
                   "definition) VALUES (1, 's', 1, 'h', '{c}', '{}')")  # fmt: skip
        db.execute("INSERT INTO candles (chart_id, time, open, high, low, close, volume) "
                   "SELECT 1, timestamptz '2024-01-01' + i * interval '1 hour', "
                   "i, i + 2, i - 1, i + 1, 10 * i FROM generate_series(1, 5) i")  # fmt: skip
        for first, bars in ((1, 3), (4, 3)):  # the second claims a bar the chart lacks
            micros = np.datetime64("2024-01-01", "us").astype(np.int64)
            opens = micros + np.arange(first, first + bars) * 3_600_000_000
            db.execute(
                "INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, "
                "bars, width, times, vectors, nans) VALUES (1, 1, timestamptz '2024-01-01' "
                "+ %s * interval '1 hour', timestamptz '2024-01-01' + %s * interval '1 hour', "
                "%s, 1, %s, %s, '{0}')",
                (first, first + bars - 1, bars, opens.astype("<i8").tobytes(), bytes(8 * bars)),
            )
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        rows = db.execute("SELECT candles FROM feature_blocks ORDER BY first_time").fetchall()
    expected = np.array([[i, i + 2, i - 1, i + 1, 10 * i] for i in (1, 2, 3)], ">f8")
    assert rows == [(expected.tobytes(),), (None,)]


def test_the_block_hashes_revision_hashes_the_blocks_stored_before_it_keeping_their_targets(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url, "0031")
    with psycopg.connect(empty_database_url) as db:
        db.execute("INSERT INTO charts (id, symbol, timeframe, source, name) "
                   "VALUES (1, 'A', '1h', 's', 'A')")  # fmt: skip
        db.execute("INSERT INTO feature_sets (id, name, version, definition_hash, columns, "
                   "definition) VALUES (1, 's', 1, 'h', '{c}', '{}')")  # fmt: skip
        db.execute("INSERT INTO candles (chart_id, time, open, high, low, close, volume) "
                   "SELECT 1, timestamptz '2024-01-01' + i * interval '1 hour', "
                   "i, i + 2, i - 1, i + 1, 10 * i FROM generate_series(1, 6) i")  # fmt: skip
        for first, bars in ((1, 3), (4, 3)):
            micros = np.datetime64("2024-01-01", "us").astype(np.int64)
            opens = micros + np.arange(first, first + bars) * 3_600_000_000
            db.execute(
                "INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, "
                "bars, width, times, vectors, nans) VALUES (1, 1, timestamptz '2024-01-01' "
                "+ %s * interval '1 hour', timestamptz '2024-01-01' + %s * interval '1 hour', "
                "%s, 1, %s, %s, '{0}')",
                (first, first + bars - 1, bars, opens.astype("<i8").tobytes(), bytes(8 * bars)),
            )
        db.execute("INSERT INTO target_blocks SELECT feature_set_id, chart_id, first_time, "
                   "'t', 1, bars, NULL, decode(repeat('00', 29 * bars), 'hex') "
                   "FROM feature_blocks")  # fmt: skip
        db.execute("UPDATE candles SET close = 5.5 WHERE time = timestamptz '2024-01-01 05:00'")
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        rows = db.execute("SELECT candles_hash, candles_hash(1, first_time, last_time) "
                          "FROM feature_blocks ORDER BY first_time").fetchall()  # fmt: skip
        kept = db.execute("SELECT count(*) FROM target_blocks").fetchone()
    # The second block's bar 5 changed after it was written: not hashed from the table.
    assert rows[0][0] == rows[0][1]
    assert len(rows[0][0]) == 16
    assert rows[1][0] is None
    assert kept == (2,)


def test_the_serving_revisions_go_down_and_up_again_keeping_their_rows(
    empty_database_url: str,
) -> None:
    """0019 → 0016 and back with signals and moves in the tables: every signal is kept
    (a word with no number becomes NaN or NULL going down), every move that names a
    version is kept."""
    migrations.upgrade(empty_database_url, "0020")
    with psycopg.connect(empty_database_url) as db:
        db.execute("INSERT INTO charts (id, symbol, timeframe, source, name) "
                   "VALUES (1, 'A', '1h', 's', 'A')")  # fmt: skip
        for hour, pred, outcome in ((0, "long", "win"), (1, "1", "0.5"), (2, "1.2.3", None)):
            db.execute("INSERT INTO signals (chart_id, time, model_name, model_version, pred, "
                       "proba, outcome, shadow) VALUES (1, timestamptz '2024-01-01' + "
                       "%s * interval '1 hour', 'm', 1, %s, 0.7, %s, %s)",
                       (hour, pred, outcome, hour == 0))  # fmt: skip
        db.execute("INSERT INTO model_deployments (model_name, alias, action, version, "
                   "traffic_share, changed_by, reason) VALUES "
                   "('m', 'champion', 'promote', 1, 1, 'me', 'first'), "
                   "('m', 'champion', 'retire', NULL, 0, 'me', 'gone')")  # fmt: skip
    migrations.downgrade(empty_database_url, "0016")
    with psycopg.connect(empty_database_url) as db:
        down = db.execute("SELECT pred, outcome FROM signals ORDER BY time").fetchall()
        moves = db.execute("SELECT alias, version FROM model_deployments").fetchall()
    assert [(np.isnan(p) if p != 1 else p, o) for p, o in down] == [
        (True, None), (1.0, 0.5), (True, None)]  # fmt: skip
    assert moves == [("champion", 1)]  # the old schema holds no move without a version
    migrations.upgrade(empty_database_url, "0020")
    with psycopg.connect(empty_database_url) as db:
        up = db.execute("SELECT pred, outcome, shadow FROM signals ORDER BY time").fetchall()
    assert up == [("NaN", None, False), ("1", "0.5", False), ("NaN", None, False)]


def test_the_outcomes_revision_keeps_judgements_as_words_going_up_and_down(
    empty_database_url: str,
) -> None:
    """0021 clears an outcome that is no word (no code judged before it), refuses one
    afterwards, and going down keeps the three columns the table had."""
    migrations.upgrade(empty_database_url, "0020")
    with psycopg.connect(empty_database_url) as db:
        db.execute("INSERT INTO charts (id, symbol, timeframe, source, name) "
                   "VALUES (1, 'A', '1h', 's', 'A')")  # fmt: skip
        for hour, outcome in ((0, "win"), (1, "0.5")):
            db.execute("INSERT INTO signals (chart_id, time, model_name, model_version, pred, "
                       "outcome, realized_rr, evaluated_at) VALUES (1, timestamptz "
                       "'2024-01-01' + %s * interval '1 hour', 'm', 1, 'long', %s, 2, now())",
                       (hour, outcome))  # fmt: skip
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        rows = db.execute("SELECT outcome, realized_rr, held_bars FROM signals "
                          "ORDER BY time").fetchall()  # fmt: skip
        assert rows == [("win", 2.0, None), (None, 2.0, None)]
        with pytest.raises(psycopg.errors.CheckViolation, match="ck_signals_outcome"):
            db.execute("UPDATE signals SET outcome = 'draw'")
    migrations.downgrade(empty_database_url, "0020")
    with psycopg.connect(empty_database_url) as db:
        rows = db.execute("SELECT outcome, realized_rr FROM signals ORDER BY time").fetchall()
        db.execute("UPDATE candles SET close = close")  # the trigger works without 0021
    assert rows == [("win", 2.0), (None, 2.0)]


def test_the_judgements_in_place_revision_queues_the_pending_and_keeps_each_charts_reach(
    empty_database_url: str,
) -> None:
    """0031 queues each chart from its first pending signal and records the longest a
    judgement there read past its bar; a bar then voids the judgement that read it. Going
    down builds the two partial indexes again, and voiding works without the queue."""
    migrations.upgrade(empty_database_url, "0030")
    with psycopg.connect(empty_database_url) as db:
        db.execute("INSERT INTO charts (id, symbol, timeframe, source, name) "
                   "VALUES (1, 'A', '1h', 's', 'A'), (2, 'B', '1h', 's', 'B')")  # fmt: skip
        for hour, judged_to in ((0, 5), (1, 3), (4, None)):  # judged up to hour 5, 3; pending
            db.execute("INSERT INTO signals (chart_id, time, model_name, model_version, pred, "
                       "outcome, evaluated_at, judged_to) VALUES (1, timestamptz "
                       "'2024-01-01' + %s * interval '1 hour', 'm', 1, 'long', %s, %s, "
                       "timestamptz '2024-01-01' + %s * interval '1 hour')",
                       (hour, judged_to and "win", judged_to and "now", judged_to))  # fmt: skip
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        queued = db.execute("SELECT chart_id, since FROM outcome_queue").fetchall()
        reach = db.execute("SELECT chart_id, reach FROM outcome_reach").fetchall()
        assert [(c, s.hour) for c, s in queued] == [(1, 4)]
        assert [(c, r.total_seconds()) for c, r in reach] == [(1, 5 * 3600.0)]
        db.execute("SELECT mark_outcomes_stale(1, timestamptz '2024-01-01 05:00+00')")
        judged = db.execute("SELECT extract(hour FROM time) FROM signals "
                            "WHERE evaluated_at IS NOT NULL").fetchall()  # fmt: skip
        assert judged == [(1,)]  # read up to 03:00 only; 00:00 read 05:00
        assert db.execute("SELECT count(*) FROM outcome_queue").fetchone() == (2,)
    migrations.downgrade(empty_database_url, "0030")
    with psycopg.connect(empty_database_url) as db:
        indexes = db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'signals' "
                             "AND indexname LIKE 'ix_signals_chart_id_%'").fetchall()  # fmt: skip
        db.execute("SELECT mark_outcomes_stale(1, timestamptz '2024-01-01 00:00+00')")
        pending = db.execute("SELECT count(*) FROM signals WHERE evaluated_at IS NULL").fetchone()
    assert sorted(indexes) == [("ix_signals_chart_id_judged_to",), ("ix_signals_chart_id_time",)]
    assert pending == (3,)
