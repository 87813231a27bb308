"""`POST /api/models/{name}/predict`: a registered model's signal for a chart's bar.

The model is named as on the command line, NAME (routed among the versions serving it:
champion, challengers by share, shadows logged beside) or NAME@ALIAS in the path, or a
version in the body; the names are checked against a pattern before any
lookup, and a model is only ever loaded from the registry (`models.prediction`), never
from a path a request names. A bar the chart lacks, one that has not closed, or one
before the features' warm-up is a 422 saying which; an unknown model or alias a 404.
Versions stay loaded in the process (`ModelShelf` on the app's state), and the serving
sets are kept while the app runs (the app's lifespan watches the moves).
"""

from __future__ import annotations

import time as clock
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, FastAPI, Path, Request
from pydantic import BaseModel, Field

from candlelab.models.prediction import ModelShelf, Trial, predict_reference, shadow_signals
from candlelab.models.signals import Signal
from candlelab.training.proposals import ModelReference
from candlelab.web.params import Moment, Whole
from candlelab.web.pool import Conn

router = APIRouter(prefix="/api/models", tags=["models"])

# A registered model's name (MLflow's are freer; served ones keep to this) and an alias.
NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
ALIAS = r"[A-Za-z0-9_-]{1,64}"
ModelName = Annotated[
    str,
    Path(pattern=rf"^{NAME}(@{ALIAS})?$", max_length=200,
         description="NAME (routed among the versions serving it) or NAME@ALIAS."),
]  # fmt: skip


class PredictRequest(BaseModel):
    chart_id: Whole
    time: Moment | None = Field(None, description="The bar's open; default: the newest closed.")
    version: int | None = Field(None, ge=1, le=2**31 - 1,
                                description="A version number instead of an alias.")  # fmt: skip


@router.post("/{name}/predict", response_model=Signal, summary="Predict a chart's bar")
def predict_bar(name: ModelName, body: PredictRequest, conn: Conn, request: Request,
                background: BackgroundTasks) -> Signal:  # fmt: skip
    """The model's signal for the bar, logged in `signals`: the stored one when this
    version predicted the bar before (`new` false), else a new one with its latency.
    The shadows of a routed name predict once the answer is sent."""
    started = clock.perf_counter()
    shelf: ModelShelf = request.app.state.models
    reference = ModelReference.parse(name if body.version is None else f"{name}/{body.version}")
    return predict_reference(conn, shelf, reference, body.chart_id, time=body.time,
                             started=started,
                             later=lambda trials: background.add_task(
                                 _shadows, request.app, trials))  # fmt: skip


def _shadows(app: FastAPI, trials: list[Trial]) -> None:
    """The shadows' signals, on a pooled connection of their own (the request's is back)."""
    shelf: ModelShelf = app.state.models
    with app.state.pool.connection() as conn:
        shadow_signals(conn, shelf, trials)
