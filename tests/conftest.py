"""The suite runs on real PostgreSQL: TEST_DATABASE_URL's server, or a fresh embedded one.

The schema (candlelab's and MLflow's) is migrated once into a template database; each
test that needs a database gets its own clone (CREATE DATABASE ... TEMPLATE), so tests
never share rows and stay fast.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from candlelab.store import migrations
from candlelab.store.database import Connection, connect
from candlelab.store.embedded import EmbeddedServer
from candlelab.store.urls import database_name, with_database
from candlelab.training.tracking import upgrade_tracking_schema

EXTERNAL_URL = os.environ.get("TEST_DATABASE_URL") or None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if EXTERNAL_URL is None:
        return
    skip = pytest.mark.skip(reason="tests candlelab's embedded server; this run is on another")
    for item in items:
        if "embedded" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL on the server under test (its database is only used to administer others)."""
    if EXTERNAL_URL is not None:
        yield EXTERNAL_URL
        return
    server = EmbeddedServer(tmp_path_factory.mktemp("session-home"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tmp_path_factory.mktemp("artifacts").as_uri()


@pytest.fixture(scope="session")
def template_url(server_url: str, artifact_root: str) -> Iterator[str]:
    """A database migrated to head (candlelab's tables and MLflow's), cloned by each test."""
    name = f"candlelab_template_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    migrations.upgrade(url)
    upgrade_tracking_schema(url, artifact_root)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def database_url(server_url: str, template_url: str) -> Iterator[str]:
    """A database of this test's own, at the newest schema."""
    name = f"candlelab_test_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=database_name(template_url))
    yield url
    drop_database(server_url, name)


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A database of this test's own with no schema at all."""
    name = f"candlelab_empty_{uuid.uuid4().hex[:8]}"
    yield create_database(server_url, name)
    drop_database(server_url, name)


@pytest.fixture
def conn(database_url: str) -> Iterator[Connection]:
    with connect(database_url) as connection:
        yield connection


@pytest.fixture
def embedded_home(tmp_path: Path) -> Iterator[Path]:
    """A fresh CANDLELAB_HOME; whatever server a test starts in it is stopped afterwards."""
    home = tmp_path / "home"
    yield home
    if (home / "pg").exists():
        EmbeddedServer(home).stop()


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(_admin(server_url), autocommit=True) as admin:
        admin.execute(statement)
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(_admin(server_url), autocommit=True) as admin:
        admin.execute(statement)


def _admin(server_url: str) -> str:
    return with_database(server_url, "postgres")
