"""Legacy annotator files, written the way the old app wrote them: for tests, benchmarks,
and for a user to try `candlelab import-sqlite` on.

Three charts (one with symbol and timeframe, one that only names them, one that does
not), candles with a few NULL volumes, point annotations, label types, manual and model
spans. `SampleSpec.problems` plants known problems at known rows; `write_sample` returns
where each went, as (table, id, problem code).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DDL = """
CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric);
CREATE TABLE charts (id integer PRIMARY KEY AUTOINCREMENT, name text NOT NULL, symbol text,
    timeframe text, created_at integer NOT NULL);
CREATE TABLE candles (id integer PRIMARY KEY AUTOINCREMENT, chart_id integer NOT NULL
    REFERENCES charts(id) ON DELETE CASCADE, time integer NOT NULL, open real NOT NULL,
    high real NOT NULL, low real NOT NULL, close real NOT NULL, volume real);
CREATE TABLE annotation_types (id integer PRIMARY KEY AUTOINCREMENT, name text NOT NULL UNIQUE,
    color text NOT NULL, icon text, is_active integer NOT NULL DEFAULT 1,
    created_at integer NOT NULL);
CREATE TABLE annotations (id integer PRIMARY KEY AUTOINCREMENT, chart_id integer NOT NULL,
    candle_time integer NOT NULL, type_id integer, geometry text, note text,
    created_at integer NOT NULL, updated_at integer);
CREATE TABLE span_label_types (id integer PRIMARY KEY AUTOINCREMENT, name text NOT NULL UNIQUE,
    color text NOT NULL, description text, is_active integer NOT NULL DEFAULT 1,
    created_at integer NOT NULL);
CREATE TABLE span_annotations (id integer PRIMARY KEY AUTOINCREMENT, chart_id integer NOT NULL,
    label_type_id integer NOT NULL, start_time integer NOT NULL, end_time integer NOT NULL,
    source text NOT NULL DEFAULT 'manual', confidence real, sub_spans text,
    model_prediction text, created_at integer NOT NULL, updated_at integer);
