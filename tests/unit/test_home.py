"""CANDLELAB_HOME is claimed only when new or empty, and a foreign data directory is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlelab.errors import HomeError
from candlelab.store.embedded import MARKER, check_home


def test_a_new_home_is_created_and_marked(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"
    check_home(home)
    assert (home / MARKER).exists()
    check_home(home)  # and accepted from then on


def test_a_directory_holding_other_files_is_not_taken(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(HomeError, match="is not a candlelab home"):
        check_home(tmp_path)
    assert not (tmp_path / MARKER).exists()


def test_a_pg_directory_that_is_not_postgres_data_is_refused(tmp_path: Path) -> None:
    check_home(tmp_path)
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "notes.txt").write_text("x")
    with pytest.raises(HomeError, match="not a PostgreSQL data directory"):
        check_home(tmp_path)


def test_data_from_another_postgres_version_is_refused(tmp_path: Path) -> None:
    check_home(tmp_path)
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "PG_VERSION").write_text("15\n")
    with pytest.raises(HomeError, match="made by PostgreSQL 15"):
        check_home(tmp_path)


def test_a_home_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(HomeError, match="cannot be used"):
        check_home(tmp_path / "file" / "home")
