"""The demo's serving step: the labelling loop's model in service as `champion`, a second
version on trial as `challenger` with a fifth of the traffic, and a prediction for the
newest bar of every chart, routed between the two and logged in `signals`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from candlelab.cli.demo_loop import MODEL, train_on_spans
from candlelab.cli.output import out, table

if TYPE_CHECKING:
    from candlelab.errors import NotPredictable
    from candlelab.models.signals import Signal
    from candlelab.training.trainer import TrainingResult
    from candlelab.workspace import Workspace

# The challenger: shallower trees, learning faster; a different model worth a trial.
CHALLENGER_PARAMS = {"num_boost_round": 30, "learning_rate": 0.2, "num_leaves": 15}
CHALLENGER_SHARE = 0.2


def serving_step(ws: Workspace, champion: TrainingResult,
                 charts: tuple[int, ...]) -> dict[int, str]:  # fmt: skip
    """Promote `champion`, train and promote a challenger on the same charts, predict;
    the versions in service by their aliases."""
    with out.status("training a challenger", spinner="dots") as status:
        challenger = train_on_spans(ws, charts, status.update, CHALLENGER_PARAMS)
        status.update("promoting")
        _promote(ws, champion.model_version, challenger.model_version)
        status.update("predicting the newest bar of every chart")
        predicted = _predict_newest(ws)
    out.print(f"in service: {MODEL} version {champion.model_version} champion, version "
              f"{challenger.model_version} challenger at {CHALLENGER_SHARE:.0%} of the "
              "traffic (routed by chart and bar)", soft_wrap=True)  # fmt: skip
    _print_signals(predicted)
    return {champion.model_version: "champion", challenger.model_version: "challenger"}


def _promote(ws: Workspace, champion: int, challenger: int) -> None:
    from candlelab.models.deployments import promote
    from candlelab.training.tracking import Tracking

    tracking = Tracking(ws.database_url, ws.settings.artifact_location)
    with ws.connect() as conn:
        promote(conn, tracking, MODEL, champion, "champion", who="demo",
                reason="demo: trained on the labelled charts")  # fmt: skip
        promote(conn, tracking, MODEL, challenger, "challenger", traffic=CHALLENGER_SHARE,
                who="demo", reason="demo: a second parameter set on trial")  # fmt: skip


@dataclass
class Predicted:
    """The newest bar of each chart: the signals, the refusals, each chart's name."""

    names: dict[int, str] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)
    refused: list[NotPredictable] = field(default_factory=list)


def _predict_newest(ws: Workspace) -> Predicted:
    """Each chart's newest closed bar, predicted by the version its draw routes to."""
    from candlelab.market.charts import all_charts
    from candlelab.models.prediction import ModelShelf, predict_newest
    from candlelab.training.proposals import ModelReference

    shelf = ModelShelf(ws.database_url, ws.settings.artifact_location)
    predicted, reference = Predicted(), ModelReference.parse(MODEL)
    with ws.connect() as conn:
        for chart in all_charts(conn):
            predicted.names[chart.id] = f"{chart.symbol} {chart.timeframe}"
            done, failed = predict_newest(conn, shelf, reference, chart_id=chart.id, bars=1)
            predicted.signals += done
            predicted.refused += failed
    return predicted


def _print_signals(predicted: Predicted) -> None:
    rows = [[predicted.names.get(s.chart_id, s.chart_id), f"{s.time:%Y-%m-%d %H:%M}",
             s.model_version, s.alias or "", s.pred, f"{s.proba:.2f}", _ms(s.latency_ms)]
            for s in predicted.signals]  # fmt: skip
    table("signals on the newest bars (bar opens in UTC)",
          ("chart", "bar", "v", "alias", "pred", "proba", "ms"), rows)  # fmt: skip
    refused = predicted.refused
    if refused:
        out.print(f"not predicted: {len(refused)} chart(s), e.g. {refused[0]}", soft_wrap=True)
    out.print(f"models:    candlelab models show {MODEL}; the Models page at "
              "http://127.0.0.1:8000/models (candlelab serve)", soft_wrap=True)  # fmt: skip
    out.print('signals:   psql "$(candlelab db url)" -c "select chart_id, time, model_version, '
              'alias, pred, proba, latency_ms from signals order by created_at desc limit 10"',
              soft_wrap=True)  # fmt: skip


def _ms(latency: float | None) -> str:
    return "" if latency is None else f"{latency:.1f}"
