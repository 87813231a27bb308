"""`candlelab propose`: a registered model's predictions as spans for the labellers."""

from __future__ import annotations

from typing import Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out, table
from candlelab.cli.train import Charts, Json, Symbols


def propose(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="NAME (newest version), NAME@ALIAS or NAME/VERSION.")],
    chart: Charts = None,
    symbol: Symbols = None,
    min_confidence: Annotated[
        float, typer.Option(help="Mean probability a proposal needs.", min=0, max=1)
    ] = 0.0,
    min_bars: Annotated[int, typer.Option(help="Shortest proposal, in bars.", min=1)] = 3,
    json: Json = False,
) -> None:
    """Write a model's predictions as proposed spans (source model) for review in the chart
    view. A span the same run proposed before is not written again; bars a person labelled
    or reviewed get no proposal. Default charts: every chart its feature set is built on."""
    from candlelab.training.datasets import chart_selection
    from candlelab.training.proposals import ModelReference, propose, trained_model

    reference = ModelReference.parse(model)
    space = workspace(ctx)
    loaded = trained_model(space.database_url, space.settings.artifact_location, reference)
    with space.connect() as conn:
        chosen = chart_selection(conn, loaded.features, chart or [], symbol or [])
    reports = propose(space.database_url, loaded, chosen, min_bars, min_confidence)
    if json:
        emit_json({"model": loaded.name, "version": loaded.version, "run_id": loaded.run_id,
                   "charts": reports})  # fmt: skip
        return
    out.print(f"model {loaded.name} version {loaded.version} (run {loaded.run_id[:12]}): "
              f"{sum(r.written for r in reports)} new proposals", soft_wrap=True)  # fmt: skip
    table("proposals", ("chart", "found", "written"),
          [[r.chart_id, r.proposed, r.written] for r in reports])  # fmt: skip
