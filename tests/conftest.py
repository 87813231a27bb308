"""The suite runs on real PostgreSQL: TEST_DATABASE_URL's server, or a fresh embedded one.

The schema (candlelab's and MLflow's) is migrated once into a template database; each
test that needs a database gets its own clone (CREATE DATABASE ... TEMPLATE), so tests
never share rows and stay fast. A clone takes about half a second (the server copies and
WAL-logs every page of the template, its system catalogs included), so the next tests'
clones are made in threads while a test runs, and a used one is dropped there too.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
BROWSER_TESTS = Path(__file__).parent / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that never reach the server under test `serverless` and the
    browser's `slow`, so that a second pass on another server (`make test`) can leave out
    what it would only repeat; skip the embedded server's own tests when the run is on
    another server."""
    for item in items:
        if "server_url" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.serverless)
        if BROWSER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.slow)
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
    url = server.start()
    without_flushes(url)
    yield url
    server.stop()


# The session's own throw-away server need not survive a power cut: without flushing to
# disk a clone takes half the time (0.28 -> 0.15 s) and so does every commit. A crash of
# PostgreSQL itself, which tests provoke, still loses nothing (the writes are in the
# operating system's cache); servers users run, and TEST_DATABASE_URL's, keep theirs.
NO_FLUSHES = ("ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET full_page_writes = off")


def without_flushes(url: str) -> None:
    with psycopg.connect(_admin(url), autocommit=True) as admin:
        for statement in NO_FLUSHES:
            admin.execute(statement)
        admin.execute("SELECT pg_reload_conf()")


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


# Databases made ahead, each in a thread of its own: a server makes two clones at once
# in about 0.7 of the time it takes for them one after the other (so a run of short
# tests waits less), and a third gains nothing.
AHEAD = 2


class Databases:
    """New databases for one test each, the next ones made ahead in threads.

    A test takes a database made while the tests before it ran; nobody else ever used it.
    Once its test is done a database is dropped, in the same threads.
    """

    def __init__(self, server_url: str, prefix: str, template: str | None = None) -> None:
        self.server_url, self.prefix, self.template = server_url, prefix, template
        self.worker = ThreadPoolExecutor(max_workers=AHEAD, thread_name_prefix=prefix)
        self.ahead: deque[Future[str]] = deque()
        self.dropped: list[Future[None]] = []

    def take(self) -> str:
        made = self.ahead.popleft() if self.ahead else self.worker.submit(self._create)
        while len(self.ahead) < AHEAD:
            self.ahead.append(self.worker.submit(self._create))
        return made.result()

    def give_back(self, url: str) -> None:
        name = database_name(url)
        self.dropped.append(self.worker.submit(drop_database, self.server_url, name))

    def close(self) -> None:
        while self.ahead:
            self.give_back(self.ahead.popleft().result())
        self.worker.shutdown(wait=True)
        for drop in self.dropped:
            drop.result()  # a drop that failed fails the session here

    def _create(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        return create_database(self.server_url, name, template=self.template)


@pytest.fixture(scope="session")
def clones(server_url: str, template_url: str) -> Iterator[Databases]:
    databases = Databases(server_url, "candlelab_test", template=database_name(template_url))
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def empty_databases(server_url: str) -> Iterator[Databases]:
    databases = Databases(server_url, "candlelab_empty")
    yield databases
    databases.close()


@pytest.fixture
def database_url(clones: Databases) -> Iterator[str]:
    """A database of this test's own, at the newest schema."""
    url = clones.take()
    yield url
    clones.give_back(url)


@pytest.fixture
def empty_database_url(empty_databases: Databases) -> Iterator[str]:
    """A database of this test's own with no schema at all."""
    url = empty_databases.take()
    yield url
    empty_databases.give_back(url)


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
    """A new database whose commits do not wait for their WAL to reach the disk: a test's
    data need not outlive a crash of the server, and the suite's many small transactions
    take a quarter less time on a server that flushes (PostgreSQL 15's pass: 17.3 -> 12.4
    s for one sample of files). What a transaction sees is the same either way."""
    created = sql.Identifier(name)
    statement = sql.SQL("CREATE DATABASE {}").format(created)
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(_admin(server_url), autocommit=True) as admin:
        admin.execute(statement)
        admin.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(created))
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(_admin(server_url), autocommit=True) as admin:
        admin.execute(statement)


def _admin(server_url: str) -> str:
    return with_database(server_url, "postgres")
