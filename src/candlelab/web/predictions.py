"""`POST /api/models/{name}/predict`: a registered model's signal for a chart's bar.

The model is named as on the command line, NAME (routed among the versions serving it:
champion, challengers by share, shadows logged beside) or NAME@ALIAS in the path, or a
version in the body; the names are checked against a pattern before any
lookup, and a model is only ever loaded from the registry (`models.prediction`), never
from a path a request names. A bar the chart lacks, one that has not closed, or one
before the features' warm-up is a 422 saying which; an unknown model or alias a 404.
Versions stay loaded in the process (`ModelShelf` on the app's state), and the serving
sets are kept while the app runs (the app's lifespan watches the moves). The route is
async and hands its blocking part to one worker thread (connection, checks, lookup,
model, signal written), and the answer is encoded once: a request costs one thread hop.
"""

from __future__ import annotations

import time as clock
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, FastAPI, Path, Request, Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from candlelab.models.prediction import (
    Later,
    ModelShelf,
    Trial,
    predict_reference,
    shadow_signals,
)
from candlelab.models.signals import Signal
from candlelab.training.proposals import ModelReference
from candlelab.web.params import Moment, Whole
from candlelab.web.pool import pooled

router = APIRouter(prefix="/api/models", tags=["models"])
# The answer encoded by pydantic at once: the route returns a Response, so FastAPI does
# not validate the signal (61 features and more) against its own model first.
SIGNAL = TypeAdapter(Signal)

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
async def predict_bar(name: ModelName, body: PredictRequest, request: Request,
                      background: BackgroundTasks) -> Response:  # fmt: skip
    """The model's signal for the bar, logged in `signals`: the stored one when this
    version predicted the bar before (`new` false), else a new one with its latency.
    The shadows of a routed name predict once the answer is sent."""
    started = clock.perf_counter()
    reference = ModelReference.parse(name if body.version is None else f"{name}/{body.version}")

    def later(trials: list[Trial]) -> None:
        background.add_task(_shadows, request.app, trials)

    signal = await run_in_threadpool(_predict, request.app, reference, body, started, later)
    return Response(SIGNAL.dump_json(signal), media_type="application/json")


def _predict(app: FastAPI, reference: ModelReference, body: PredictRequest, started: float,
             later: Later) -> Signal:  # fmt: skip
    """The blocking part in one thread: the pooled connection taken, used and given back
    there (the `Conn` dependency would take it in a thread hop of its own). In autocommit:
    the reads need no transaction (each sees the data committed when it starts, as in
    one at READ COMMITTED) and the signal's INSERT commits as it is written, so a new
    prediction is three round trips to PostgreSQL, not five, a repeated one two, not four."""
    with pooled(app, autocommit=True) as conn:
        return predict_reference(conn, app.state.models, reference, body.chart_id,
                                 time=body.time, started=started, later=later)  # fmt: skip


def _shadows(app: FastAPI, trials: list[Trial]) -> None:
    """The shadows' signals, on a pooled connection of their own (the request's is back)."""
    shelf: ModelShelf = app.state.models
    with pooled(app) as conn:
        shadow_signals(conn, shelf, trials)
