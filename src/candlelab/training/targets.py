"""Target definitions: what a model learns to predict for each bar, and how its signals
are judged later.

Three kinds, each a flat TOML table (or the same Python mapping):

    name = "wide-barrier"
    kind = "triple-barrier"   # or "spans", "forward-return"
    take_profit = 2.0         # the barriers, in multiples of `unit`
    stop_loss = 1.0
    unit = "atr"              # or "fraction" (of the entry price)
    atr_period = 14
    horizon = 20              # bars: the vertical barrier
    fees_bps = 5.0            # per side, charged on entry and on exit
    slippage_bps = 2.0        # per side

- `spans`: a bar inside an accepted span takes the span's label; a bar outside every span
  but inside the chart's covered range takes `none`. Keys: `overlap` (which label a bar
  inside two spans of different labels takes: `shortest` span, `newest` span, or `error`),
  `coverage` (`first-to-last`: from the chart's first span to its last; `spans-only`: only
  bars inside spans), `rejected` (`none`: a rejected model proposal's bars are taught
  `none`, evidence against its label; `ignore`).
- `triple-barrier`: `long` when the take-profit above the close is touched first, `short`
  when the one below is, `none` at the horizon; both touched inside one candle is
  ambiguous and, stop first, neither side would have won: `none`.
- `forward-return`: the return from the close to the close `horizon` bars later; `mode`
  `sign`, `band` (beyond ±`threshold` is long/short, else none) or `value` (regression).
  It has no barriers unless given (`take_profit = "none"` removes one from any kind).

Every kind carries the judgement keys (horizon, barriers, fees, slippage): training's
trading metrics and the live judgement of signals measure the same thing. The version is
the sha256 of the canonical definition; the description is stored, not hashed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from candlelab.errors import InvalidTarget

KINDS = ("spans", "triple-barrier", "forward-return")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DIRECTIONAL = ("short", "none", "long")  # class order of the barrier and return targets
NONE = "none"
UNITS = ("atr", "fraction")
OVERLAPS = ("shortest", "newest", "error")
COVERAGES = ("first-to-last", "spans-only")
REJECTED = ("none", "ignore")
MODES = ("sign", "band", "value")


@dataclass(frozen=True)
class Judgement:
    """How a position taken at a bar's close is judged: barriers at `take_profit` and
    `stop_loss` times the unit (None: no barrier on that side), closed at the horizon."""

    horizon: int = 20
    take_profit: float | None = 2.0
    stop_loss: float | None = 1.0
    unit: str = "atr"
    atr_period: int = 14
    fees_bps: float = 5.0
    slippage_bps: float = 2.0

    @property
    def cost(self) -> float:
        """The round trip's cost as a fraction of the price: fees and slippage, both sides."""
        return 2 * (self.fees_bps + self.slippage_bps) / 10_000


@dataclass(frozen=True)
class SpanRules:
    overlap: str = "shortest"
    coverage: str = "first-to-last"
    rejected: str = "none"


@dataclass(frozen=True)
class ReturnRules:
    mode: str = "band"
    threshold: float = 0.01


@dataclass(frozen=True)
class TargetDefinition:
    name: str
    kind: str
    judgement: Judgement
    spans: SpanRules | None = None
    returns: ReturnRules | None = None
    description: str = field(default="", compare=False)

    @property
    def regression(self) -> bool:
        return self.returns is not None and self.returns.mode == "value"

    def canonical(self) -> dict[str, Any]:
        """Every parameter, defaults included, as plain data: what is hashed and stored."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, **asdict(self.judgement)}
        for rules in (self.spans, self.returns):
            data.update(asdict(rules) if rules else {})
        return data

    @property
    def version_hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


# The ready definitions: usable by name without a file (`candlelab train --help` shows them).
READY: dict[str, dict[str, Any]] = {
    "spans": {"kind": "spans"},
    "triple-barrier": {"kind": "triple-barrier"},
    "forward-return": {"kind": "forward-return", "horizon": 5},
}
# A forward return is judged by the return at its horizon unless barriers are given.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "forward-return": {"take_profit": None, "stop_loss": None},
}


def ready_target(name: str) -> TargetDefinition:
    """One of the ready definitions (`spans`, `triple-barrier`, `forward-return`)."""
    if name not in READY:
        close = difflib.get_close_matches(name, READY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InvalidTarget(f"no ready target {name!r}{hint} (ready: {', '.join(READY)}; "
                            "or give a TOML file)")  # fmt: skip
    return target_definition({"name": name, **READY[name]}, f"ready target {name!r}")


def resolve_target(reference: str) -> TargetDefinition:
    """A ready target by name, or a definition from a TOML file's path."""
    if reference in READY:
        return ready_target(reference)
    path = Path(reference)
    if path.suffix == ".toml" or path.exists():
        return load_target(path)
    return ready_target(reference)


