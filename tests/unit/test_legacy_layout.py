"""Opening a legacy file: nothing beside it created or changed, its WAL's rows read all the
same, and errors that name the file and never show what it holds."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from candlelab.errors import InputError
from candlelab.legacy.conversion import read_table
from candlelab.legacy.layout import check_layout, open_readonly, readable
from candlelab.legacy.sample import SampleSpec, write_sample


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file in the folder: its size and modification time."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


@contextmanager
def writer_in_wal_mode(path: Path) -> Iterator[sqlite3.Connection]:
    """The legacy app as it runs: the file in WAL mode, writes left in the -wal (never
    checkpointed), the connection open while the import reads."""
    write_sample(path, SampleSpec(candles_per_chart=50))
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("INSERT INTO charts (name, symbol, timeframe, created_at) "
                   "VALUES ('late', 'LATE', '1h', 1700000000)")  # fmt: skip
        db.commit()
        yield db


def charts_read(path: Path) -> list[str]:
    with readable(path) as source:
        return read_table(source.read, "charts")["name"].to_list()


def test_a_file_without_journal_is_read_with_nothing_made_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "candles.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db:  # WAL mode, cleanly closed: no -wal left
        db.execute("PRAGMA journal_mode=WAL")
    before = listing(tmp_path)
    assert len(charts_read(path)) == 3
    assert listing(tmp_path) == before


def test_rows_still_in_the_wal_are_read_and_nothing_beside_the_file_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "candles.db"
    with writer_in_wal_mode(path):
        before = listing(tmp_path)
        assert set(before) >= {"candles.db", "candles.db-wal"}
        assert charts_read(path)[-1] == "late"  # only in the -wal
        assert listing(tmp_path) == before


def test_the_wal_of_a_file_is_read_when_only_the_files_are_left(tmp_path: Path) -> None:
    """A copy of a running app's file and its -wal (no -shm, nobody writing): the same."""
    running = tmp_path / "running"
    running.mkdir()
    copied = tmp_path / "copied"
    copied.mkdir()
    with writer_in_wal_mode(running / "candles.db"):
        for name in ("candles.db", "candles.db-wal"):
            shutil.copy2(running / name, copied / name)
    before = listing(copied)
    assert charts_read(copied / "candles.db")[-1] == "late"
    assert listing(copied) == before


def test_a_file_with_its_wal_hashes_both(tmp_path: Path) -> None:
    path = tmp_path / "candles.db"
    with writer_in_wal_mode(path) as db, readable(path) as first:
        db.execute("INSERT INTO charts (name, created_at) VALUES ('later', 1700000000)")
        db.commit()
        with readable(path) as second:
            assert first.sha256 is not None
            assert first.sha256 != second.sha256
            assert first.read != path


def test_a_symlink_to_a_text_file_is_named_and_nothing_of_it_shown(tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:the secret first line\n")
    link = tmp_path / "candles.db"
    link.symlink_to(secret)
    with pytest.raises(InputError) as refused, readable(link):
        pass
    assert str(link) in str(refused.value)
    assert "not a SQLite database" in str(refused.value)
    assert "root" not in str(refused.value).replace(str(tmp_path), "")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "a directory, not a SQLite file"),
        (lambda p: None, "no such file"),
        (os.mkfifo, "not a regular file"),
    ],
)
def test_what_is_not_a_file_is_named(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "candles.db"
    make(path)  # type: ignore[operator]
    with pytest.raises(InputError, match=message), readable(path):
        pass


def test_the_layout_names_the_users_file_not_the_copy(tmp_path: Path) -> None:
    path = tmp_path / "candles.db"
    with writer_in_wal_mode(path) as db:
        db.execute("DROP TABLE span_label_types")
        db.commit()
        with (
            readable(path) as source,
            closing(open_readonly(source.read)) as conn,
            pytest.raises(InputError, match="missing table") as refused,
        ):
            check_layout(conn, source)
    assert str(refused.value).startswith(str(path))
