"""`candlelab signals index | indexes` as a user runs it: an index on one feature, listed,
made once, dropped; a name that is not a feature column's refused in one line."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.conftest import Cli, assert_one_line_error

# Whole commands (in this process): run on the first server only (`make test`); the
# integration tests run the same code on both.
pytestmark = pytest.mark.slow


def test_index_a_feature_list_it_make_it_again_and_drop_it(
    cli_here: Cli, database_url: str
) -> None:
    def signals(*args: str) -> str:
        done = cli_here("signals", *args, DATABASE_URL=database_url)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "no feature index" in signals("indexes")
    made = signals("index", "rsi_14")
    assert "index ix_signals_feature_rsi_14 made" in made
    assert "WHERE (features->>'rsi_14')::double precision < 30" in made
    assert "ix_signals_feature_rsi_14 already there" in signals("index", "rsi_14")
    again = json.loads(signals("index", "rsi_14", "--json"))
    assert (again["action"], again["index"]["name"]) == ("exists", "ix_signals_feature_rsi_14")
    [listed] = json.loads(signals("indexes", "--json"))
    assert (listed["feature"], listed["valid"]) == ("rsi_14", True)
    assert "ix_signals_feature_rsi_14" in signals("indexes")

    assert "index ix_signals_feature_rsi_14 dropped" in signals("index", "rsi_14", "--drop")
    assert "nothing to drop" in signals("index", "rsi_14", "--drop")
    assert json.loads(signals("indexes", "--json")) == []
    longest = json.loads(signals("index", "f" * 44, "--json"))  # the name's 63 bytes
    assert longest["index"]["name"] == f"ix_signals_feature_{'f' * 44}"


@pytest.mark.parametrize(
    "name", ["RSI_14", "rsi-14", "1rsi", "rsi_14; DROP TABLE signals", "", "f" * 45]
)
def test_a_name_that_is_not_a_feature_column_is_refused(
    cli_here: Cli, database_url: str, name: str
) -> None:
    done = cli_here("signals", "index", name, DATABASE_URL=database_url)
    assert_one_line_error(done, "not a feature column name", "at most 44 characters")
    assert "ix_signals_feature" not in done.stdout


def test_a_server_error_no_command_foresees_is_one_line_with_its_sqlstate(
    cli: Cli, database_url: str
) -> None:
    """A read-only server (a standby, say) refuses the build: one line naming PostgreSQL's
    message and state, no traceback, exit 1. In a process of its own: PGOPTIONS set in
    this one would reach the fixtures' threads that make the next tests' databases."""
    refused = cli("signals", "index", "rsi_14", DATABASE_URL=database_url,
                  PGOPTIONS="-c default_transaction_read_only=on")  # fmt: skip
    assert_one_line_error(refused, "PostgreSQL failed the command: cannot execute CREATE INDEX",
                          "(SQLSTATE 25006)")  # fmt: skip
    assert refused.returncode == 1
