"""The demo's last step closes the loop once: the drift alerts asked for a retrain of the
model; a worker started here takes that request (`--once`), retrains the model as it was
last trained on the bars there are now (the volatile weeks included), registers the new
version and promotes it as challenger. The queue row, the new version and the moves of
the model's aliases show what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from candlelab.cli.demo_loop import MODEL
from candlelab.cli.demo_serving import CHALLENGER_SHARE
from candlelab.cli.output import out, table

if TYPE_CHECKING:
    from candlelab.jobs.requests import Request
    from candlelab.workspace import Workspace

MOVES_SHOWN = 4
REASON = 28  # characters of a move's reason: the table fits 80 columns


def retrain_step(ws: Workspace) -> None:
    """One worker, one job: the model's pending retrain request, if the alerts made one."""
    from candlelab.jobs.worker import Worker, WorkerConfig

    if _pending(ws) is None:
        out.print("retrain:   no request on the queue (no drift alert asked for one)")
        return
    config = WorkerConfig(ws.database_url, ws.settings.artifact_location, once=True, poll=1.0,
                          challenger_traffic=CHALLENGER_SHARE, log_level="WARNING")  # fmt: skip
    with out.status("a worker takes the retrain request (candlelab worker --once)",
                    spinner="dots"):  # fmt: skip
        Worker(config).run()
    _print_outcome(ws)


def _pending(ws: Workspace) -> Request | None:
    from candlelab.jobs.requests import requests

    with ws.connect() as conn:
        found = requests(conn, status="pending", model_name=MODEL, limit=1)
    return found[0] if found else None


def _print_outcome(ws: Workspace) -> None:
    """The request as the worker left it, the version it made, the newest moves."""
    from candlelab.jobs.requests import requests
    from candlelab.models.deployments import history

    with ws.connect() as conn:
        (done,) = requests(conn, model_name=MODEL, limit=1)
        moves = history(conn, MODEL)[:MOVES_SHOWN]
    outcome = done.training_run_id or done.error_message or ""
    out.print(f"retrain:   request {done.id} {done.status} after {done.attempts} attempt(s), "
              f"run {outcome[:12]}; asked by: {done.reason[:90]}", soft_wrap=True)  # fmt: skip
    rows = [[m.id, m.action, m.alias, m.version, m.replaced_version, m.changed_by,
             m.reason[:REASON]] for m in moves]  # fmt: skip
    table(f"the newest moves of {MODEL}'s aliases (candlelab models history)",
          ("id", "action", "alias", "v", "was", "by", "reason"), rows)  # fmt: skip
    out.print(f"loop:      candlelab retrain list; candlelab models history {MODEL}; candlelab "
              f"models decide {MODEL} --dry-run (once the new challenger has a record)",
              soft_wrap=True)  # fmt: skip
