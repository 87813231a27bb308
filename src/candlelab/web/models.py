"""Models in service, in the browser and over the API: each registered model's versions,
the aliases they hold and the shares they serve, every recorded move, the newest signals,
and a version's walk-forward metrics with a link to its run in MLflow's UI.

Everything comes from `models.deployments` and `models.signals` (nothing is written
here), and MLflow's registry through `Tracking`, made on the first request that needs it
(importing MLflow takes seconds) and kept. A name is checked against the pattern served
models keep to before any lookup. MLflow's UI is not served by candlelab: it runs beside
it (`candlelab mlflow-ui`) at the address CANDLELAB_MLFLOW_UI names, and the pages say so
where they link to it. A chart's signals come by window, as its candles do, for the chart
view's markers.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from candlelab.errors import NotFound, UnknownReference
from candlelab.market.charts import chart
from candlelab.models.deployments import ModelState, Move, VersionState, history, model_state
from candlelab.models.deployments import model_states as all_model_states
from candlelab.models.prediction import ModelShelf
from candlelab.models.signals import Signal, SignalMark, chart_signals, newest_signals
from candlelab.monitoring.comparison import champion_challenger
from candlelab.training.runs import run_detail
from candlelab.training.tracking import Tracking
from candlelab.web import plots
from candlelab.web.monitoring import in_service, unseen_alerts, version_monitoring
from candlelab.web.params import Id, Moment
from candlelab.web.pool import Conn
from candlelab.web.predictions import NAME
from candlelab.web.rendering import templates

router = APIRouter(tags=["models"])
pages = APIRouter(include_in_schema=False)

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"
SIGNALS = 20  # newest signals a model shows
MOVES = 8  # newest moves each model shows on the page of every model
MAX_MARKS = 20_000  # signals in one chart window
ModelName = Annotated[str, Path(pattern=rf"^{NAME}$", max_length=100,
                                description="A registered model's name.")]  # fmt: skip
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
_MAKING = threading.Lock()


def registry(request: Request) -> Tracking:
    """MLflow's registry for the app's database, made once."""
    state = request.app.state
    with _MAKING:
        if getattr(state, "tracking", None) is None:
            shelf: ModelShelf = state.models
            state.tracking = Tracking(shelf.url, shelf.artifact_location)
    found: Tracking = state.tracking
    return found


Registry = Annotated[Tracking, Depends(registry)]


class ModelDetail(BaseModel):
    model: ModelState
    history: list[Move] = Field(description="Every move of its aliases, newest first.")
    signals: list[Signal] = Field(description=f"The newest {SIGNALS}, by bar time.")


class Fold(BaseModel):
    number: int = Field(description="0: the walk-forward folds pooled; 1, 2, …: each fold.")
    metrics: dict[str, float]


class VersionDetail(BaseModel):
    model_name: str
    version: VersionState
    experiment_id: str
    mlflow_run: str = Field(description="The run's page in MLflow's UI (CANDLELAB_MLFLOW_UI).")
    mlflow_version: str = Field(description="The version's page in MLflow's UI.")
    folds: list[Fold] = Field(description="The metrics of each fold, as MLflow logged them.")
    # From training_runs: none for a version registered outside candlelab.
    model_type: str | None = None
    dataset_version: str | None = None
    data_start: datetime | None = None
    data_end: datetime | None = None
    total_samples: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="The pooled "
                                    "walk-forward metrics (null: not computable).")  # fmt: skip
    params: dict[str, Any] = Field(default_factory=dict)


class ChartSignals(BaseModel):
    items: list[SignalMark]
    complete: bool = Field(description="False: the window held more than `limit` signals.")


@router.get("/api/models", response_model=list[ModelState], summary="Models in service")
def list_models(conn: Conn, tracking: Registry) -> list[ModelState]:
    """Every registered model: its versions, the aliases each holds, the shares they
    serve, and whether MLflow's registry and the recorded moves agree."""
    return all_model_states(conn, tracking)


@router.get("/api/models/{name}", response_model=ModelDetail, summary="One model in service")
def get_model(name: ModelName, conn: Conn, tracking: Registry) -> ModelDetail:
    """A model's state, every move of its aliases, and its newest signals."""
    return model_detail(conn, tracking, name)


@router.get("/api/models/{name}/versions/{version}", response_model=VersionDetail,
            summary="One model version")  # fmt: skip
def get_version(name: ModelName, version: VersionNumber, conn: Conn, tracking: Registry,
                request: Request) -> VersionDetail:  # fmt: skip
    """A version's walk-forward metrics (pooled and by fold), its training data and
    parameters, and where MLflow's UI shows its run."""
    return version_detail(conn, tracking, name, version, _mlflow_ui(request))


@router.get("/api/charts/{chart_id}/signals", response_model=ChartSignals,
            summary="A chart's signals", tags=["charts"])  # fmt: skip
