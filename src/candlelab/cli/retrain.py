"""`candlelab retrain`: ask for a model to be retrained, and look after the requests."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click.core import Context  # what TyperGroup.parse_args is typed with
from typer.core import TyperGroup

from candlelab.cli import workspace
from candlelab.cli.options import LARGEST_ID, window_option
from candlelab.cli.output import emit_json, out, table
from candlelab.cli.train import Json

if TYPE_CHECKING:
    from candlelab.jobs.requests import Request
    from candlelab.jobs.schedules import Schedule
    from candlelab.store.database import Connection


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
    "take them: `candlelab worker`); list, show, cancel and retry them; schedule a "
    "model's retrains (schedule, unschedule, schedules).",
    no_args_is_help=True,
)
RequestId = Annotated[int, typer.Argument(help="A retrain request's id.", min=1, max=LARGEST_ID)]
ModelName = Annotated[str, typer.Argument(help="A registered model's name.")]


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


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    name: ModelName,
    every: Annotated[
        str | None,
        typer.Option(
            help="How often: a number and m, h, d or w (30m, 6h, 1d, 1w).", metavar="PERIOD"
        ),
    ] = None,
    spans_changed: Annotated[
        int | None,
        typer.Option(
            help="Also when this many accepted spans of the model's training charts were "
            "added, edited or deleted since its last training run.",
            min=1,
        ),
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="The requests' reason.  [default: schedule: every PERIOD]")
    ] = None,
    priority: Annotated[int, typer.Option(help="1 = low ... 5 = high.", min=1, max=5)] = 2,
    by: Annotated[str | None, typer.Option(help="Who.  [default: the OS user]")] = None,
    json: Json = False,
) -> None:
    """Retrain NAME on a schedule: every PERIOD (the first one period from now), and/or
    when its labels changed (--spans-changed). Workers enqueue the request (it joins an
    open one), each period at most once however many run. Replaces NAME's schedule."""
    from candlelab.jobs.schedules import schedule_retrain

    period = None if every is None else window_option(every, "--every")
    note = reason.strip() if reason and reason.strip() else None
    who = by.strip() if by and by.strip() else getpass.getuser()
    with workspace(ctx).connect() as conn:
        done = schedule_retrain(conn, name, period, reason=note, priority=priority,
                                spans_changed=spans_changed, by=who)  # fmt: skip
        found = _schedule_of(conn, name)
    if json:
        emit_json({"replaced": done.replaced, "schedule": _plain(found)})
        return
    out.print(f"retrain of {name} {'rescheduled' if done.replaced else 'scheduled'}: "
              f"{_when(found)} (`candlelab worker` runs it)", soft_wrap=True)  # fmt: skip


@app.command("unschedule")
def unschedule(ctx: typer.Context, name: ModelName, json: Json = False) -> None:
    """Stop retraining NAME on a schedule (its requests already made stay)."""
    from candlelab.jobs.schedules import unschedule as remove

    with workspace(ctx).connect() as conn:
        schedule_id = remove(conn, name)
    if json:
        emit_json({"id": schedule_id, "model_name": name})
        return
    out.print(f"retrain of {name}: no longer scheduled")


@app.command("schedules")
def list_schedules(ctx: typer.Context, json: Json = False) -> None:
    """What workers run on a schedule: the checks over every model (`candlelab worker
    --evaluate-every ...`) and the models' scheduled retrains, with their last runs."""
    from candlelab.jobs.schedules import schedules

    with workspace(ctx).connect() as conn:
        found = schedules(conn)
    if json:
        emit_json([_plain(s) for s in found])
        return
    table("schedules", ("id", "task", "model", "when", "next run", "last run", "worker",
                        "last result", "last error"),
          [[s.id, s.kind, s.model_name or "(all)", _when(s), s.next_run_at, s.last_run_at,
            s.last_worker, s.last_result, s.last_error] for s in found])  # fmt: skip


def _schedule_of(conn: Connection, name: str) -> Schedule:
    from candlelab.jobs.schedules import schedules

    return next(s for s in schedules(conn) if s.kind == "retrain" and s.model_name == name)


def _plain(found: Schedule) -> dict[str, object]:
    """A schedule for --json: its period as people write it (1d), not a Python repr."""
    from candlelab.jobs.schedules import period

    return {**found.__dict__, "every": None if found.every is None else period(found.every)}


def _when(found: Schedule) -> str:
    """When a schedule runs, as people write it: every 1d; on 50 spans changed."""
    from candlelab.jobs.schedules import period

    when = [f"every {period(found.every)}"] if found.every is not None else []
    if found.spans_changed is not None:
        when.append(f"on {found.spans_changed} spans changed")
    return " and ".join(when)
