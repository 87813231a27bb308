"""`candlelab retrain`: ask for a model to be retrained, and look after the requests."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click.core import Context  # what TyperGroup.parse_args is typed with
from typer.core import TyperGroup

from candlelab.cli import workspace
from candlelab.cli.options import LARGEST_ID
from candlelab.cli.output import emit_json, out, table
from candlelab.cli.train import Json

if TYPE_CHECKING:
    from candlelab.jobs.requests import Request


class _NameFirst(TyperGroup):
    """`candlelab retrain NAME ...` is `candlelab retrain request NAME ...`: a first word
    that names no subcommand is a model's name."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["request", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_NameFirst,
    help="Retrain requests: `candlelab retrain NAME --reason ...` asks for one (workers "
    "take them: `candlelab worker`); list, show, cancel and retry them.",
    no_args_is_help=True,
)
RequestId = Annotated[int, typer.Argument(help="A retrain request's id.", min=1, max=LARGEST_ID)]


@app.command("request")
def request(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A registered model's name.")],
    reason: Annotated[str, typer.Option(help="Why, kept on the request.")],
    priority: Annotated[int, typer.Option(help="1 = low ... 5 = high.", min=1, max=5)] = 3,
    time_limit: Annotated[
        int | None, typer.Option(help="Seconds an attempt may run.  [default: none]", min=1)
    ] = None,
    max_attempts: Annotated[int, typer.Option(help="Attempts before it fails.", min=1)] = 3,
    json: Json = False,
) -> None:
    """Ask for NAME to be retrained as it was last trained, on the data there is now (or
    join its open request: the higher priority wins, the reasons are joined)."""
    from candlelab.jobs.queue import enqueue
    from candlelab.jobs.retraining import last_training

    if not reason.strip():
        raise typer.BadParameter("give a reason, for the record", param_hint="--reason")
    with workspace(ctx).connect() as conn:
        last_training(conn, name)  # a model never trained cannot be trained again
        conn.rollback()
        done = enqueue(conn, name, reason.strip(), priority, max_attempts=max_attempts,
                       timeout_seconds=time_limit)  # fmt: skip
    if json:
        emit_json(done)
        return
    joined = "joined its open request" if done.merged else "requested"
    out.print(f"retrain of {name} {joined}: request {done.id} (`candlelab worker` takes it)")


@app.command("list")
def list_requests(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="pending, processing, completed or failed.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="One model's requests.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    json: Json = False,
) -> None:
    """Retrain requests, newest first."""
    from candlelab.jobs.requests import requests

    with workspace(ctx).connect() as conn:
        found = requests(conn, status, model, limit)
    if json:
        emit_json(found)
        return
    table("retrain requests", ("id", "model", "status", "priority", "attempts", "worker",
                               "requested", "run", "reason", "error"),
          [[r.id, r.model_name, r.status, r.priority, f"{r.attempts}/{r.max_attempts}",
            r.worker_id, r.inserted_at, (r.training_run_id or "")[:12], r.reason,
            r.error_message] for r in found])  # fmt: skip


@app.command("show")
def show(ctx: typer.Context, request_id: RequestId, json: Json = False) -> None:
    """One retrain request: every column."""
    from candlelab.jobs.requests import request as one_request

    with workspace(ctx).connect() as conn:
        found = one_request(conn, request_id)
    _print_request(found, json)


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    request_id: RequestId,
    reason: Annotated[str | None, typer.Option(help="Why, kept on the request.")] = None,
    by: Annotated[str | None, typer.Option(help="Who.  [default: the OS user]")] = None,
    json: Json = False,
) -> None:
    """End a pending or running request as failed. A running one's worker is refused at
    its next heartbeat: it stops the training and registers or promotes nothing more."""
    from candlelab.jobs.requests import cancel as cancel_request
    from candlelab.jobs.requests import request as one_request

    who = by.strip() if by and by.strip() else getpass.getuser()
    with workspace(ctx).connect() as conn:
        was = cancel_request(conn, request_id, who, reason)
        found = one_request(conn, request_id)
    if json:
        emit_json({"was": was, "request": found})
        return
    then = ("its worker stops the training at its next heartbeat and writes nothing more"
            if was == "processing" else "no worker will take it")  # fmt: skip
    out.print(f"request {request_id} was {was}: cancelled; {then}")


@app.command("retry")
def retry(ctx: typer.Context, request_id: RequestId, json: Json = False) -> None:
    """Put a failed request back to pending (attempts counted from zero), or make a
    pending one waiting out its backoff due now."""
    from candlelab.jobs.requests import retry as retry_request

    with workspace(ctx).connect() as conn:
        found = retry_request(conn, request_id)
    _print_request(found, json)


def _print_request(found: Request, json: bool) -> None:
    if json:
        emit_json(found)
        return
    table(f"retrain request {found.id}", ("field", "value"),
          [[k, v] for k, v in found.__dict__.items()])  # fmt: skip
