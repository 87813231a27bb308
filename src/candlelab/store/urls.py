"""PostgreSQL URLs in the forms each client wants, and descriptions that never show a password."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

LIBPQ_SCHEME = "postgresql"
SQLALCHEMY_SCHEME = "postgresql+psycopg"


def libpq_url(url: str) -> str:
    """The URL as libpq, psql and psycopg accept it (no SQLAlchemy driver suffix)."""
    return _with_scheme(url, LIBPQ_SCHEME)


def sqlalchemy_url(url: str) -> str:
    """The URL for SQLAlchemy, pinned to psycopg 3 (SQLAlchemy's default would be psycopg2)."""
    return _with_scheme(url, SQLALCHEMY_SCHEME)


def with_search_path(url: str, schema: str) -> str:
    """The URL with `schema` as the connection's search_path (how MLflow is kept in its schema)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def describe(url: str) -> str:
    """Where a URL points, as a person reads it: user@host:port/database (socket paths included)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "localhost"
    port = query.get("port") or parts.port or 5432
    user = query.get("user") or parts.username or ""
    where = f"{host}:{port}/{parts.path.lstrip('/')}"
    return f"{user}@{where}" if user else where


def _with_scheme(url: str, scheme: str) -> str:
    return scheme + url[url.index("://") :]
