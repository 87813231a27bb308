"""The demo's labelling loop: label half the hourly charts, train on the spans, propose on
the other half, and show how well the proposals match the regimes the market was made
from."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from candlelab.cli.output import out, table

if TYPE_CHECKING:
    from candlelab.demo import Agreement
    from candlelab.market.synthetic_market import MarketSpec
    from candlelab.training.trainer import TrainingResult
    from candlelab.workspace import Workspace

MODEL = "demo-regimes"
PARAMS = {"num_boost_round": 60, "learning_rate": 0.1}


def labelling_loop(ws: Workspace, spec: MarketSpec) -> tuple[TrainingResult, tuple[int, ...]]:
    """Spans on half the charts, a model trained on them, its proposals on the rest; the
    model and the labelled charts."""
    from candlelab.demo import hourly_charts, label_regimes, proposal_agreement
    from candlelab.market.synthetic_market import INSTRUMENTS

    with ws.connect() as conn:
        labelled = hourly_charts(conn, INSTRUMENTS[::2])
        others = hourly_charts(conn, INSTRUMENTS[1::2])
        drawn = label_regimes(conn, spec, labelled)
    if drawn:
        out.print(f"labels:    {drawn} regime spans drawn on {len(labelled)} hourly charts")
    with out.status("training on the labelled charts", spinner="dots") as status:
        result = train_on_spans(ws, tuple(labelled), status.update)
        status.update("proposing on the other charts")
        written = _propose(ws, result, tuple(others))
    _print_run(result, written)
    with ws.connect() as conn:
        _print_agreement(proposal_agreement(conn, spec, others, result.run_id))
    return result, tuple(labelled)


def train_on_spans(ws: Workspace, charts: tuple[int, ...], report: Callable[[str], None],
                   params: dict[str, float] | None = None) -> TrainingResult:  # fmt: skip
    """A new version of MODEL trained on the charts' spans (PARAMS unless given)."""
    from candlelab.features.registry import stored_set
    from candlelab.training.datasets import DatasetRequest
    from candlelab.training.folds import FoldPlan
    from candlelab.training.targets import ready_target
    from candlelab.training.trainer import TrainingRequest, train

    with ws.connect() as conn:
        core = stored_set(conn, "core")
    data = DatasetRequest(core, ready_target("spans"), charts)
    request = TrainingRequest(data, params=dict(params or PARAMS),
                              folds=FoldPlan(folds=3, embargo=24), experiment="demo",
                              model_name=MODEL, created_by="demo")  # fmt: skip
    return train(ws.database_url, ws.settings.artifact_location, request, report)


def _propose(ws: Workspace, result: TrainingResult, charts: tuple[int, ...]) -> int:
    from candlelab.training.proposals import ModelReference, propose, trained_model

    reference = ModelReference(result.model_name, version=result.model_version)
    model = trained_model(ws.database_url, ws.settings.artifact_location, reference)
    reports = propose(ws.database_url, model, charts, min_bars=12, min_confidence=0.5)
    return sum(r.written for r in reports)


def _print_run(result: TrainingResult, written: int) -> None:
    out.print(f"model:     {result.model_name} version {result.model_version}, run "
              f"{result.run_id[:12]}, {result.rows:,} labelled bars, dataset "
              f"{result.dataset_version[:12]}", soft_wrap=True)  # fmt: skip
    heads = ("balanced_accuracy", "macro_f1", "log_loss", "roc_auc")
    rows = [[f.number, f.test_start[:10], f.train_rows, f.test_rows, f.purged,
             *(round(f.metrics[h], 3) for h in heads)] for f in result.folds]  # fmt: skip
    rows.append(["all", "", "", "", "", *(round(result.metrics[h], 3) for h in heads)])
    table("walk-forward validation (spans target)",
          ("fold", "test from", "train", "test", "purged", *heads), rows)  # fmt: skip
    out.print(f"proposals: {written} new spans proposed on the other hourly charts")


def _print_agreement(agreements: list[Agreement]) -> None:
    rows = [[a.label, a.proposed_bars, _percent(a.precision), _percent(a.recall)]
            for a in agreements]  # fmt: skip
    table("proposals against the market's known regimes (bars)",
          ("label", "proposed", "precision", "recall"), rows)  # fmt: skip


def _percent(value: float) -> str:
    return "" if math.isnan(value) else f"{100 * value:.0f} %"
