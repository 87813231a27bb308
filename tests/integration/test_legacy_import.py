"""Legacy SQLite files into PostgreSQL: every conversion, every problem, re-runs, remapping."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from candlelab.errors import ImportRefused
from candlelab.legacy import conversion, verification
from candlelab.legacy.importer import ImportOptions, import_file
from candlelab.legacy.sample import PROBLEMS, SampleSpec, write_sample
from candlelab.store.database import Connection
from tests.fixtures.charts import assert_bar_counts_current

GROUPS_DONE = ["parents", "candles:1", "candles:2", "candles:3"]  # the sample's first groups
TABLES = ("charts", "candles", "annotation_types", "annotations", "span_label_types",
          "span_annotations")  # fmt: skip


def sample(tmp_path: Path, name: str = "candles.db", **spec: object) -> Path:
    path = tmp_path / name
    write_sample(path, SampleSpec(**spec))  # type: ignore[arg-type]
    return path


def counts(conn: Connection) -> dict[str, int]:
    return {t: (conn.execute(f"SELECT count(*) FROM {t}").fetchone() or (0,))[0] for t in TABLES}


def test_a_clean_file_arrives_whole_and_verified_and_the_file_is_untouched(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    path = sample(tmp_path)
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    report, _ = import_file(conn, database_url, path, ImportOptions())
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert report.verified
    assert counts(conn) == {"charts": 3, "candles": 900, "annotation_types": 3, "annotations": 30,
                            "span_label_types": 4, "span_annotations": 40}  # fmt: skip
    assert report.null_volumes == 18
    assert_bar_counts_current(conn)
    assert set(report.time_units.values()) == {"seconds"}
    assert report.placeholders == [{"chart": 3, "name": "My favourite setups",
                                    "symbol": "LEGACY-3", "timeframe": "1d",
                                    "timeframe_from": "bar spacing"}]  # fmt: skip


def test_values_convert_as_documented(conn: Connection, database_url: str, tmp_path: Path) -> None:
    import_file(conn, database_url, sample(tmp_path), ImportOptions())
    charts = conn.execute("SELECT id, symbol, timeframe, source FROM charts ORDER BY id").fetchall()
    assert charts == [(1, "BTCUSDT", "1h", "legacy"), (2, "ETH/USDT", "4h", "legacy"),
                      (3, "LEGACY-3", "1d", "legacy")]  # fmt: skip
    assert conn.execute("SELECT count(*) FROM candles WHERE volume = 0").fetchone() == (18,)
    first = conn.execute("SELECT time::text FROM candles WHERE chart_id = 1 ORDER BY time LIMIT 1")
    assert first.fetchone() == ("2023-01-01 00:00:00+00",)
    note, geometry = conn.execute(
        "SELECT note, geometry FROM annotations WHERE id = 1"
    ).fetchone() or (None, None)
    assert note == 'note 0: "quoted", <b>bold</b> & ünïcode'
    assert set(geometry) == {"price", "shape"}
    assert geometry["shape"] == "arrow"
    statuses = conn.execute(
        "SELECT source, status, count(*), count(confidence), count(model_prediction) "
        "FROM span_annotations GROUP BY 1, 2 ORDER BY 1"
    ).fetchall()
    assert statuses == [("manual", "accepted", 30, 0, 0), ("model", "proposed", 10, 10, 10)]
    assert conn.execute(
        "SELECT bool_and(is_active) FROM annotation_types WHERE id < 3"
    ).fetchone() == (True,)
    assert conn.execute("SELECT is_active FROM span_label_types WHERE id = 4").fetchone() == (
        False,
    )
    never_updated = conn.execute("SELECT count(*) FROM annotations WHERE updated_at = created_at")
    assert never_updated.fetchone() == (15,)
    made = conn.execute("INSERT INTO charts (symbol, timeframe, source, name) "
                        "VALUES ('NEW', '1h', 'x', 'new') RETURNING id").fetchone()  # fmt: skip
    assert made == (4,)  # the sequence moved past the imported ids


def test_millisecond_files_give_the_same_rows(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    report, _ = import_file(conn, database_url, sample(tmp_path, time_unit="ms"), ImportOptions())
    assert set(report.time_units.values()) == {"milliseconds"}
    assert report.verified
    first = conn.execute("SELECT min(time)::text, max(created_at)::text FROM candles, charts")
    assert first.fetchone() == ("2023-01-01 00:00:00+00", "2023-11-14 22:13:23+00")


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_problems_stop_the_import_before_anything_is_written(
    conn: Connection, database_url: str, tmp_path: Path, unit: str
) -> None:
    """Every kind of problem, planted at a known row: each found by its code, nothing else."""
    path = tmp_path / "dirty.db"
    planted = write_sample(path, SampleSpec(problems=frozenset(PROBLEMS), time_unit=unit))
    report, _ = import_file(conn, database_url, path, ImportOptions())
    found = {(p["table"], p["id"], p["code"]) for p in report.problems}
    assert found == set(planted)
    assert all(n == 0 for n in counts(conn).values())


def test_skip_invalid_imports_the_rest_and_verifies_it(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    report, _ = import_file(conn, database_url, sample(tmp_path, problems=frozenset(PROBLEMS)),
                                    ImportOptions(skip_invalid=True))  # fmt: skip
    assert report.verified
    assert len(report.problems) == len(PROBLEMS)
    assert counts(conn)["candles"] == 900 - 4  # OHLC, wrong type, negative, not finite
    assert counts(conn)["annotations"] == 30 - 1  # a time in the other unit
    assert counts(conn)["span_annotations"] == 40 - 1  # confidence 1.5


def test_a_dry_run_writes_nothing_and_says_what_it_would(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    report, _ = import_file(conn, database_url, sample(tmp_path), ImportOptions(dry_run=True))
    assert report.written["candles"] == 900
    assert report.checks == []
    assert all(n == 0 for n in counts(conn).values())


def test_a_run_stopped_between_groups_is_finished_by_the_next(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    path = sample(tmp_path)

    def stop_in_the_annotations(table: str, rows: int) -> None:
        if table == "annotations":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(conn, database_url, path, ImportOptions(), stop_in_the_annotations)
    conn.rollback()
    assert counts(conn)["candles"] == 900
    assert counts(conn)["annotations"] == 0  # that group rolled back whole
    assert counts(conn)["span_annotations"] == 0  # and the next never began
    report, _ = import_file(conn, database_url, path, ImportOptions())
    assert report.already_imported == GROUPS_DONE
    assert set(report.written) == {"annotations", "span_annotations"}
    assert report.verified
    assert_bar_counts_current(conn)
    again, _ = import_file(conn, database_url, path, ImportOptions())
    assert (again.written, again.already_imported, again.verified) == (
        {}, [*GROUPS_DONE, "annotations", "spans"], True)  # fmt: skip


def test_a_value_changed_in_postgresql_afterwards_fails_the_next_verification(
    conn: Connection, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-running re-reads everything: a changed candle in a chart's last block, a bar
    added to one, and a changed span each make their table differ."""
    monkeypatch.setattr(verification, "BLOCK_ROWS", 70)  # the sample's 300-bar charts: 5 blocks
    path = sample(tmp_path)
    assert import_file(conn, database_url, path, ImportOptions())[0].verified
    conn.execute("UPDATE candles SET volume = volume + 1e-6 WHERE chart_id = 2 AND time = "
                 "(SELECT max(time) FROM candles WHERE chart_id = 2)")  # fmt: skip
    conn.commit()
    rerun, _ = import_file(conn, database_url, path, ImportOptions())
    assert [c.table for c in rerun.checks if not c.ok] == ["candles"]
    conn.execute("INSERT INTO candles (chart_id, time, open, high, low, close, volume) "
                 "VALUES (3, '1999-01-01', 1, 1, 1, 1, 1)")  # fmt: skip
    conn.execute("UPDATE span_annotations SET confidence = 0.5 WHERE id = 7")
    conn.commit()
    rerun, _ = import_file(conn, database_url, path, ImportOptions())
    differing = {c.table: (c.rows_in, c.rows_out) for c in rerun.checks if not c.ok}
    assert differing == {"candles": (900, 901), "span_annotations": (40, 40)}


