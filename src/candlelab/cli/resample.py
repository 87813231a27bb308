"""`candlelab resample CHART --to TF`: a chart at a longer timeframe, kept current."""

from __future__ import annotations

from typing import Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.options import LARGEST_ID, offset_option, timeframe_option
from candlelab.cli.output import emit_json, out


def resample(
    ctx: typer.Context,
    chart_id: Annotated[
        int,
        typer.Argument(help="The base chart's id (see `candlelab charts`).", min=1, max=LARGEST_ID),
    ],
    to: Annotated[str, typer.Option("--to", help="Target timeframe: 5m, 1h, 4h, 1d, 1w, 1M.")],
    offset: Annotated[
        str, typer.Option(help="Intraday bins start this long after round times (30m).")
    ] = "0m",
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Derive a chart at a longer timeframe from a base chart, in SQL.

    Days, weeks and months follow the chart's timezone (a session stays in its local
    day across DST). Later ingests into the base update the derived chart too.
    """
    from candlelab.market.charts import chart_summaries
    from candlelab.market.resampling import derive_chart

    timeframe = timeframe_option(to, "--to")
    bar_offset = offset_option(offset, timeframe)
    with workspace(ctx).connect() as conn:
        with conn.transaction():
            derived = derive_chart(conn, chart_id, timeframe, bar_offset)
        summary = next(c for c in chart_summaries(conn) if c.id == derived)
    if json:
        emit_json(summary)
        return
    out.print(
        f"chart {derived}: {summary.name}, {summary.bars:,} bars "
        f"from {summary.first_bar} to {summary.last_bar}",
        soft_wrap=True,
    )
