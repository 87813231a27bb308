"""A/B routing: a stable hash of (chart, bar time) splits requests by the shares of the
serving set, which MLflow's aliases and the newest recorded moves make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from candlelab.models.deployments import Move, servings
from candlelab.models.prediction import is_routed
from candlelab.models.routing import Serving, draw, routed
from candlelab.training.proposals import ModelReference

START = datetime(2024, 3, 1, tzinfo=UTC)
BARS = [(chart, START + timedelta(minutes=15 * i)) for chart in (1, 2) for i in range(5_000)]


def served_share(servings: list[Serving], alias: str) -> float:
    chosen = [routed(servings, chart, time)[0] for chart, time in BARS]
    return sum(s is not None and s.alias == alias for s in chosen) / len(BARS)


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.9])
def test_over_ten_thousand_bars_a_challenger_serves_its_share_within_two_points(
    share: float,
) -> None:
    servings = [Serving("champion", 1, 1 - share), Serving("challenger", 2, share)]
    assert abs(served_share(servings, "challenger") - share) < 0.02
    assert abs(served_share(servings, "champion") - (1 - share)) < 0.02


def test_two_challengers_split_their_shares_and_the_champion_serves_the_rest() -> None:
    servings = [Serving("champion", 1, 0.5), Serving("a", 2, 0.3), Serving("b", 3, 0.2)]
    assert [round(served_share(servings, alias), 1) for alias in ("champion", "a", "b")] == [
        0.5, 0.3, 0.2]  # fmt: skip


def test_a_request_is_routed_the_same_way_every_time_and_a_naive_time_is_utc() -> None:
    servings = [Serving("champion", 1, 0.5), Serving("challenger", 2, 0.5)]
    first = [routed(servings, chart, time) for chart, time in BARS[:1000]]
    assert first == [routed(list(reversed(servings)), chart, time) for chart, time in BARS[:1000]]
    assert draw(7, START) == draw(7, START.replace(tzinfo=None)) == draw(7, START)
    assert draw(7, START) != draw(8, START) != draw(7, START + timedelta(microseconds=1))


def test_draws_are_uniform_in_the_unit_interval() -> None:
    draws = [draw(chart, time) for chart, time in BARS]
    assert all(0 <= d < 1 for d in draws)
    deciles = [sum(int(d * 10) == k for d in draws) / len(draws) for k in range(10)]
    assert all(abs(p - 0.1) < 0.015 for p in deciles)


def test_shadows_predict_on_every_request_and_without_a_champion_the_rest_is_unserved() -> None:
    shadow = Serving("shadow", 3, 0.0, shadow=True)
    servings = [Serving("challenger", 2, 0.3), shadow]
    chosen = [routed(servings, chart, time) for chart, time in BARS]
    assert all(shadows == [shadow] for _, shadows in chosen)
    assert {s.alias if s else None for s, _ in chosen} == {"challenger", None}


def move(alias: str, version: int | None, share: float, shadow: bool = False) -> Move:
    return Move(1, "m", alias, "promote", version, None, share, shadow, "ann", "r")


def test_the_serving_set_is_mlflows_aliases_with_the_shares_of_their_newest_moves() -> None:
    recorded = {"champion": move("champion", 1, 1.0), "b": move("b", 3, 0.25),
                "watch": move("watch", 4, 0.0, shadow=True),
                "gone": move("gone", 5, 0.5)}  # fmt: skip
    truth = {"champion": 2, "b": 3, "watch": 4, "ui-only": 6}  # champion moved in MLflow's UI
    assert servings(truth, recorded) == [Serving("champion", 2, 0.75), Serving("b", 3, 0.25),
                                         Serving("watch", 4, 0.0, True)]  # fmt: skip
    assert servings({"b": 3}, recorded) == [Serving("b", 3, 0.25)]
    assert servings({}, recorded) == []


def test_only_a_bare_name_is_routed() -> None:
    assert [is_routed(ModelReference.parse(text)) for text in ("m", "m@champion", "m/2")] == [
        True, False, False]  # fmt: skip
