"""`candlelab predict`: a registered model's signals for the newest bars, or a backtest."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out, table
from candlelab.cli.train import Charts, Json, Symbols, _utc
from candlelab.errors import ConfigError

if TYPE_CHECKING:
    from candlelab.errors import NotPredictable
    from candlelab.models.prediction import ModelShelf, ServedModel
    from candlelab.models.signals import Signal
    from candlelab.workspace import Workspace

MOST_BARS = 10_000  # --bars N predicts bar by bar; longer histories are backtests


def predict(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Option(
            help="NAME (routed among its serving versions; a backtest: its "
            "champion), NAME@ALIAS or NAME/VERSION."
        ),
    ],
    chart: Charts = None,
    symbol: Symbols = None,
    bars: Annotated[
        str, typer.Option(help="latest (the newest closed bar) or N (the N newest bars).")
    ] = "latest",
    start: Annotated[
        datetime | None, typer.Option(help="Backtest from this bar (UTC unless an offset).")
    ] = None,
    end: Annotated[datetime | None, typer.Option(help="Backtest end, exclusive.")] = None,
    json: Json = False,
) -> None:
    """Predict and log every prediction as a signal (a repeated one is read back, not
    written twice); a bare NAME is routed bar by bar as the server routes it, its shadows
    logged beside. With --start or --end: a backtest of every stored bar in the range by
    one version, written in bulk. Default charts: every chart its feature set is built
    on."""
    count = _bars(bars)
    space = workspace(ctx)
    shelf, served, chosen = _served(space, model, chart or [], symbol or [])
    if start is not None or end is not None:
        _backtest(space, served, chosen, (_utc(start), _utc(end)), json)
    else:
        _newest(space, shelf, model, chosen, count, json)


def _bars(text: str) -> int:
    """--bars as a count of newest bars (latest: 1)."""
    if text == "latest":
        return 1
    if not text.isdigit() or not 1 <= int(text) <= MOST_BARS:
        raise ConfigError(f"--bars {text!r}: write latest, or a count from 1 to {MOST_BARS:,} "
                          "(use --start/--end for a backtest)")  # fmt: skip
    return int(text)


def _served(space: Workspace, model: str, charts: list[int],
            symbols: list[str]) -> tuple[ModelShelf, ServedModel, tuple[int, ...]]:  # fmt: skip
    """The shelf, the version the reference names (a bare name: the champion, whose
    feature set picks the default charts), and the charts."""
    from candlelab.models.prediction import ModelShelf, served_reference
    from candlelab.training.datasets import chart_selection

    shelf = ModelShelf(space.database_url, space.settings.artifact_location)
    with space.connect() as conn:
        served = shelf.served(conn, served_reference(model))
        return shelf, served, chart_selection(conn, served.model.features, charts, symbols)


def _backtest(space: Workspace, served: ServedModel, charts: tuple[int, ...],
              bounds: tuple[datetime | None, datetime | None], json: bool) -> None:  # fmt: skip
    from candlelab.models.prediction import backtest

    with out.status("backtest", spinner="dots"):
        report = backtest(space.database_url, served, charts, start=bounds[0], end=bounds[1])
    if json:
        emit_json(report)
        return
    out.print(f"model {report.model_name} version {report.model_version}: {report.charts} "
              f"charts, {report.predicted:,} bars predicted, {report.written:,} new signals, "
              f"{report.skipped:,} bars before the features' warm-up skipped",
              soft_wrap=True)  # fmt: skip


def _newest(space: Workspace, shelf: ModelShelf, model: str, charts: tuple[int, ...],
            count: int, json: bool) -> None:  # fmt: skip
    from candlelab.models.prediction import predict_newest
    from candlelab.training.proposals import ModelReference

    reference = ModelReference.parse(model)
    signals: list[Signal] = []
    refused: list[NotPredictable] = []
    with space.connect() as conn:
        for chart_id in charts:
            done, failed = predict_newest(conn, shelf, reference,
                                          chart_id=chart_id, bars=count)  # fmt: skip
            signals, refused = signals + done, refused + failed
    if refused and not signals:
        raise refused[0]
    _print_signals(reference.name, signals, refused, json)


def _print_signals(name: str, signals: list[Signal], refused: list[NotPredictable],
                   json: bool) -> None:  # fmt: skip
    if json:
        emit_json({"model": name, "signals": signals,
                   "refused": [_refusal(r) for r in refused]})  # fmt: skip
        return
    table(f"signals of {name}",
          ("chart", "bar", "version", "alias", "pred", "proba", "label", "latency ms", "new"),
          [[s.chart_id, s.time, s.model_version, s.alias or "", s.pred, f"{s.proba:.3f}",
            s.label, f"{s.latency_ms:.1f}" if s.latency_ms is not None else "",
            "yes" if s.new else "no"] for s in signals])  # fmt: skip
    for refusal in refused:
        out.print(f"not predicted: {refusal}", soft_wrap=True)


def _refusal(refusal: NotPredictable) -> dict[str, Any]:
    return {"chart_id": refusal.chart_id, "time": refusal.time, "reason": refusal.reason}
