"""Feature sets: a named, ordered list of feature definitions, and its version.

A set is written in TOML (or given as the same Python mapping):

    name = "mine"
    description = "what it is for"

    [[features]]
    name = "rsi_14"
    talib = "RSI"             # any TA-Lib function; other keys are its parameters
    timeperiod = 14
    input = "close"           # or inputs = {high = "high", ...}; output = "macdhist"

    [[features]]
    name = "ret_5"
    expr = "close / ref(close, 5) - 1"

    [[features]]
    name = "hour"
    calendar = "hour"

    [[features]]
    name = "rsi_14_1d"        # computed on the 1d chart of the same symbol, joined as
    timeframe = "1d"          # of the last daily bar closed by each bar's close
    talib = "RSI"
    timeperiod = 14

A definition is checked whole before anything is written; an error names the file, the
line, the feature and what is wrong. The version is the sha256 of the canonical
definition (names, kinds, complete parameters, the TA-Lib version): one changed
parameter is a new version.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from candlelab.errors import InvalidFeature
from candlelab.features import calendar_features, expressions, indicators
from candlelab.features.expressions import Expression
from candlelab.features.indicators import Indicator
from candlelab.market.candles import ALL_COLUMNS
from candlelab.market.timeframes import Timeframe

CANDLE_COLUMNS = tuple(c for c in ALL_COLUMNS if c not in ("chart_id", "time"))
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # a feature's: an expression reads it
# A set's: also -, . and capitals (`core-24-7`, `v1.2`); never @ (`name@version` follows
# it), /, a space, or a leading . or -.
SET_NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,62}"
SET_NAME = re.compile(rf"^{SET_NAME_PATTERN}$")
SET_NAME_RULE = "letters, digits, _, - and . (not first), at most 63"
KINDS = ("talib", "expr", "calendar")
COMMON_KEYS = ("name", "description", "timeframe")
TALIB_KEYS = ("input", "inputs", "output", "params")
BUNDLED = ("core",)


@dataclass(frozen=True)
class Calendar:
    """A calendar field of each bar in its chart's timezone (`calendar_features`)."""

    kind: str


Source = Indicator | Expression | Calendar


@dataclass(frozen=True)
class Feature:
    """One column of a set: its name, how it is computed, and on which timeframe (None:
    the chart's own; else a longer one of the same symbol, joined as of its close)."""

    name: str
    source: Source
    timeframe: Timeframe | None = None
    description: str = ""

    @property
    def names(self) -> frozenset[str]:
        """The candle columns and features it reads."""
        if isinstance(self.source, Calendar):
            return frozenset()
        if isinstance(self.source, Expression):
            return self.source.names
        return indicators.names(self.source)

    def canonical(self) -> dict[str, Any]:
        """The definition as plain data, the same whatever way it was written."""
        out: dict[str, Any] = {"name": self.name}
        if self.timeframe is not None:
            out["timeframe"] = self.timeframe.name
        if isinstance(self.source, Calendar):
            out["calendar"] = self.source.kind
        elif isinstance(self.source, Expression):
            out["expr"] = self.source.canonical
        else:
            out.update(_indicator_data(self.source))
        return out


