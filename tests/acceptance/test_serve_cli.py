"""`candlelab serve` as a user starts it: on 127.0.0.1 it answers; elsewhere it wants tokens."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.acceptance.conftest import Cli, assert_one_line_error, candlelab_command, cli_environment


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_on_loopback_until_stopped(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        candlelab_command("serve", "--port", str(port)),
        env=cli_environment(tmp_path, DATABASE_URL=database_url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        listed = _get_json(f"http://127.0.0.1:{port}/api/charts", deadline=time.monotonic() + 30)
        assert listed == {"total": 0, "items": []}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serving_beyond_loopback_without_tokens_is_refused(cli: Cli, database_url: str) -> None:
    refused = cli("serve", "--host", "0.0.0.0", DATABASE_URL=database_url)
    assert_one_line_error(refused, "refusing to serve on 0.0.0.0", "CANDLELAB_TOKEN_HASHES")
    leaked = cli("serve", DATABASE_URL=database_url, CANDLELAB_TOKEN_HASHES="my-secret-token")
    assert_one_line_error(leaked, "CANDLELAB_TOKEN_HASHES", "is not a SHA-256 hex digest")
    assert "my-secret-token" not in leaked.stderr


def _get_json(url: str, deadline: float) -> object:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return json.loads(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