def test_ids_already_taken_are_refused_unless_remapped(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    import_file(conn, database_url, sample(tmp_path, "first.db"), ImportOptions())
    conn.execute("UPDATE span_label_types SET color = '#000000' WHERE name = 'Range'")
    conn.commit()
    other = sample(tmp_path, "second.db", seed=2, candles_per_chart=200)
    with pytest.raises(ImportRefused, match="charts ids 1, 2, 3"):
        import_file(conn, database_url, other, ImportOptions())
    conn.rollback()
    assert counts(conn)["charts"] == 3
    report, _ = import_file(conn, database_url, other, ImportOptions(remap_ids=True))
    assert report.verified
    assert {m["name"] for m in report.merged_types} >= {"Range", "Uptrend"}
    assert counts(conn)["charts"] == 6
    assert counts(conn)["span_label_types"] == 4  # merged by name
    moved = conn.execute(
        "SELECT count(*) FROM span_annotations s JOIN legacy_ids m ON m.new_id = s.id "
        "AND m.table_name = 'span_annotations' JOIN charts c ON c.id = s.chart_id "
        "WHERE c.id > 3"
    ).fetchone()
    assert moved == (40,)  # every span of the second file points at its new chart
    sources = conn.execute("SELECT source FROM charts WHERE id > 3 ORDER BY id").fetchall()
    assert sources == [("legacy:4",), ("legacy:5",), ("legacy:6",)]  # the keys were taken


def test_the_report_is_plain_json(conn: Connection, database_url: str, tmp_path: Path) -> None:
    report, _ = import_file(
        conn, database_url, sample(tmp_path, extra_column=True), ImportOptions()
    )
    assert report.extra_columns == {"charts": ["exchange"]}
    json.dumps(report.problems)


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_every_value_read_back_equals_the_legacy_value_converted(
    conn: Connection, database_url: str, tmp_path: Path, unit: str
) -> None:
    """Independent of the importer's own checksums: SQLite's rows, converted here by hand,
    against PostgreSQL's rows, value by value."""
    path = sample(tmp_path, time_unit=unit)
    import_file(conn, database_url, path, ImportOptions())
    scale = 1000 if unit == "ms" else 1
    with closing(sqlite3.connect(path)) as legacy:
        for table, legacy_sql, pg_sql, convert in EXPECTED:
            want = [convert(row, scale) for row in legacy.execute(legacy_sql)]
            got = [tuple(row) for row in conn.execute(pg_sql)]
            assert got == want, table


def at(epoch: int | None, scale: int) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch / scale, UTC)


