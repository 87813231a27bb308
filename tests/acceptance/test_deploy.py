"""The deployment in deploy/, on a machine with no Docker engine.

What can be checked here is: the compose file against the Compose specification's JSON
schema (check-jsonschema's bundled copy, no network), its wiring (who waits for whom,
volumes, the database name), and each candlelab service run as the file writes it. Its
command and environment are read from the file as Compose would read them (tests/fixtures/
compose.py), with a `.env` made from .env.example in which DATABASE_URL names a test
database, the artifact store a temporary folder and the host ports free ones; the
upgrade one-shot must exit 0, and each long-running service then answer its own health
check. Docker itself (the image build, the TimescaleDB container, the network, the
volumes) is not run here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from candlelab.settings import Settings
from candlelab.store import migrations
from candlelab.store.database import connect
from candlelab.web.access import token_hash
from tests.acceptance.conftest import candlelab_command, cli_environment
from tests.acceptance.test_serve_cli import free_port
from tests.conftest import Databases
from tests.fixtures.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    MissingVariable,
    Service,
    read_compose,
    read_env_file,
    service,
)

CHECK_SCHEMA = [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                "vendor.compose-spec"]  # fmt: skip
TOKEN = "a-token-for-the-deployment-test"
HEALTHY_WITHIN = 120.0  # seconds; MLflow's UI takes the longest to start
UPGRADE = "migrate"
LONG_RUNNING = ("serve", "worker", "mlflow-ui")
LISTENING = """SELECT 1 FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'"""


