"""The challenger's fate, decided from the champion-against-challenger verdict.

The verdict is `monitoring.comparison`'s: the challenger's expectancy minus the
champion's, on the same bars, with a repeated confidence interval that holds however
often it is looked at (O'Brien-Fleming, alpha 0.05 up to N_MAX trades). The policy:

- **better** (the interval above 0): the challenger's version becomes `champion`, and
  the `challenger` alias is taken away (the version serves as champion alone);
- **worse** (the interval below 0): the `challenger` alias is taken away, the champion
  serves all the traffic again (rolled back to champion only);
- otherwise: keep waiting, nothing is moved.

Each move is an audited row of `model_deployments` (`models.deployments`) whose reason
quotes the verdict and its figures. Deciding twice changes nothing the second time: once
moved, there is no challenger left to judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from candlelab.models.deployments import Move, promote, retire
from candlelab.models.routing import CHAMPION
from candlelab.monitoring.comparison import Comparison, champion_challenger
from candlelab.store.database import Connection
from candlelab.training.tracking import Tracking

CHALLENGER = "challenger"
WHO = "policy"


@dataclass(frozen=True)
class Decision:
    model_name: str
    action: str  # promote, roll back, wait, or none (no champion and challenger to judge)
    reason: str
    comparison: Comparison | None = None
    moves: list[Move] = field(default_factory=list)


def decide(conn: Connection, tracking: Tracking, model_name: str, *, apply: bool = True,
           who: str = WHO) -> Decision:  # fmt: skip
    """Judge the model's challenger and, with `apply`, make the moves the policy says."""
    compared = champion_challenger(conn, model_name)
    if compared is None or compared.challenger is None:
        return Decision(model_name, "none", "no champion and challenger to compare")
    action, reason = _judged(compared)
    moves = _moves(conn, tracking, compared, action, reason, who=who) if apply else []
    return Decision(model_name, action, reason, compared, moves)


def _judged(compared: Comparison) -> tuple[str, str]:
    """The action and its reason, the verdict's figures quoted."""
    low, high = compared.expectancy_repeated or (float("nan"), float("nan"))
    figures = (f"{compared.verdict}: expectancy {compared.expectancy_diff or 0:+.3f} R, "
               f"repeated interval {low:+.3f} to {high:+.3f}, {compared.n_champion} and "
               f"{compared.n_challenger} trades")  # fmt: skip
    if compared.expectancy_repeated is None:
        return "wait", compared.verdict
    if low > 0:
        return "promote", f"v{compared.challenger}: {figures}"
    if high < 0:
        return "roll back", f"v{compared.challenger}: {figures}"
    return "wait", compared.verdict


def _moves(conn: Connection, tracking: Tracking, compared: Comparison, action: str,
           reason: str, *, who: str) -> list[Move]:  # fmt: skip
    name, version = compared.model_name, compared.challenger
    if action == "promote" and version is not None:
        # The alias first: the version holds all the traffic once champion, not 1 + 20 %.
        stepped = retire(conn, tracking, name, CHALLENGER, who=who,
                         reason=f"to be champion: {reason}")  # fmt: skip
        return [stepped, promote(conn, tracking, name, version, CHAMPION, reason=reason, who=who)]
    if action == "roll back":
        return [retire(conn, tracking, name, CHALLENGER, reason=reason, who=who)]
    return []
