"""A first labeller's assistant: trend spans proposed from the closes, for review.

A bar is trending when the log return over the last `window` bars is beyond `threshold`
times what the bars' own volatility would give by chance (a t-like score). Runs of such
bars of one sign, at least `window` long, become proposals (`source='model'`,
`status='proposed'`) whose confidence grows with the run's mean score. It is the demo's
stand-in for a trained model until one is registered; the annotator reviews both alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from candlelab.labels.spans import NewSpan, add_span
from candlelab.market.quality import runs
from candlelab.store.database import Connection

PROPOSER = "trend detector (demo)"


@dataclass(frozen=True)
class Proposal:
    first: int  # index of the first bar
    last: int  # index of the last bar
    direction: int  # +1 up, -1 down
    confidence: float


def trend_proposals(close: NDArray[np.float64], window: int = 20,
                    threshold: float = 1.5) -> list[Proposal]:  # fmt: skip
    """Runs of bars whose `window`-bar move is beyond `threshold` chance-sized moves."""
    score = _trend_score(close, window)
    found = []
    for direction in (1, -1):
        for first, last in runs(direction * score > threshold, minimum=window // 2):
            strength = float(np.mean(np.abs(score[first : last + 1])))
            # The move the score measures began `window` bars before the score rose.
            begun = max(first - window, 0)
            found.append(Proposal(begun, last, direction, _confidence(strength, threshold)))
    return sorted(found, key=lambda p: p.first)


def propose(conn: Connection, chart_id: int, times: list[datetime], proposals: list[Proposal],
            labels: dict[int, int]) -> int:  # fmt: skip
    """Store proposals as model spans with the label of their direction; how many."""
    for p in proposals:
        span = NewSpan(chart_id, labels[p.direction], times[p.first], times[p.last],
                       source="model", status="proposed", confidence=round(p.confidence, 3),
                       created_by=PROPOSER)  # fmt: skip
        add_span(conn, span)
    return len(proposals)


def _trend_score(close: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    logs = np.log(close)
    steps = np.diff(logs, prepend=logs[0])
    score = np.zeros(len(close))
    if len(close) <= window:
        return score
    moves = logs[window:] - logs[:-window]
    # Each bar's volatility from the bars before it (four windows back).
    scale = np.array([steps[max(i - 4 * window, 1) : i + 1].std()
                      for i in range(window, len(close))])  # fmt: skip
    score[window:] = moves / np.maximum(scale * np.sqrt(window), 1e-12)
    return score


def _confidence(strength: float, threshold: float) -> float:
    """0.5 at the threshold, towards 1 as the trend gets stronger."""
    return float(1 - 0.5 * np.exp(-(strength - threshold)))
