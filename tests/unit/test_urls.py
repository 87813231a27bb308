from __future__ import annotations

import psycopg.conninfo
from hypothesis import given
from hypothesis import strategies as st

from candlelab.store.urls import (
    database_name,
    describe,
    libpq_url,
    redact,
    sqlalchemy_url,
    with_database,
    with_search_path,
)

SOCKET_URL = "postgresql://postgres@localhost/candle_annotator?host=/tmp/home/pg"
PASSWORD_URL = "postgresql://ana:s3cret@db.example:6543/candle_annotator?sslmode=require"


def test_redact_hides_the_password_and_keeps_the_rest() -> None:
    assert redact(PASSWORD_URL) == (
        "postgresql://ana:***@db.example:6543/candle_annotator?sslmode=require"
    )
    assert redact(SOCKET_URL) == SOCKET_URL


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=20))
def test_no_password_survives_redact_or_describe(password: str) -> None:
    url = f"postgresql://ana:{password}@db.example:5432/x"
    assert f":{password}@" not in redact(url)
    assert password not in describe(url).replace("ana@db.example:5432/x", "")


def test_describe_names_user_host_port_and_database() -> None:
    assert describe(PASSWORD_URL) == "ana@db.example:6543/candle_annotator"
    assert describe(SOCKET_URL) == "postgres@/tmp/home/pg:5432/candle_annotator"


def test_driver_forms() -> None:
    assert sqlalchemy_url(SOCKET_URL).startswith("postgresql+psycopg://postgres@localhost/")
    assert libpq_url(sqlalchemy_url(SOCKET_URL)) == SOCKET_URL
    assert libpq_url("postgres://a@b/c") == "postgresql://a@b/c"


def test_search_path_reaches_libpq_as_an_option() -> None:
    parsed = psycopg.conninfo.conninfo_to_dict(with_search_path(SOCKET_URL, "mlflow"))
    assert parsed["options"] == "-csearch_path=mlflow"
    assert parsed["host"] == "/tmp/home/pg"
    twice = with_search_path(with_search_path(SOCKET_URL, "a"), "mlflow")
    assert psycopg.conninfo.conninfo_to_dict(twice)["options"] == "-csearch_path=mlflow"


def test_with_database_keeps_server_and_login() -> None:
    other = with_database(SOCKET_URL, "t1")
    assert database_name(other) == "t1"
    assert other == "postgresql://postgres@localhost/t1?host=/tmp/home/pg"
