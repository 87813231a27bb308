"""The demo's drift step: two weeks after the demo's year arrive on the labelled hourly
charts, in a regime whose moves are three times as large as the instruments' usual ones
(the year's own volatile regime is 2.2 times). The model in service predicts every new
bar, its signals carrying their feature vectors, and the drift check compares them with
what it was trained on: the volatility features must drift, the calendar ones must not
(the same charts over whole weeks keep the hours and weekdays they had)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from candlelab.cli.alerts import requests_line
from candlelab.cli.demo_loop import MODEL
from candlelab.cli.output import out, table

if TYPE_CHECKING:
    from candlelab.jobs.triggers import Requested
    from candlelab.market.synthetic_market import MarketSpec
    from candlelab.monitoring.alerts import Recorded
    from candlelab.monitoring.drift import DriftReport, VersionDrift
    from candlelab.workspace import Workspace

WORST_SHOWN = 5
# The default feature set's measures of how much prices move (`features/sets/core.toml`).
VOLATILITY = ("std_5", "std_20", "std_60", "atr_14", "natr_14", "range", "bb_width")


def drift_step(ws: Workspace, spec: MarketSpec, versions: dict[int, str]) -> DriftReport:
    """Store the shifted weeks, serve them, check drift and record its alerts; show the
    versions in service (`versions`, by their aliases)."""
    from candlelab.demo import SHIFT_DAYS, SHIFT_SCALE

    with out.status(f"{SHIFT_DAYS} more days arrive, more volatile", spinner="dots") as status:
        arrived = _arrive(ws, spec)
        status.update(f"the model in service predicts the new bars ({arrived.bars:,})")
        _serve(ws, arrived)
        status.update("comparing what it served with what it learned from")
        report = _check(ws, timedelta(days=SHIFT_DAYS))
        recorded, requested = _alerts(ws, report)
    out.print(f"shifted:   {arrived.bars:,} new hourly bars on the labelled charts, moves "
              f"{SHIFT_SCALE:g} times as large as usual, each predicted by the version it "
              "routes to", soft_wrap=True)  # fmt: skip
    watched = _watched()
    for version in report.versions:
        if version.model_version in versions:
            _print_version(version, versions[version.model_version], watched)
    out.print("           (price levels, such as ema_20 and the bands, drift whenever prices "
              "move on, shift or no shift)", soft_wrap=True)  # fmt: skip
    out.print(f"drift:     {len(recorded.raised)} alert(s) raised; candlelab drift --model "
              f"{MODEL} --window {SHIFT_DAYS}d", soft_wrap=True)  # fmt: skip
    if requested:
        out.print(f"           {requests_line(requested)}", soft_wrap=True)
    return report


@dataclass(frozen=True)
class Arrived:
    """The hourly charts the shifted bars landed on, and how many bars each."""

    charts: dict[int, int]

    @property
    def bars(self) -> int:
        return sum(self.charts.values())


def _arrive(ws: Workspace, spec: MarketSpec) -> Arrived:
    """The shifted bars ingested on the labelled charts, and their features built."""
    from candlelab.demo import hourly_charts, store_shift
    from candlelab.features.definitions import bundled_feature_set
    from candlelab.features.materialisation import build_features
    from candlelab.market.synthetic_market import INSTRUMENTS

    with ws.connect() as conn:
        charts = list(hourly_charts(conn, INSTRUMENTS[::2]))  # in the instruments' order
        reports = store_shift(conn, spec, INSTRUMENTS[::2])
        build_features(conn, bundled_feature_set("core"), charts)
    return Arrived({c: r.rows_read for c, r in zip(charts, reports, strict=True)})


def _serve(ws: Workspace, arrived: Arrived) -> None:
    """Every new bar predicted, as a client asking for it would have it: routed."""
    from candlelab.models.prediction import ModelShelf, predict_newest
    from candlelab.training.proposals import ModelReference

    shelf = ModelShelf(ws.database_url, ws.settings.artifact_location)
    reference = ModelReference.parse(MODEL)
    with ws.connect() as conn:
        for chart_id, bars in arrived.charts.items():
            predict_newest(conn, shelf, reference, chart_id=chart_id, bars=bars)


def _check(ws: Workspace, window: timedelta) -> DriftReport:
    from candlelab.monitoring.drift import drift

    with ws.connect() as conn:
        return drift(conn, MODEL, window=window)


def _alerts(ws: Workspace, report: DriftReport) -> tuple[Recorded, list[Requested]]:
    """The drift alerts recorded, and the retrains they asked for."""
    from candlelab.cli.alerts import record
    from candlelab.monitoring.alerts import drift_found

    return record(ws, drift_found(report))


def _watched() -> dict[str, str]:
    """The default feature set's volatility columns and its calendar ones, by name."""
    from candlelab.features.definitions import Calendar, bundled_feature_set

    features = bundled_feature_set("core").features
    calendar = {f.name: "calendar" for f in features if isinstance(f.source, Calendar)}
    return dict.fromkeys(VOLATILITY, "volatility") | calendar


def _print_version(version: VersionDrift, alias: str, watched: dict[str, str]) -> None:
    """The volatility and calendar features and the predictions, then the worst features
    whatever they are."""
    shown = [m for m in version.measures if m.name in watched or m.kind != "feature"]
    rows = [[m.name if m.kind == "feature" else "(predictions)", watched.get(m.name, ""),
             f"{m.psi:.2f}", "" if m.ks is None else f"{m.ks:.2f}", m.status]
            for m in sorted(shown, key=lambda m: (watched.get(m.name, "~"), -m.psi))]  # fmt: skip
    table(f"drift of v{version.model_version}, {alias} ({version.signals:,} signals)",
          ("feature", "kind", "PSI", "KS", "status"), rows)  # fmt: skip
    worst = [m for m in version.measures if m.kind == "feature"][:WORST_SHOWN]
    out.print("worst:     " + ", ".join(f"{m.name} {m.psi:.2f}" for m in worst), soft_wrap=True)
