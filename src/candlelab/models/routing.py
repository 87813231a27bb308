"""A/B and shadow routing of prediction requests among a model's serving versions.

A request for a (chart, bar) draws a number in [0, 1) from a stable hash of the chart id
and the bar's open time: the same request always draws the same number, in every process
and after a restart, so it is served by the same version and a split can be replayed.
Challengers take their shares of the draws in the order of their aliases' names; the
champion serves the rest. Shadows predict on every request and serve none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CHAMPION = "champion"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DRAWS = 2.0**64  # a draw is a 64-bit hash over this


@dataclass(frozen=True)
class Serving:
    """A version serving under an alias: the share of requests it serves (0 for a
    shadow, which predicts on every request without serving)."""

    alias: str
    version: int
    traffic_share: float
    shadow: bool = False


def draw(chart_id: int, bar_time: datetime) -> float:
    """The request's number in [0, 1): blake2b of the chart id and the bar's open time in
    microseconds since the epoch (a naive time is taken as UTC)."""
    moment = bar_time if bar_time.tzinfo is not None else bar_time.replace(tzinfo=UTC)
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    digest = hashlib.blake2b(f"{chart_id}:{micros}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / DRAWS


def routed(servings: Sequence[Serving], chart_id: int,
           bar_time: datetime) -> tuple[Serving | None, list[Serving]]:  # fmt: skip
    """(the version that serves the request, the shadows that predict beside it). None
    serves when the draw falls beyond the challengers' shares and there is no champion."""
    shadows = [s for s in servings if s.shadow]
    point, reached = draw(chart_id, bar_time), 0.0
    for serving in sorted(_challengers(servings), key=lambda s: s.alias):
        reached += serving.traffic_share
        if point < reached:
            return serving, shadows
    champion = next((s for s in servings if s.alias == CHAMPION), None)
    return champion, shadows


def _challengers(servings: Sequence[Serving]) -> list[Serving]:
    return [s for s in servings if s.alias != CHAMPION and not s.shadow and s.traffic_share > 0]


def champion_share(challengers: Sequence[float]) -> float:
    """What the champion serves: what the challengers' shares leave."""
    return max(0.0, 1.0 - sum(challengers))
