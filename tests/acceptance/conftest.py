"""Run the `candlelab` command as a user would: a subprocess with its own environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from candlelab.cli.main import main

Cli = Callable[..., subprocess.CompletedProcess[str]]
CANDLELAB_VARIABLES = ("DATABASE_URL", "CANDLELAB_HOME", "CANDLELAB_ARTIFACT_ROOT")


def cli_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """The caller's environment without candlelab's settings, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in CANDLELAB_VARIABLES}
    env["CANDLELAB_ARTIFACT_ROOT"] = (tmp_path / "artifacts").as_uri()
    env["COLUMNS"] = "120"
    return env | variables


def candlelab_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "candlelab", *args]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """candlelab(*args, **variables): run it to the end and return what it printed."""

    def run(*args: str, timeout: float = 120, **variables: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            candlelab_command(*args),
            env=cli_environment(tmp_path, **variables),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def cli_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """The same as `cli`, but the console script's `main` called in this process: for a
    table of refusals, whose every case would pay a process start (about 3 s once MLflow's
    store is imported) to check the same entry point, exit code and one line."""

    def run(*args: str, timeout: float = 0, **variables: str) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patched:  # `timeout`: a process's; none here
            for name in (*CANDLELAB_VARIABLES, "MLFLOW_LOGGING_LEVEL"):  # main sets that
                patched.delenv(name, raising=False)
            for name, value in cli_environment(tmp_path, **variables).items():
                patched.setenv(name, value)
            patched.setattr(sys, "argv", ["candlelab", *args])
            with pytest.raises(SystemExit) as ended:
                main()
        printed = capsys.readouterr()
        code = ended.value.code
        return subprocess.CompletedProcess(args, code if isinstance(code, int) else 1,
                                           printed.out, printed.err)  # fmt: skip

    return run


@pytest.fixture
def cli_then_here(cli: Cli, cli_here: Cli) -> Cli:
    """The first call a process (the console script as a user runs it), every later one
    in this process (`cli_here`): a test of many commands pays one process start, not one
    each. A worker, whose signals and threads are a process's, is run by `cli`."""
    calls: list[tuple[str, ...]] = []

    def run(*args: str, **variables: Any) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return (cli if len(calls) == 1 else cli_here)(*args, **variables)

    return run


@pytest.fixture
def cli_json(cli: Cli, cli_here: Cli, database_url: str, artifact_root: str) -> Callable[..., Any]:
    """candlelab(*args) with --json on the test's database and artifact store: exit 0
    asserted, what it printed parsed. In this process, but a worker in its own."""

    def run(*args: str) -> Any:
        runner = cli if args[0] == "worker" else cli_here
        done = runner(*args, "--json", DATABASE_URL=database_url,
                      CANDLELAB_ARTIFACT_ROOT=artifact_root)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Failed with a non-zero exit and a single error line naming what went wrong."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in lines[0], lines[0]