def load_target(path: Path) -> TargetDefinition:
    """A target definition from a TOML file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidTarget(f"{path}: cannot be read as a target definition: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidTarget(f"{path}: not valid TOML: {exc}") from exc
    return target_definition(data, str(path), text)


def target_definition(
    data: Mapping[str, Any], where: str = "target", text: str | None = None
) -> TargetDefinition:
    """A definition from a mapping; `text` is the TOML it came from, so errors name lines."""
    return _Reader(where, text).definition(data)


class _Reader:
    def __init__(self, where: str, text: str | None) -> None:
        self.where = where
        self.lines = (text or "").splitlines()

    def definition(self, data: Mapping[str, Any]) -> TargetDefinition:
        name, kind = self.name(data), self.kind(data)
        self.check_keys(data, kind)
        return TargetDefinition(
            name, kind, self.judgement(data, kind),
            spans=self.rules(SpanRules, data) if kind == "spans" else None,
            returns=self.rules(ReturnRules, data) if kind == "forward-return" else None,
            description=str(data.get("description", "")),
        )  # fmt: skip

    def name(self, data: Mapping[str, Any]) -> str:
        name = data.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise self.error("name", "a target needs a name of lower-case letters, digits, "
                             f"'-' and '_' (got {name!r})")  # fmt: skip
        return name

    def kind(self, data: Mapping[str, Any]) -> str:
        kind = data.get("kind")
        if kind not in KINDS:
            raise self.error("kind", f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
        return str(kind)

    def check_keys(self, data: Mapping[str, Any], kind: str) -> None:
        allowed = [*_field_names(Judgement), "name", "kind", "description"]
        allowed += _field_names(SpanRules) if kind == "spans" else []
        allowed += _field_names(ReturnRules) if kind == "forward-return" else []
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=3)
                hint = f"did you mean {', '.join(close)}?" if close else ""
                raise self.error(key, f"unknown key {key!r} for a {kind} target; {hint}"
                                 f" known: {', '.join(sorted(allowed))}")  # fmt: skip

    def judgement(self, data: Mapping[str, Any], kind: str) -> Judgement:
        judged: Judgement = self.rules(Judgement, {**KIND_DEFAULTS.get(kind, {}), **data})
        self.positive(judged.horizon, "horizon", whole=True)
        self.positive(judged.atr_period, "atr_period", whole=True)
        for key in ("take_profit", "stop_loss"):
            value = getattr(judged, key)
            if value is not None:
                self.positive(value, key)
            elif kind == "triple-barrier":
                raise self.error(key, f"a triple-barrier target needs {key}")
        for key in ("fees_bps", "slippage_bps"):
            if getattr(judged, key) < 0:
                raise self.error(key, f"{key} must be >= 0 (got {getattr(judged, key)!r})")
        self.choice(judged.unit, "unit", UNITS)
        return judged

    def rules(self, kind: type[Any], data: Mapping[str, Any]) -> Any:
        """The dataclass `kind` from the keys it has, defaults for the rest, each typed."""
        values = {}
        for name, default in asdict(kind()).items():
            value = data.get(name, default)
            values[name] = self.typed(name, value, default)
        made = kind(**values)
        for name, choices in _CHOICES.items():
            if hasattr(made, name):
                self.choice(getattr(made, name), name, choices)
        if isinstance(made, ReturnRules):
            self.positive(made.threshold, "threshold", zero=True)
        return made

    def typed(self, key: str, value: object, default: object) -> object:
        """`value` of the default's type: whole numbers stay whole, a number may be None
        where the default is a number and the key allows none (the barriers)."""
        if key in ("take_profit", "stop_loss") and value in (None, "none"):
            return None  # no barrier on that side ("none" in TOML, which has no null)
        if isinstance(default, bool) or isinstance(value, bool):
            raise self.error(key, f"{key} must be a {type(default).__name__} (got {value!r})")
        if isinstance(default, int) and isinstance(value, int):
            return value
        if isinstance(default, float) and isinstance(value, int | float):
            return float(value)
        if isinstance(default, str) and isinstance(value, str):
            return value
        raise self.error(key, f"{key} must be a {type(default).__name__} (got {value!r})")

    def positive(self, value: float, key: str, whole: bool = False, zero: bool = False) -> None:
        if value < 0 or (value == 0 and not zero):
            what = "a whole number of bars >= 1" if whole else "a number > 0"
            raise self.error(key, f"{key} must be {what} (got {value!r})")

    def choice(self, value: str, key: str, choices: tuple[str, ...]) -> None:
        if value not in choices:
            raise self.error(key, f"{key} must be one of {', '.join(choices)} (got {value!r})")

    def error(self, key: str, message: str) -> InvalidTarget:
        return InvalidTarget(f"{self.place(key)}: {message}")

    def place(self, key: str) -> str:
        """The file and line of `key` when the definition came from TOML."""
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i, line in enumerate(self.lines):
            if pattern.match(line):
                return f"{self.where}, line {i + 1}"
        return self.where


_CHOICES = {"unit": UNITS, "overlap": OVERLAPS, "coverage": COVERAGES,
            "rejected": REJECTED, "mode": MODES}  # fmt: skip


def _field_names(kind: type[Any]) -> list[str]:
    return list(asdict(kind()))