"""
# (name, symbol, timeframe, seconds per bar): the second and third lack symbol and timeframe.
CHARTS = (
    ("BTCUSDT 1h", "BTCUSDT", "1h", 3600),
    ("ETH/USDT - 4h", None, None, 14400),
    ("My favourite setups", None, None, 86400),
)
ANNOTATION_TYPES = (("Entry", "#22c55e", "arrow-up", 1), ("Exit", "#ef4444", "arrow-down", 1),
                    ("Old marker", "#888888", None, 0))  # fmt: skip
LABEL_TYPES = (("Uptrend", "#16a34a", "Higher highs", 1), ("Downtrend", "#dc2626", None, 1),
               ("Range", "#2563eb", "Sideways", 1), ("Retired", "#999999", None, 0))  # fmt: skip
PROBLEMS = (
    "orphan_candle", "orphan_annotation", "orphan_span", "end_before_start", "invalid_json",
    "ohlc_inconsistent", "duplicate_candle", "unknown_source", "wrong_type",
    "mixed_time_units", "not_boolean", "negative_volume", "non_finite",
    "confidence_out_of_range", "unsafe_colour", "nul_in_chart_name", "control_in_note",
    "duplicate_name",
)  # fmt: skip
# The code a planted problem is found by, where it is not the problem's own name.
CODES = {"unsafe_colour": "invalid_field", "nul_in_chart_name": "invalid_field",
         "control_in_note": "invalid_field"}  # fmt: skip
CREATED = 1_700_000_000  # 2023-11-14, when the sample's rows were "made"
FIRST_BAR = 1_672_531_200  # 2023-01-01


@dataclass(frozen=True)
class SampleSpec:
    candles_per_chart: int = 300
    annotations: int = 30
    spans: int = 40
    time_unit: str = "s"  # "ms" writes times as an older version of the app did
    problems: frozenset[str] = frozenset()
    extra_column: bool = False  # a column a later app version added to charts
    seed: int = 1
    charts: tuple[tuple[str, str | None, str | None, int], ...] = field(default=CHARTS)


def write_sample(path: Path, spec: SampleSpec = SampleSpec()) -> list[tuple[str, int, str]]:
    """Write a legacy file at `path` (which must not exist); where each planted problem is."""
    if path.exists():
        raise FileExistsError(f"{path} exists; the sample is only written to a new file")
    rng = np.random.default_rng(spec.seed)
    scale = 1000 if spec.time_unit == "ms" else 1
    with sqlite3.connect(path) as db:
        db.executescript(DDL)
        db.execute("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('0000_init', 0)")
        bars = _charts_and_candles(db, spec, rng, scale)
        _annotations(db, spec, rng, scale, bars)
        _spans(db, spec, rng, scale, bars)
        if spec.extra_column:
            db.execute("ALTER TABLE charts ADD COLUMN exchange text")
            db.execute("UPDATE charts SET exchange = 'binance' WHERE id = 1")
        planted = _plant(db, spec.problems, scale)
    db.close()
    return planted


def _charts_and_candles(
    db: sqlite3.Connection, spec: SampleSpec, rng: np.random.Generator, scale: int
) -> dict[int, list[int]]:
    """The charts and their candles; each chart's bar times (in the file's unit)."""
    bars: dict[int, list[int]] = {}
    for chart_id, (name, symbol, timeframe, step) in enumerate(spec.charts, 1):
        made = (CREATED + chart_id) * scale
        db.execute("INSERT INTO charts (id, name, symbol, timeframe, created_at) "
                   "VALUES (?, ?, ?, ?, ?)", (chart_id, name, symbol, timeframe, made))  # fmt: skip
        times = [(FIRST_BAR + i * step) * scale for i in range(spec.candles_per_chart)]
        db.executemany(
            "INSERT INTO candles (chart_id, time, open, high, low, close, volume) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", _walk(rng, chart_id, times)
        )  # fmt: skip
        bars[chart_id] = times
    return bars


def _walk(rng: np.random.Generator, chart_id: int, times: list[int]) -> list[tuple[object, ...]]:
    n = len(times)
    close = 100.0 * chart_id * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0 * chart_id], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    volume = rng.lognormal(5, 1, n).round(4)
    return [
        (chart_id, t, float(o), float(h), float(lo), float(c), None if i % 50 == 7 else float(v))
        for i, (t, o, h, lo, c, v) in enumerate(
            zip(times, open_, high, low, close, volume, strict=True)
        )
    ]


def _annotations(db: sqlite3.Connection, spec: SampleSpec, rng: np.random.Generator, scale: int,
                 bars: dict[int, list[int]]) -> None:  # fmt: skip
    db.executemany("INSERT INTO annotation_types (name, color, icon, is_active, created_at) "
                   "VALUES (?, ?, ?, ?, ?)",
                   [(*row, CREATED * scale) for row in ANNOTATION_TYPES])  # fmt: skip
    rows = []
    for i in range(spec.annotations):
        chart_id = int(rng.integers(1, len(bars) + 1))
        time = bars[chart_id][int(rng.integers(0, len(bars[chart_id])))]
        geometry = json.dumps({"price": round(float(rng.uniform(90, 110)), 2), "shape": "arrow"})
        note = None if i % 3 else f'note {i}: "quoted", <b>bold</b> & ünïcode'
        updated = None if i % 2 else (CREATED + 3600 + i) * scale
        type_id = None if i % 10 == 9 else 1 + i % len(ANNOTATION_TYPES)
        rows.append((chart_id, time, type_id, geometry, note, (CREATED + i) * scale, updated))
    db.executemany("INSERT INTO annotations (chart_id, candle_time, type_id, geometry, note, "
                   "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)  # fmt: skip


def _spans(db: sqlite3.Connection, spec: SampleSpec, rng: np.random.Generator, scale: int,
           bars: dict[int, list[int]]) -> None:  # fmt: skip
    db.executemany("INSERT INTO span_label_types (name, color, description, is_active, "
                   "created_at) VALUES (?, ?, ?, ?, ?)",
                   [(*row, CREATED * scale) for row in LABEL_TYPES])  # fmt: skip
    rows = []
    for i in range(spec.spans):
        chart_id = int(rng.integers(1, len(bars) + 1))
        times = bars[chart_id]
        first = int(rng.integers(0, len(times) - 10))
        start, end = times[first], times[first + int(rng.integers(1, 10))]
        model = i % 4 == 3
        confidence = round(float(rng.uniform(0.5, 1.0)), 3) if model else None
        prediction = json.dumps({"label": "Uptrend", "p": confidence}) if model else None
        sub_spans = json.dumps([[start, end]]) if i % 5 == 0 else None
        rows.append((chart_id, 1 + i % 3, start, end, "model" if model else "manual",
                     confidence, sub_spans, prediction, (CREATED + i) * scale,
                     None if i % 2 else (CREATED + 7200 + i) * scale))  # fmt: skip
    db.executemany("INSERT INTO span_annotations (chart_id, label_type_id, start_time, end_time, "
                   "source, confidence, sub_spans, model_prediction, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)  # fmt: skip


def _plant(
    db: sqlite3.Connection, problems: frozenset[str], scale: int
) -> list[tuple[str, int, str]]:
    """Write each asked-for problem in; (table, id, code) of each."""
    unknown = problems - set(PROBLEMS)
    if unknown:
        raise ValueError(f"no such sample problem {sorted(unknown)}; use {PROBLEMS}")
    planted = []
    for problem in sorted(problems):
        table, row_id = PLANTERS[problem](db, scale)
        code = "orphan" if problem.startswith("orphan") else CODES.get(problem, problem)
        planted.append((table, row_id, code))
    return planted


def _last_id(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT last_insert_rowid()").fetchone()
    return int(row[0])


def _orphan_candle(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO candles (chart_id, time, open, high, low, close, volume) "
               "VALUES (99, ?, 1, 2, 0.5, 1.5, 10)", (FIRST_BAR * scale,))  # fmt: skip
    return "candles", _last_id(db)


def _orphan_annotation(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO annotations (chart_id, candle_time, type_id, created_at) "
               "VALUES (1, ?, 42, ?)", (FIRST_BAR * scale, CREATED * scale))  # fmt: skip
    return "annotations", _last_id(db)


def _orphan_span(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO span_annotations (chart_id, label_type_id, start_time, end_time, "
               "created_at) VALUES (77, 1, ?, ?, ?)",
               (FIRST_BAR * scale, (FIRST_BAR + 3600) * scale, CREATED * scale))  # fmt: skip
    return "span_annotations", _last_id(db)


def _end_before_start(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO span_annotations (chart_id, label_type_id, start_time, end_time, "
               "created_at) VALUES (1, 1, ?, ?, ?)",
               ((FIRST_BAR + 7200) * scale, FIRST_BAR * scale, CREATED * scale))  # fmt: skip
    return "span_annotations", _last_id(db)


def _invalid_json(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    cut_short = '{"price": 101.5,'
    db.execute("INSERT INTO annotations (chart_id, candle_time, type_id, geometry, created_at) "
               "VALUES (1, ?, 1, ?, ?)",
               (FIRST_BAR * scale, cut_short, CREATED * scale))  # fmt: skip
    return "annotations", _last_id(db)


def _ohlc_inconsistent(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("UPDATE candles SET high = low - 1 WHERE id = 5")
    return "candles", 5


def _duplicate_candle(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO candles (chart_id, time, open, high, low, close, volume) "
               "SELECT chart_id, time, open, high, low, close, volume "
               "FROM candles WHERE id = 10")  # fmt: skip
    return "candles", _last_id(db)


def _unknown_source(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO span_annotations (chart_id, label_type_id, start_time, end_time, "
               "source, created_at) VALUES (1, 2, ?, ?, 'robot', ?)",
               (FIRST_BAR * scale, (FIRST_BAR + 3600) * scale, CREATED * scale))  # fmt: skip
    return "span_annotations", _last_id(db)


def _wrong_type(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("UPDATE candles SET time = 'yesterday' WHERE id = 20")
    return "candles", 20


def _mixed_time_units(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    other = 1 if scale == 1000 else 1000  # the other unit than the rest of the column
    db.execute("UPDATE annotations SET created_at = created_at / ? * ? WHERE id = 2",
               (scale, other))  # fmt: skip
    return "annotations", 2


def _not_boolean(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("UPDATE span_label_types SET is_active = 2 WHERE id = 4")  # no span uses it
    return "span_label_types", 4


def _negative_volume(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("UPDATE candles SET volume = -5 WHERE id = 30")
    return "candles", 30


def _non_finite(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("UPDATE candles SET close = 9e999, high = 9e999 WHERE id = 40")
    return "candles", 40


def _confidence_out_of_range(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("UPDATE span_annotations SET confidence = 1.5 WHERE id = 4")
    return "span_annotations", 4


def _unsafe_colour(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO annotation_types (name, color, created_at) "
               "VALUES ('Sneaky', 'javascript:alert(1)', ?)", (CREATED * scale,))  # fmt: skip
    return "annotation_types", _last_id(db)


def _nul_in_chart_name(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO charts (name, created_at) VALUES (?, ?)",
               ("BTC\x00USDT 1h", CREATED * scale))  # fmt: skip
    return "charts", _last_id(db)


def _control_in_note(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    db.execute("INSERT INTO annotations (chart_id, candle_time, type_id, note, created_at) "
               "VALUES (1, ?, 1, ?, ?)",
               (FIRST_BAR * scale, "ring \x07 the bell", CREATED * scale))  # fmt: skip
    return "annotations", _last_id(db)


def _duplicate_name(db: sqlite3.Connection, scale: int) -> tuple[str, int]:
    """`UPTREND ` beside `Uptrend`: one name to the API (trimmed, case aside)."""
    db.execute("INSERT INTO span_label_types (name, color, created_at) "
               "VALUES ('UPTREND ', '#00ff00', ?)", (CREATED * scale,))  # fmt: skip
    return "span_label_types", _last_id(db)


PLANTERS = {
    "orphan_candle": _orphan_candle, "orphan_annotation": _orphan_annotation,
    "orphan_span": _orphan_span, "end_before_start": _end_before_start,
    "invalid_json": _invalid_json, "ohlc_inconsistent": _ohlc_inconsistent,
    "duplicate_candle": _duplicate_candle, "unknown_source": _unknown_source,
    "wrong_type": _wrong_type, "mixed_time_units": _mixed_time_units,
    "not_boolean": _not_boolean, "negative_volume": _negative_volume,
    "non_finite": _non_finite, "confidence_out_of_range": _confidence_out_of_range,
    "unsafe_colour": _unsafe_colour, "nul_in_chart_name": _nul_in_chart_name,
    "control_in_note": _control_in_note, "duplicate_name": _duplicate_name,
}  # fmt: skip
