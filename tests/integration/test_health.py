"""`GET /health` on a real database: 200 when it answers at the head revision, 503 when it
is not migrated, behind, or gone; no token needed even when every other route wants one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from candlelab.store.database import connect
from candlelab.store.urls import database_name
from candlelab.web.access import Access, token_hash
from candlelab.web.app import create_app
from tests.conftest import Databases, drop_database


def test_a_current_schema_is_healthy_without_a_token(database_url: str) -> None:
    guarded = Access([token_hash("s3cret-token")])
    with TestClient(create_app(database_url, guarded)) as client:
        answer = client.get("/health")
        assert answer.status_code == 200
        assert answer.json() == {"database": "ok", "schema": "current"}
        assert client.get("/api/charts").status_code == 401  # the rest still wants a token
        assert client.post("/health").status_code == 401  # only GET is public


def test_a_database_never_migrated_or_behind_is_unhealthy(
    empty_database_url: str, database_url: str
) -> None:
    with TestClient(create_app(empty_database_url)) as client:
        answer = client.get("/health")
        assert answer.status_code == 503
        assert answer.json() == {"database": "ok", "schema": "missing"}
    with connect(database_url) as conn:  # a database left at an old revision
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    with TestClient(create_app(database_url)) as client:
        assert client.get("/health").json() == {"database": "ok", "schema": "out of date"}


def test_a_database_gone_while_serving_is_unhealthy(clones: Databases, server_url: str) -> None:
    url = clones.take()
    try:
        with TestClient(create_app(url)) as client:
            assert client.get("/health").status_code == 200
            drop_database(server_url, database_name(url))  # its connections are ended too
            answer = client.get("/health")
            assert answer.status_code == 503
            assert answer.json() == {"database": "unreachable", "schema": "unknown"}
    finally:
        clones.give_back(url)  # dropped again if the test stopped before