@dataclass(frozen=True)
class FeatureSet:
    """A named, ordered list of features; columns come in this order."""

    name: str
    features: tuple[Feature, ...]
    description: str = ""

    def __post_init__(self) -> None:
        """A name every reader of the set accepts, however the set was made: the stored
        definition is read back by `feature_set` (a model's load, `candlelab features`)."""
        if not SET_NAME.fullmatch(self.name):
            raise InvalidFeature(f"feature set name {self.name!r}: {SET_NAME_RULE}")

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    def definition(self, described: bool = True) -> dict[str, Any]:
        """What is stored: the canonical features with the TA-Lib version, and the
        descriptions unless `described` is false (what is hashed: words change no value)."""
        features = [feature.canonical() for feature in self.features]
        data = {"name": self.name, "features": features, "talib": indicators.talib_version()}
        if described:
            data["description"] = self.description
            for each, feature in zip(features, self.features, strict=True):
                each["description"] = feature.description
        return data

    @property
    def version_hash(self) -> str:
        text = json.dumps(self.definition(described=False), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def candle_columns(self) -> frozenset[str]:
        """The candle columns any feature reads (so a chart lacking one is refused)."""
        read = set().union(*(feature.names for feature in self.features))
        return frozenset(read & set(CANDLE_COLUMNS))

    @property
    def longer_timeframes(self) -> tuple[Timeframe, ...]:
        """The longer timeframes its features are computed on, each once."""
        found = {f.timeframe.name: f.timeframe for f in self.features if f.timeframe}
        return tuple(found.values())

    @cached_property
    def computation_order(self) -> tuple[Feature, ...]:
        """The features in an order where each comes after those it reads."""
        return _ordered(self)


def _indicator_data(indicator: Indicator) -> dict[str, Any]:
    return {
        "talib": indicator.function,
        "params": dict(indicator.params),
        "inputs": dict(indicator.inputs),
        "output": indicator.output,
    }


def load_feature_set(path: Path) -> FeatureSet:
    """A feature set from a TOML file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFeature(f"{path}: cannot be read as a feature set: {exc}") from exc
    return parse_feature_set(text, str(path))


def bundled_feature_set(name: str) -> FeatureSet:
    """One of the sets shipped with candlelab (`core`)."""
    if name not in BUNDLED:
        raise InvalidFeature(f"no bundled feature set {name!r}; there is {', '.join(BUNDLED)}")
    text = resources.files("candlelab.features").joinpath(f"sets/{name}.toml").read_text()
    return parse_feature_set(text, f"{name}.toml (bundled)")


def parse_feature_set(text: str, where: str) -> FeatureSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidFeature(f"{where}: not valid TOML: {exc}") from exc
    return feature_set(data, where, text)


def feature_set(
    data: Mapping[str, Any], where: str = "feature set", text: str | None = None
) -> FeatureSet:
    """A feature set from a mapping {name, description?, features: [{...}, ...]}; `text`
    is the TOML it came from, so that errors name lines."""
    return _Reader(where, text).feature_set(data)


class _Reader:
    """Reads a set's mapping; every error names where it is: the file and line of the
    key at fault when the set came from TOML, else the feature's position."""

    HEADER = re.compile(r"^\s*\[\[\s*features\s*\]\]")

    def __init__(self, where: str, text: str | None) -> None:
        self.where = where
        self.lines = (text or "").splitlines()
        self.headers = [i for i, line in enumerate(self.lines) if self.HEADER.match(line)]
        self.text = text is not None

    def feature_set(self, data: Mapping[str, Any]) -> FeatureSet:
        # `talib` is the version a stored definition was made with; this one's is used.
        self.check_keys(data, ("name", "description", "features", "talib"))
        name = data.get("name")
        if not isinstance(name, str) or not SET_NAME.fullmatch(name):
            raise self.error(None, "name", f"the set needs a name of {SET_NAME_RULE} "
                             f"(got {name!r})")  # fmt: skip
        raw = data.get("features")
        if not isinstance(raw, list) or not raw:
            raise InvalidFeature(f"{self.where}: set {name!r} has no [[features]]")
        features = tuple(self.feature(k, item) for k, item in enumerate(raw))
        result = FeatureSet(name, features, str(data.get("description", "")))
        self.check_references(result)
        return result

    def feature(self, k: int, item: object) -> Feature:
        if not isinstance(item, Mapping):
            raise self.error(k, None, f"a feature is a table, got {item!r}")
        name = item.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise self.error(k, "name", f"feature #{k + 1} needs a name of lower-case letters, "
                             f"digits and _ (got {name!r})")  # fmt: skip
        if name in CANDLE_COLUMNS:
            raise self.error(k, "name", "it has the name of a candle column", name)
        try:
            _check_feature_keys(item)
            return _checked_feature(name, item)
        except InvalidFeature as exc:
            raise self.error(k, _key_at_fault(exc, item), str(exc), name) from None

    def check_keys(self, item: Mapping[str, Any], allowed: Sequence[str]) -> None:
        try:
            _check_keys(item, allowed)
        except InvalidFeature as exc:
            raise self.error(None, getattr(exc, "key", None), str(exc)) from None

    def check_references(self, result: FeatureSet) -> None:
        """Every name read is a candle column or a feature; a longer-timeframe feature
        reads candle columns only; no feature reads itself through others."""
        known = sorted(set(CANDLE_COLUMNS) | set(result.columns))
        for k, feature in enumerate(result.features):
            for name in sorted(feature.names):
                problem = _reference_problem(feature, name, known)
                if problem:
                    raise self.error(k, _kind(feature.canonical()), problem, feature.name)
        try:
            _ordered(result)
        except _Cycle as cycle:
            k = result.columns.index(cycle.path[0])
            message = f"it reads itself through {' -> '.join(cycle.path)}"
            raise self.error(k, "name", message, cycle.path[0]) from None

    def error(
        self, k: int | None, key: str | None, message: str, feature: str | None = None
    ) -> InvalidFeature:
        named = f", feature {feature!r}" if feature else ""
        return InvalidFeature(f"{self.place(k, key)}{named}: {message}")

    def place(self, k: int | None, key: str | None) -> str:
        """Where a key is: its file and line for TOML text, else the feature's position."""
        if not self.text:
            return self.where if k is None else f"{self.where}, features[{k}]"
        return f"{self.where}, line {self.line(k, key)}"

    def line(self, k: int | None, key: str | None) -> int:
        """The line of `key` in the k-th [[features]] table (None: the top of the file),
        or the table's first line."""
        start = 0 if k is None else self.headers[k] if k < len(self.headers) else 0
        stop = next((h for h in self.headers if h > start), len(self.lines))
        stop = stop if k is not None else (self.headers[0] if self.headers else len(self.lines))
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=") if key else None
        for i in range(start, stop):
            if pattern and pattern.match(self.lines[i]):
                return i + 1
        return start + 1


def _check_feature_keys(item: Mapping[str, Any]) -> None:
    """A TA-Lib feature's other keys are its parameters (checked by `indicators`);
    any other feature has only the keys of its kind."""
    if "talib" not in item:
        _check_keys(item, (*COMMON_KEYS, *KINDS, *TALIB_KEYS))


def _check_keys(item: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Unknown keys are refused with the closest known ones."""
    for key in item:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(allowed)}"
            raise _keyed(key, f"unknown key {key!r}; {hint}")


def _key_at_fault(error: InvalidFeature, item: Mapping[str, Any]) -> str | None:
    """The key an error is about: as it says, else the first key it quotes (a TA-Lib
    parameter), else the feature's kind."""
    named = getattr(error, "key", None)
    quoted = (key for key in item if repr(key) in str(error) and key != "name")
    return named or next(quoted, None) or _kind(item)


def _reference_problem(feature: Feature, name: str, known: Sequence[str]) -> str | None:
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; closest: {', '.join(close)}" if close else ""
        return f"reads {name!r}, which is neither a candle column nor a feature of the set{hint}"
    if feature.timeframe is not None and name not in CANDLE_COLUMNS:
        return f"a {feature.timeframe.name} feature reads candle columns only, not {name!r}"
    return None


def _kind(item: Mapping[str, Any]) -> str | None:
    given = [kind for kind in KINDS if kind in item]
    return given[0] if len(given) == 1 else None


def _checked_feature(name: str, item: Mapping[str, Any]) -> Feature:
    given = [kind for kind in KINDS if kind in item]
    if len(given) != 1:
        raise InvalidFeature("a feature has exactly one of talib = …, expr = … or calendar = … "
                             f"(got {', '.join(given) or 'none'})")  # fmt: skip
    timeframe = _timeframe(item.get("timeframe"))
    source = _source(given[0], item)
    if timeframe is not None and isinstance(source, Calendar):
        raise _keyed("timeframe", "a calendar feature has no timeframe of its own")
    return Feature(name, source, timeframe, str(item.get("description", "")))


def _source(kind: str, item: Mapping[str, Any]) -> Source:
    value = item[kind]
    if not isinstance(value, str):
        raise _keyed(kind, f"{kind} = … takes a string, got {value!r}")
    if kind != "talib":
        extra = sorted(set(item) & {*TALIB_KEYS})
        if extra:
            raise _keyed(extra[0], f"{extra[0]} = … belongs to a TA-Lib feature, not {kind} = …")
        return expressions.parse(value) if kind == "expr" else Calendar(
            calendar_features.calendar_feature(value))  # fmt: skip
    # Parameters inline (timeperiod = 14) or as a table (params = {timeperiod = 14}).
    params = {k: v for k, v in item.items() if k not in (*COMMON_KEYS, *TALIB_KEYS, "talib")}
    table = item.get("params", {})
    if not isinstance(table, Mapping):
        raise _keyed("params", f"params = … takes a table, got {table!r}")
    return indicators.indicator(value, {**params, **table}, item.get("inputs", item.get("input")),
                                item.get("output"))  # fmt: skip


def _timeframe(value: object) -> Timeframe | None:
    if value is None:
        return None
    try:
        return Timeframe.parse(str(value))
    except ValueError as exc:
        raise _keyed("timeframe", str(exc)) from None


def _keyed(key: str, message: str) -> InvalidFeature:
    """An error that knows which key of the feature it is about (for its line)."""
    error = InvalidFeature(message)
    error.key = key  # type: ignore[attr-defined]
    return error


class _Cycle(Exception):
    def __init__(self, path: list[str]) -> None:
        super().__init__(" -> ".join(path))
        self.path = path


def _ordered(result: FeatureSet) -> tuple[Feature, ...]:
    """Depth-first order of the features by what they read; a cycle raises _Cycle."""
    by_name = {feature.name: feature for feature in result.features}
    done: dict[str, Feature] = {}

    def visit(feature: Feature, path: list[str]) -> None:
        if feature.name in done:
            return
        if feature.name in path:
            raise _Cycle([*path[path.index(feature.name) :], feature.name])
        for name in sorted(feature.names & by_name.keys()):
            visit(by_name[name], [*path, feature.name])
        done[feature.name] = feature

    for feature in result.features:
        visit(feature, [])
    return tuple(done.values())