def get_chart_signals(
    chart_id: Id,
    conn: Conn,
    *,
    start: Annotated[Moment, Query(description="First bar time.")],
    end: Annotated[Moment, Query(description="Bars before this time.")],
    model: Annotated[str | None, Query(pattern=rf"^{NAME}$", max_length=100,
                                       description="One model's; default: every model's.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MARKS)] = 10_000,
) -> ChartSignals:  # fmt: skip
    """The signals every model version gave on the chart's bars in [start, end), oldest
    first: the class, its probability, the version and the alias it was asked by."""
    try:
        chart(conn, chart_id)
    except UnknownReference:
        raise HTTPException(404, detail=f"chart {chart_id} does not exist") from None
    marks = chart_signals(conn, chart_id, start, end, model_name=model, limit=limit + 1)
    return ChartSignals(items=marks[:limit], complete=len(marks) <= limit)


@pages.get("/models", response_class=HTMLResponse)
def models_page(request: Request, conn: Conn, tracking: Registry) -> HTMLResponse:
    details = [model_detail(conn, tracking, state.name, state)
               for state in all_model_states(conn, tracking)]  # fmt: skip
    return _models(request, conn, details, MOVES)


@pages.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: ModelName, conn: Conn, tracking: Registry) -> HTMLResponse:
    return _models(request, conn, [model_detail(conn, tracking, name)], None)


@pages.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def version_page(request: Request, name: ModelName, version: VersionNumber, conn: Conn,
                 tracking: Registry) -> HTMLResponse:  # fmt: skip
    detail = version_detail(conn, tracking, name, version, _mlflow_ui(request))
    context = {"detail": detail, "mlflow_ui": _mlflow_ui(request),
               "monitoring": version_monitoring(conn, name, version)}  # fmt: skip
    return templates.TemplateResponse(request, "version.html", context)


def _models(request: Request, conn: Conn, details: list[ModelDetail],
            moves: int | None) -> HTMLResponse:  # fmt: skip
    """The Models page: each model's versions, moves and newest signals; the record of each
    version in service side by side, with the verdict of challenger against champion."""
    context = {"details": details, "moves": moves, "mlflow_ui": _mlflow_ui(request),
               "charts": _chart_names(conn, details),
               "service": {d.model.name: in_service(conn, d.model) for d in details},
               "verdicts": {d.model.name: champion_challenger(conn, d.model.name)
                            for d in details},
               "chart_alerts": [a for a in unseen_alerts(conn)
                                if a["model_name"] is None]}  # fmt: skip
    return templates.TemplateResponse(request, "models.html", context)


def model_detail(conn: Conn, tracking: Tracking, name: str,
                 state: ModelState | None = None) -> ModelDetail:  # fmt: skip
    state = state or model_state(conn, tracking, name)
    signals = newest_signals(conn, name, [v.version for v in state.versions], SIGNALS)
    return ModelDetail(model=state, history=history(conn, name), signals=signals)


def version_detail(conn: Conn, tracking: Tracking, name: str, version: int,
                   mlflow_ui: str) -> VersionDetail:  # fmt: skip
    """The version as the registry holds it, with its training run's record and metrics."""
    state = model_state(conn, tracking, name)
    found = next((v for v in state.versions if v.version == version), None)
    if found is None:
        raise NotFound(f"model {name} has no version {version}")
    experiment = tracking.experiment_of(found.run_id)
    folds = [Fold(number=step, metrics=metrics)
             for step, metrics in tracking.step_metrics(found.run_id).items()]  # fmt: skip
    return VersionDetail(
        model_name=name, version=found, experiment_id=experiment,
        mlflow_run=f"{mlflow_ui}/#/experiments/{experiment}/runs/{found.run_id}",
        mlflow_version=f"{mlflow_ui}/#/models/{quote(name, safe='')}/versions/{version}",
        folds=folds, **_recorded(conn, found.run_id),
    )  # fmt: skip


def _recorded(conn: Conn, run_id: str) -> dict[str, Any]:
    """What `training_runs` holds of the version's run; nothing for a version registered
    outside candlelab."""
    try:
        run = run_detail(conn, run_id)
    except NotFound:
        return {}
    kept = ("model_type", "dataset_version", "data_start", "data_end", "total_samples",
            "metrics", "params")  # fmt: skip
    return {name: getattr(run, name) for name in kept}


def _chart_names(conn: Conn, details: list[ModelDetail]) -> dict[int, str]:
    """'SYMBOL timeframe' of each chart the signals shown are on."""
    ids = {s.chart_id for d in details for s in d.signals}
    return {i: f"{c.symbol} {c.timeframe}" for i, c in ((i, chart(conn, i)) for i in ids)}


def _mlflow_ui(request: Request) -> str:
    return str(getattr(request.app.state, "mlflow_ui", DEFAULT_MLFLOW_UI))


def utc_text(moment: datetime | None) -> str:
    """A time as the pages print it."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["utc"] = utc_text
templates.env.globals.update(plot_curve=plots.result_curve, plot_weekly=plots.weekly,
                             plot_calibration=plots.calibration,
                             plot_latency=plots.latency)  # fmt: skip