def test_the_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    checked = subprocess.run([*CHECK_SCHEMA, str(COMPOSE_FILE)], capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The validator does refuse a file that breaks the specification.
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE_FILE.read_text()
    broken.write_text(text.replace("service_completed_successfully", "service_exited"))
    refused = subprocess.run([*CHECK_SCHEMA, str(broken)], capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert refused.returncode == 1, refused.stdout
    assert "service_exited" in refused.stdout


def test_everything_waits_for_the_upgrade_on_one_database() -> None:
    compose = read_compose(filled_env_example())
    services = compose["services"]
    assert set(services) == {"db", UPGRADE, *LONG_RUNNING}
    assert services[UPGRADE]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services[UPGRADE]["command"] == ["candlelab", "db", "upgrade"]
    for name in LONG_RUNNING:
        waits_for = {UPGRADE: {"condition": "service_completed_successfully"}}
        assert services[name]["depends_on"] == waits_for, name
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
        assert "artifacts:/var/lib/candlelab/artifacts" in services[name]["volumes"], name
    assert services["db"]["image"].startswith("timescale/timescaledb:")
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert set(compose["volumes"]) == {"pgdata", "artifacts"}
    database = urlsplit(read_env_file(ENV_EXAMPLE)["DATABASE_URL"])
    postgres = services["db"]["environment"]
    assert (database.hostname, database.path) == ("db", "/candle_annotator")
    assert (database.username, postgres["POSTGRES_DB"]) == (postgres["POSTGRES_USER"],
                                                            "candle_annotator")  # fmt: skip


def test_compose_refuses_to_start_until_the_secrets_are_set() -> None:
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        read_compose(read_env_file(ENV_EXAMPLE))  # as copied: no password, no token digests
    with pytest.raises(MissingVariable, match="CANDLELAB_TOKEN_HASHES"):
        read_compose(filled_env_example() | {"CANDLELAB_TOKEN_HASHES": ""})


def test_the_env_example_names_every_setting() -> None:
    text = ENV_EXAMPLE.read_text()
    for field in Settings.model_fields.values():
        variable = str(field.validation_alias)
        assert f"\n{variable}=" in text or f"\n# {variable}=" in text, variable


@pytest.fixture(scope="module")
def upgraded(
    empty_databases: Databases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    """An empty database after the upgrade one-shot ran on it as the compose file says."""
    url = empty_databases.take()
    upgrade = deployed(UPGRADE, url, tmp_path_factory.mktemp("migrate"))
    done = subprocess.run(upgrade.command, env=upgrade.environment, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    yield url, done
    empty_databases.give_back(url)


@pytest.mark.slow
def test_the_upgrade_one_shot_exits_0(
    upgraded: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    url, done = upgraded
    assert done.returncode == 0, done.stderr
    assert migrations.current(url) == migrations.head()
    with connect(url) as conn:  # MLflow's tables too
        assert conn.execute("SELECT to_regclass('mlflow.experiments')").fetchone() != (None,)


@pytest.mark.slow
@pytest.mark.parametrize("name", LONG_RUNNING)
def test_each_service_answers_its_health_check(
    name: str, upgraded: tuple[str, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    if name == "worker" and not has_command("worker"):
        pytest.skip("`candlelab worker` is not on this branch yet (it comes with worker18)")
    url, done = upgraded
    assert done.returncode == 0, done.stderr  # what the others wait for
    running = deployed(name, url, tmp_path)
    with started(running, tmp_path) as process:
        wait_healthy(running, process, tmp_path)
        assert process.poll() is None, "the service stopped after its health check passed"
        if name == "serve":
            check_serve(running.environment)
        if name == "worker":
            wait_listening(url, process)


def deployed(name: str, database_url: str, tmp_path: Path) -> Service:
    """Service `name` of the compose file as it would run here: its command and health
    check made local (`candlelab` is this checkout's, `python` this interpreter), its
    environment the caller's (PATH, PYTHONPATH) under what Compose passes."""
    variables = filled_env_example(database_url, tmp_path)
    found = service(read_compose(variables), name, variables)
    image = {"CANDLELAB_HOME": str(tmp_path / "home")}  # the Dockerfile's ENV
    environment = cli_environment(tmp_path) | image | found.environment
    check = local(found.healthcheck) if found.healthcheck else None
    return Service(name, local(found.command), environment, check, found.health_timeout)


def filled_env_example(database_url: str = "postgresql://candlelab:pw@db:5432/candle_annotator",
                       tmp_path: Path | None = None) -> dict[str, str]:  # fmt: skip
    """.env.example filled in as its comments ask, for this machine."""
    filled = read_env_file(ENV_EXAMPLE) | {
        "POSTGRES_PASSWORD": "unused-here",
        "DATABASE_URL": database_url,
        "CANDLELAB_TOKEN_HASHES": token_hash(TOKEN),
        "SERVE_PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
    }
    if tmp_path is not None:  # the artifact volume's place
        filled["CANDLELAB_ARTIFACT_ROOT"] = str(tmp_path / "artifacts")  # a path, as there
    return filled


def local(argv: list[str]) -> list[str]:
    if argv[0] == "candlelab":
        return candlelab_command(*argv[1:])
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return argv


def has_command(name: str) -> bool:
    from candlelab.cli.main import app

    return any(command.name == name for command in app.registered_commands)


@contextmanager
def started(running: Service, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The service's process, in a session of its own so that the processes it starts
    (MLflow's server, the worker's jobs) are stopped with it."""
    with (tmp_path / f"{running.name}.log").open("wb") as log:
        process = subprocess.Popen(running.command, env=running.environment, cwd=tmp_path,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_healthy(running: Service, process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    """Run the service's health check until it passes, as Docker would; fail if the
    service exits first or it never passes."""
    assert running.healthcheck is not None, f"{running.name} has no health check"
    deadline = time.monotonic() + HEALTHY_WITHIN
    while True:
        if process.poll() is not None:
            log = (tmp_path / f"{running.name}.log").read_text()
            pytest.fail(f"{running.name} exited {process.returncode}:\n{log[-3000:]}")
        check = subprocess.run(running.healthcheck, env=running.environment,
                               capture_output=True, text=True,
                               timeout=running.health_timeout, check=False)  # fmt: skip
        if check.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{running.name}: {check.stderr[-2000:]}"
        time.sleep(0.5)


def wait_listening(url: str, process: subprocess.Popen[bytes]) -> None:
    """The worker itself, not only its health check, reached the database: it waits on
    the queue's channel (LISTEN) for jobs."""
    deadline = time.monotonic() + HEALTHY_WITHIN
    with connect(url, autocommit=True) as conn:
        while not conn.execute(LISTENING).fetchone():
            assert process.poll() is None, f"the worker exited {process.returncode}"
            assert time.monotonic() < deadline, "the worker never listened on the queue"
            time.sleep(0.2)


def check_serve(environment: dict[str, str]) -> None:
    """Its /health answers without a token; the rest wants the one whose digest is set."""
    base = f"http://127.0.0.1:{_port(environment)}"
    with urllib.request.urlopen(f"{base}/health", timeout=5) as answer:
        assert answer.read() == b'{"database":"ok","schema":"current"}'
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/api/charts", timeout=5)
    assert refused.value.code == 401
    signed = urllib.request.Request(f"{base}/api/charts",
                                    headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    with urllib.request.urlopen(signed, timeout=5) as answer:
        assert answer.status == 200


def _port(environment: dict[str, str]) -> str:
    return environment["SERVE_PORT"]  # the `.env` reaches the container (env_file)
