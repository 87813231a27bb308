"""The Models pages' plots, drawn on the server as inline SVG from figures already stored.

No script and no inline style (the pages' policy allows neither): geometry is in SVG
attributes, colours in /static/candlelab.css by class. Each plot has a `<title>` per mark
(the browser shows it on hover) and says in words when there is nothing to draw. Every
text is escaped. Sizes are in viewBox units; the page scales the plot to its column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from candlelab.web.monitoring import Day

WIDTH = 600  # about the width a card gives a plot, so its text reads at its own size
LEFT, RIGHT, TOP = 64, 10, 10  # margins: the left one holds the values' labels
CURVE_BOTTOM, DRAWDOWN_BOTTOM, HEIGHT = 130, 176, 196  # the curve over the drawdown
RATE_BOTTOM, MEAN_TOP, MEAN_BOTTOM = 82, 100, 176  # win rate over expectancy
LATENCY_WIDTH, LATENCY_LEFT = 300, 34  # beside the calibration plot: half a card
TEXT_HEIGHT = 12  # viewBox units a label needs
Scale = Callable[[float], float]


def result_curve(days: Sequence[Day]) -> Markup:
    """The result curve (R added up by day) over its drawdown below its peak."""
    if not days:
        return _nothing("No day window stored yet: `candlelab evaluate --report` makes them.")
    first = days[0].day
    x = _scale(0, max((days[-1].day - first).days, 1), LEFT, WIDTH - RIGHT)
    at = [x((d.day - first).days) for d in days]
    curve = [d.curve_r for d in days]
    y = _scale(min(0.0, *curve), max(0.0, *curve), CURVE_BOTTOM, TOP)
    deepest = max(d.drawdown_r for d in days)
    under = _scale(0, deepest or 1.0, CURVE_BOTTOM + 10, DRAWDOWN_BOTTOM)
    parts = [_zero_line(y(0.0)), _path(at, [y(c) for c in curve], "curve"),
             _area(at, [under(d.drawdown_r) for d in days], under(0), "drawdown"),
             *_value_ticks(y, (min(curve), max(curve)), "{:+.1f} R"),
             _text(LEFT - 4, under(deepest), f"-{deepest:.1f} R", "end", "tick"),
             _text(LEFT - 4, under(0) + 10, "drawdown", "end", "tick"),
             *_marks(at, [y(c) for c in curve], [_day_title(d) for d in days]),
             _text(LEFT, HEIGHT - 4, _date(days[0].day), "start", "tick"),
             _text(WIDTH - RIGHT, HEIGHT - 4, _date(days[-1].day), "end", "tick")]  # fmt: skip
    return _svg(WIDTH, HEIGHT, parts, "result-curve", "Result curve in R and drawdown by day")


def weekly(weeks: Sequence[dict[str, Any]]) -> Markup:
    """Win rate (with its 95 % interval, 50 % marked) and expectancy, a bar per week."""
    if not weeks:
        return _nothing("No week window stored yet: `candlelab evaluate --report` makes them.")
    slot = (WIDTH - LEFT - RIGHT) / len(weeks)
    rate = _scale(0.0, 1.0, RATE_BOTTOM, TOP)
    values = [w["expectancy_r"] or 0.0 for w in weeks]
    reach = max(0.1, *(abs(v) for v in values))
    mean = _scale(-reach, reach, MEAN_BOTTOM, MEAN_TOP)
    parts = [_zero_line(rate(0.5)), _zero_line(mean(0.0)),
             _text(LEFT - 4, rate(1.0) + 4, "100 %", "end", "tick"),
             _text(LEFT - 4, rate(0.5) + 3, "win 50 %", "end", "tick"),
             _text(LEFT - 4, rate(0.0), "0 %", "end", "tick"),
             _text(LEFT - 4, mean(reach) + 4, f"{reach:+.2f} R", "end", "tick"),
             _text(LEFT - 4, mean(0.0) + 3, "E[R] 0", "end", "tick"),
             _text(LEFT - 4, mean(-reach), f"{-reach:+.2f} R", "end", "tick")]  # fmt: skip
    for i, week in enumerate(weeks):
        centre = LEFT + slot * (i + 0.5)
        parts += _week_marks(week, centre, slot * 0.6, rate, mean)
    return _svg(WIDTH, HEIGHT, parts, "weekly", "Win rate and expectancy by week")


def _week_marks(week: dict[str, Any], centre: float, width: float, rate: Scale,
                mean: Scale) -> list[str]:  # fmt: skip
    title = _element("title", escape(_week_title(week)))
    marks = [_text(centre, HEIGHT - 4, f"{week['window_start']:%m-%d}", "middle", "tick")]
    if week["win_rate"] is not None:
        level = rate(week["win_rate"])
        marks.append(_bar(centre, width, rate(0.0), level, "bar rate", title=title))
        low, high = week["win_rate_low"], week["win_rate_high"]
        marks.append(_line(centre, rate(low), centre, rate(high), "interval"))
    if week["expectancy_r"] is not None:
        kind = "bar up" if week["expectancy_r"] >= 0 else "bar down"
        marks.append(_bar(centre, width, mean(0.0), mean(week["expectancy_r"]), kind, title=title))
    return marks


def calibration(buckets: Sequence[dict[str, Any]]) -> Markup:
    """Win rate against mean probability per bucket, a dot sized by its trades; a
    calibrated model sits on the diagonal."""
    if not buckets:
        return _nothing("No trade with a probability yet: no calibration to show.")
    side = 160
    x, y = _scale(0.0, 1.0, LEFT, LEFT + side), _scale(0.0, 1.0, TOP + side, TOP)
    most = max(b["count"] for b in buckets)
    parts = [_line(x(0), y(0), x(1), y(1), "diagonal"),
             _element("rect", x=LEFT, y=TOP, width=side, height=side, class_="frame"),
             _text(LEFT - 4, y(1.0) + 8, "win 1", "end", "tick"),
             _text(LEFT - 4, y(0.0), "0", "end", "tick"),
             _text(x(0.0), TOP + side + 13, "0", "start", "tick"),
             _text(x(1.0), TOP + side + 13, "1", "end", "tick"),
             _text(x(0.5), TOP + side + 13, "predicted probability", "middle", "tick"),
             _path([x(b["mean_proba"]) for b in buckets], [y(b["win_rate"]) for b in buckets],
                   "reliability")]  # fmt: skip
    for b in buckets:
        title = (f"p {b['low']:.1f}-{b['high']:.1f}: {b['count']} trades, mean p "
                 f"{b['mean_proba']:.2f}, won {b['win_rate']:.0%}")  # fmt: skip
        radius = 2.5 + 5 * math.sqrt(b["count"] / most)
        parts.append(_element("circle", _element("title", escape(title)), cx=x(b["mean_proba"]),
                              cy=y(b["win_rate"]), r=radius, class_="bucket"))  # fmt: skip
    label = "Calibration: reliability by probability bucket"
    return _svg(LEFT + side + RIGHT, side + TOP + 20, parts, "calibration", label)


def latency(overall: dict[str, Any]) -> Markup:
    """p50, p95 and p99 of the prediction latency, a bar each."""
    quantiles = [(q, overall.get(f"latency_p{q}_ms")) for q in (50, 95, 99)]
    known = [(q, v) for q, v in quantiles if v is not None]
    if not known:
        return _nothing("No latency recorded (a backtest records none).")
    x = _scale(0.0, max(v for _, v in known) or 1.0, LATENCY_LEFT, LATENCY_WIDTH - 70)
    parts = []
    for row, (q, value) in enumerate(known):
        top = TOP + row * 24
        parts += [_text(LATENCY_LEFT - 4, top + 13, f"p{q}", "end", "tick"),
                  _element("rect", x=LATENCY_LEFT, y=top, width=max(x(value) - LATENCY_LEFT, 1),
                           height=18, class_=f"bar latency p{q}"),
                  _text(x(value) + 4, top + 13, f"{value:.1f} ms", "start", "value")]  # fmt: skip
    label = "Prediction latency percentiles"
    return _svg(LATENCY_WIDTH, TOP + 24 * len(known), parts, "latency", label)


# SVG pieces ----------------------------------------------------------------------------


def _scale(low: float, high: float, start: float, end: float) -> Scale:
    span = (high - low) or 1.0
    return lambda value: start + (value - low) / span * (end - start)


def _svg(width: float, height: float, parts: Iterable[str], kind: str, label: str) -> Markup:
    body = _element("title", escape(label)) + "".join(parts)
    return Markup(_element("svg", body, xmlns="http://www.w3.org/2000/svg", role="img",
                           viewBox=f"0 0 {width} {height}", class_=f"plot {kind}",
                           aria_label=label))  # fmt: skip


def _element(tag: str, body: str = "", **attributes: Any) -> str:
    shown = "".join(f' {_attribute(name)}="{escape(_number(value))}"'
                    for name, value in attributes.items())  # fmt: skip
    return f"<{tag}{shown}>{body}</{tag}>"


def _attribute(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


def _number(value: Any) -> Any:
    return f"{value:.1f}" if isinstance(value, float) else value


def _text(x: float, y: float, words: str, anchor: str, kind: str) -> str:
    return _element("text", escape(words), x=x, y=y, text_anchor=anchor, class_=kind)


def _line(x1: float, y1: float, x2: float, y2: float, kind: str) -> str:
    return _element("line", x1=x1, y1=y1, x2=x2, y2=y2, class_=kind)


def _zero_line(y: float) -> str:
    return _line(LEFT, y, WIDTH - RIGHT, y, "zero")


def _points(xs: Sequence[float], ys: Sequence[float]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))


def _path(xs: Sequence[float], ys: Sequence[float], kind: str) -> str:
    return _element("polyline", points=_points(xs, ys), class_=kind)


def _area(xs: Sequence[float], ys: Sequence[float], base: float, kind: str) -> str:
    """The region between the line through (xs, ys) and the level `base`."""
    outline = _points([xs[0], *xs, xs[-1]], [base, *ys, base])
    return _element("polygon", points=outline, class_=kind)


def _bar(centre: float, width: float, base: float, level: float, kind: str, *,
         title: str) -> str:  # fmt: skip
    top, height = min(base, level), max(abs(level - base), 1.0)
    return _element("rect", title, x=centre - width / 2, y=top, width=width, height=height,
                    class_=kind)  # fmt: skip


def _marks(xs: Sequence[float], ys: Sequence[float], titles: Sequence[str]) -> list[str]:
    """An invisible dot per point, for its title on hover."""
    return [_element("circle", _element("title", escape(t)), cx=x, cy=y, r=4.0, class_="hover")
            for x, y, t in zip(xs, ys, titles, strict=True)]  # fmt: skip


def _value_ticks(y: Scale, extremes: tuple[float, float], form: str) -> list[str]:
    """Labels at 0 and at the extremes, those too close to 0's to read left out."""
    low, high = extremes
    shown = [0.0, *(v for v in (low, high) if abs(y(v) - y(0.0)) >= TEXT_HEIGHT)]
    return [_text(LEFT - 4, y(v) + 4, form.format(v), "end", "tick") for v in shown]


def _nothing(words: str) -> Markup:
    return Markup(_element("p", escape(words), class_="empty plot-empty"))


def _date(day: datetime) -> str:
    return f"{day:%Y-%m-%d}"


def _day_title(day: Day) -> str:
    return (f"{_date(day.day)}: {day.trades} trades, {day.result_r:+.2f} R, curve "
            f"{day.curve_r:+.2f} R, drawdown {day.drawdown_r:.2f} R")  # fmt: skip


def _week_title(week: dict[str, Any]) -> str:
    rate = "" if week["win_rate"] is None else (
        f", win rate {week['win_rate']:.0%} ({week['win_rate_low']:.0%}-"
        f"{week['win_rate_high']:.0%})")  # fmt: skip
    mean = "" if week["expectancy_r"] is None else f", expectancy {week['expectancy_r']:+.3f} R"
    return f"week of {_date(week['window_start'])}: {week['trades']} trades{rate}{mean}"
