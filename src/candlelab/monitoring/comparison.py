"""Champion against challenger: is the challenger's expectancy better, with repeated looks?

The versions compared are those the model's aliases `champion` and `challenger` name by
their newest recorded move (`model_deployments`; `candlelab models sync` records a move
made in MLflow's UI). Each version's trades (judged signals with a result, shadow ones
included: a shadow challenger is judged like a served one) are taken from the later of
the two versions' first trades on, in time order, so both cover the same market.

**Uncertainty.** Neighbouring signals' outcomes overlap in time and are not independent,
so the spread of each mean is estimated by a moving-block bootstrap (Künsch 1989): blocks
of `BLOCK` = 10 consecutive trades (fewer if a side has fewer), drawn with replacement
from every start, joined and cut to the sample's length; each side is resampled on its
own, `DRAWS` times with a seeded generator (the same answer for the same data). The
difference's 95 % percentile interval is reported as is (one look).

**Repeated looks.** The verdict is read from a repeated confidence interval (Jennison and
Turnbull 1989) on an O'Brien-Fleming-type boundary (O'Brien and Fleming 1979; Lan and
DeMets 1983): at information fraction t = n / n_max (n the smaller side's trades, t
capped at 1) the difference is declared when |diff| / se > c / sqrt(t), se the block
bootstrap's standard error, where c solves P(sup_{0<=s<=1} |W(s)| >= c) = alpha for a
Brownian motion W. That is the boundary for looking after every trade; looking less
often only makes it conservative, so however often `candlelab evaluate --report` runs,
the chance of a false verdict up to n_max trades stays at most alpha (asymptotically: the
bootstrap's se stands for the true one). Past n_max the final boundary c holds and more
looks spend more than alpha: set n_max (`N_MAX`, default 2,000) to the most trades the
comparison should run to. The verdict is on expectancy; the win rate's difference is
reported beside it with its intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
ALPHA = 0.05
BLOCK = 10
DRAWS = 2000
N_MAX = 2000
SEED = 17
MIN_TRADES = 2 * BLOCK  # fewer on a side: no bootstrap worth the name
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Comparison:
    """The challenger's figures minus the champion's, with their intervals and verdict."""

    model_name: str
    champion: int | None
    challenger: int | None
    n_champion: int
    n_challenger: int
    expectancy_diff: float | None = None
    expectancy_interval: tuple[float, float] | None = None  # bootstrap 95 %, one look
    expectancy_repeated: tuple[float, float] | None = None  # the sequential boundary's
    win_rate_diff: float | None = None
    win_rate_interval: tuple[float, float] | None = None
    win_rate_repeated: tuple[float, float] | None = None
    information: float = 0.0  # n / n_max, capped at 1
    boundary_z: float | None = None
    verdict: str = ""


@cache
def boundary_constant(alpha: float = ALPHA) -> float:
    """c with P(sup_{0<=s<=1} |W(s)| >= c) = alpha, from the classical series for the
    distribution of the maximum of |W| over [0, 1] (50 terms: far past double precision)."""

    def exceed(c: float) -> float:
        odd = 2 * np.arange(50) + 1
        signs = np.where(odd % 4 == 1, 1.0, -1.0)
        inside = 4 / math.pi * np.sum(signs / odd * np.exp(-(odd**2) * math.pi**2 / (8 * c * c)))
        return float(1 - inside) - alpha

    return float(brentq(exceed, 0.5, 10.0))


def bootstrap_means(values: Floats, draws: int, rng: np.random.Generator) -> Floats:
    """The means of `draws` moving-block resamples of `values` (blocks of BLOCK)."""
    n = len(values)
    block = min(BLOCK, n)
    count = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(draws, count))
    rows = (starts[:, :, None] + np.arange(block)).reshape(draws, -1)[:, :n]
    means: Floats = values[rows].mean(axis=1)
    return means


def compare(champion: Floats, challenger: Floats, *, model_name: str = "",
            versions: tuple[int | None, int | None] = (None, None), n_max: int = N_MAX,
            alpha: float = ALPHA, draws: int = DRAWS, seed: int = SEED) -> Comparison:  # fmt: skip
    """The challenger's results (in R, time order) against the champion's."""
    n = min(len(champion), len(challenger))
    base = Comparison(model_name, *versions, len(champion), len(challenger))
    if n < MIN_TRADES:
        return _with(base, verdict=f"not enough evidence yet (n = {n})")
    rng = np.random.default_rng(seed)
    t = min(n / n_max, 1.0)
    z = boundary_constant(alpha) / math.sqrt(t)
    found: dict[str, Any] = {"information": t, "boundary_z": z}
    wins = [(side > 0).astype(np.float64) for side in (champion, challenger)]
    sides = {"expectancy": (champion, challenger), "win_rate": (wins[0], wins[1])}
    for name, (a, b) in sides.items():
        diffs = bootstrap_means(b, draws, rng) - bootstrap_means(a, draws, rng)
        diff, se = float(b.mean() - a.mean()), float(diffs.std(ddof=1))
        low, high = np.percentile(diffs, [100 * alpha / 2, 100 * (1 - alpha / 2)]).tolist()
        found |= {f"{name}_diff": diff, f"{name}_interval": (low, high),
                  f"{name}_repeated": (diff - z * se, diff + z * se)}  # fmt: skip
    return _with(base, **found, verdict=_verdict(found["expectancy_repeated"], n, alpha))


def _verdict(interval: tuple[float, float], n: int, alpha: float) -> str:
    level = f"{100 * (1 - alpha):g} %"
    if interval[0] > 0:
        return f"challenger better at {level}"
    if interval[1] < 0:
        return f"challenger worse at {level}"
    return f"not enough evidence yet (n = {n})"


def _with(base: Comparison, **changes: Any) -> Comparison:
    return Comparison(**{**base.__dict__, **changes})


def champion_challenger(conn: Connection, model_name: str, **options: Any) -> Comparison | None:
    """The comparison of the model's champion and challenger; None unless both aliases
    name a version (and they differ)."""
    rows = conn.execute(QUERIES["alias_versions"], {"model_name": model_name}).fetchall()
    aliases: dict[str, int] = dict(rows)
    champion, challenger = aliases.get("champion"), aliases.get("challenger")
    if champion is None or challenger is None or champion == challenger:
        return None
    params = {"model_name": model_name, "champion": champion, "challenger": challenger}
    trades = conn.execute(QUERIES["paired_trades"], params).fetchall()
    results = {v: np.array([rr for version, rr in trades if version == v], dtype=np.float64)
               for v in (champion, challenger)}  # fmt: skip
    return compare(results[champion], results[challenger], model_name=model_name,
                   versions=(champion, challenger), **options)  # fmt: skip


def comparisons(conn: Connection, model_name: str | None = None,
                **options: Any) -> list[Comparison]:  # fmt: skip
    """The comparison of every model (or the one named) with a champion and a challenger."""
    names = [n for (n,) in conn.execute(QUERIES["compared_models"], {"model_name": model_name})]
    found = [champion_challenger(conn, name, **options) for name in names]
    return [c for c in found if c is not None]