def loads(text: str | None) -> object:
    return None if text is None else json.loads(text)


EXPECTED: list[tuple[str, str, str, Callable[[tuple[Any, ...], int], tuple[Any, ...]]]] = [
    ("charts", "SELECT id, name, created_at FROM charts ORDER BY id",
     "SELECT id, name, created_at FROM charts ORDER BY id",
     lambda r, s: (r[0], r[1], at(r[2], s))),
    ("candles", "SELECT chart_id, time, open, high, low, close, volume FROM candles "
     "ORDER BY chart_id, time",
     "SELECT chart_id, time, open, high, low, close, volume FROM candles ORDER BY chart_id, time",
     lambda r, s: (r[0], at(r[1], s), *r[2:6], 0.0 if r[6] is None else r[6])),
    ("annotation_types", "SELECT id, name, color, icon, is_active, created_at "
     "FROM annotation_types ORDER BY id",
     "SELECT id, name, color, shape, is_active, created_at FROM annotation_types ORDER BY id",
     lambda r, s: (*r[:3], r[3] or "circle", bool(r[4]), at(r[5], s))),
    ("annotations", "SELECT id, chart_id, candle_time, type_id, geometry, note, created_at, "
     "updated_at FROM annotations ORDER BY id",
     "SELECT id, chart_id, time, annotation_type_id, geometry, note, created_at, updated_at "
     "FROM annotations ORDER BY id",
     lambda r, s: (r[0], r[1], at(r[2], s), r[3], loads(r[4]), r[5], at(r[6], s),
                   at(r[7] if r[7] is not None else r[6], s))),
    ("span_label_types", "SELECT id, name, color, description, is_active, created_at "
     "FROM span_label_types ORDER BY id",
     "SELECT id, name, color, description, is_active, created_at FROM span_label_types "
     "ORDER BY id",
     lambda r, s: (*r[:4], bool(r[4]), at(r[5], s))),
    ("span_annotations", "SELECT id, chart_id, label_type_id, start_time, end_time, source, "
     "confidence, sub_spans, model_prediction, created_at, updated_at FROM span_annotations "
     "ORDER BY id",
     "SELECT id, chart_id, label_type_id, start_time, end_time, source, status, confidence, "
     "sub_spans, model_prediction, created_at, updated_at FROM span_annotations ORDER BY id",
     lambda r, s: (*r[:3], at(r[3], s), at(r[4], s), r[5],
                   "proposed" if r[5] == "model" else "accepted", r[6], loads(r[7]),
                   loads(r[8]), at(r[9], s), at(r[10] if r[10] is not None else r[9], s))),
]  # fmt: skip


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_rows_still_in_the_wal_are_imported_and_nothing_beside_the_file_changes(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    """The legacy app left its last writes in the -wal, still open: they are imported; the
    folder's files, their sizes and times, are as they were."""
    path = sample(tmp_path)
    with closing(sqlite3.connect(path)) as app:
        app.execute("PRAGMA journal_mode=WAL")
        app.execute("PRAGMA wal_autocheckpoint=0")
        app.execute("INSERT INTO span_label_types (name, color, is_active, created_at) "
                    "VALUES ('Late', '#123456', 1, 1700000000)")  # fmt: skip
        app.commit()
        before = listing(tmp_path)
        report, _ = import_file(conn, database_url, path, ImportOptions())
        assert listing(tmp_path) == before
    assert report.verified
    assert counts(conn)["span_label_types"] == 5
    assert conn.execute("SELECT id FROM span_label_types WHERE name = 'Late'").fetchone() == (5,)


def test_a_value_too_long_is_refused_unread_and_the_rest_imported(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    path = sample(tmp_path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE annotations SET geometry = randomblob(3000000) WHERE id = 4")
    limit = 100_000
    refused, _ = import_file(conn, database_url, path, ImportOptions(max_value=limit))
    assert [(p["table"], p["id"], p["code"], p["field"]) for p in refused.problems] == [
        ("annotations", 4, "too_large", "geometry")]  # fmt: skip
    assert refused.problems[0]["value"] == "a blob of 3,000,000 bytes; at most 100,000"
    assert all(n == 0 for n in counts(conn).values())
    report, _ = import_file(
        conn, database_url, path, ImportOptions(max_value=limit, skip_invalid=True)
    )
    assert report.verified
    assert counts(conn)["annotations"] == 29


def test_a_dry_run_and_the_real_run_refuse_the_same_rows(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    """A NUL in a chart's name, a script for a colour, under --remap-ids: the dry run
    reports what the real run refuses, and neither reaches PostgreSQL with it."""
    import_file(conn, database_url, sample(tmp_path, "first.db"), ImportOptions())
    path = tmp_path / "dirty.db"
    planted = write_sample(path, SampleSpec(seed=2, problems=frozenset(
        {"nul_in_chart_name", "unsafe_colour"})))  # fmt: skip
    runs = [import_file(conn, database_url, path, ImportOptions(remap_ids=True, dry_run=dry))[0]
            for dry in (True, False)]  # fmt: skip
    found = [{(p["table"], p["id"], p["code"]) for p in run.problems} for run in runs]
    assert found == [set(planted), set(planted)]
    assert counts(conn)["charts"] == 3
    report, _ = import_file(
        conn, database_url, path, ImportOptions(remap_ids=True, skip_invalid=True)
    )
    assert report.verified
    assert counts(conn)["charts"] == 6


def test_type_names_clash_with_the_targets_regardless_of_case(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    import_file(conn, database_url, sample(tmp_path, "first.db"), ImportOptions())
    conn.execute("UPDATE span_label_types SET name = 'RANGE ' WHERE name = 'Range'")
    conn.execute("DELETE FROM legacy_imports")
    conn.execute("DELETE FROM legacy_ids")
    conn.execute("TRUNCATE charts CASCADE")
    conn.execute("DELETE FROM annotation_types")
    conn.execute("DELETE FROM span_label_types WHERE name <> 'RANGE '")
    conn.commit()
    path = sample(tmp_path, "second.db", seed=2)
    with pytest.raises(ImportRefused, match="span_label_types names Range"):
        import_file(conn, database_url, path, ImportOptions())
    conn.rollback()
    report, _ = import_file(conn, database_url, path, ImportOptions(remap_ids=True))
    assert report.verified
    assert [m["name"] for m in report.merged_types] == ["Range"]
    assert counts(conn)["span_label_types"] == 4


def test_a_value_postgresql_refuses_after_all_is_one_error_naming_the_group(
    conn: Connection, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a rule missing, PostgreSQL's refusal is a candlelab error, not a driver's."""
    monkeypatch.setattr(conversion, "FIELD_RULES", {})
    path = tmp_path / "nul.db"
    write_sample(path, SampleSpec(problems=frozenset({"nul_in_chart_name"})))
    with pytest.raises(ImportRefused, match="table group parents was not written"):
        import_file(conn, database_url, path, ImportOptions())
    conn.rollback()
    assert all(n == 0 for n in counts(conn).values())
