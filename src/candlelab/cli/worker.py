"""`candlelab worker`: take retrain requests off the queue and run them, and run what is
scheduled."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.options import window_option
from candlelab.cli.output import emit_json, out
from candlelab.cli.train import Json

if TYPE_CHECKING:
    from candlelab.jobs.tasks import Checks
    from candlelab.settings import Settings


def _every(task: str, envvar: str, command: str) -> object:
    """The option setting how often workers run a check over every model."""
    return typer.Option(
        f"--{task}-every",
        envvar=envvar,
        metavar="PERIOD",
        help=f"How often workers run `{command}` over every model: 30m, 6h, 1d, 1w or off "
        "(the last worker started sets it for all).",
    )


EvaluateEvery = Annotated[
    str, _every("evaluate", "CANDLELAB_EVALUATE_EVERY", "candlelab evaluate --report")
]
DriftEvery = Annotated[str, _every("drift", "CANDLELAB_DRIFT_EVERY", "candlelab drift")]
DecideEvery = Annotated[str, _every("decide", "CANDLELAB_DECIDE_EVERY", "candlelab models decide")]


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int,
        typer.Option(help="Worker processes, each running one job at a time.", min=1, max=64),
    ] = 1,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Run what is due, take at most one job (each process), then stop."
        ),
    ] = False,
    poll: Annotated[
        float,
        typer.Option(help="Seconds between looks at the queue when no NOTIFY comes.", min=0.01),
    ] = 5.0,
    heartbeat_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds without a heartbeat before a job is taken again "
            "(beats come 4 times as often).",
            min=0.1,
        ),
    ] = 120.0,
    grace: Annotated[
        float,
        typer.Option(
            help="Seconds a job in hand may take to finish on SIGTERM or "
            "SIGINT before it is released back to pending.",
            min=0,
        ),
    ] = 30.0,
    retry_backoff: Annotated[
        float,
        typer.Option(
            help="Seconds before a failed or rescued job's second attempt, "
            "doubled for each one after (an hour at most).",
            min=0,
        ),
    ] = 30.0,
    challenger_traffic: Annotated[
        float,
        typer.Option(help="Share of requests a retrained challenger serves.", min=0.0001, max=1),
    ] = 0.1,
    evaluate_every: EvaluateEvery = "1h",
    drift_every: DriftEvery = "6h",
    decide_every: DecideEvery = "1h",
    json: Json = False,
) -> None:
    """Take retrain requests off the queue: retrain each model as it was last trained, on
    the data there is now, register the version and promote it as challenger. Stalled
    jobs (their worker died) are taken again after --heartbeat-timeout; SIGTERM or SIGINT
    stops claiming and finishes or releases the job in hand (a second one: at once).

    Between jobs, workers run what is due: the models' scheduled retrains (`candlelab
    retrain schedule`) and the checks over every model (--evaluate-every, --drift-every,
    --decide-every), each period once however many workers run; `candlelab retrain
    schedules` lists them and their last runs."""
    from candlelab.jobs.queue import BACKOFF_CAP, Backoff
    from candlelab.jobs.worker import WorkerConfig, run_worker, run_workers

    tasks = (("evaluate", _period(evaluate_every, "--evaluate-every")),
             ("drift", _period(drift_every, "--drift-every")),
             ("decide", _period(decide_every, "--decide-every")))  # fmt: skip
    space = workspace(ctx)
    backoff = Backoff(retry_backoff, max(BACKOFF_CAP, retry_backoff))
    config = WorkerConfig(
        space.database_url,
        space.settings.artifact_location,
        heartbeat_timeout=heartbeat_timeout,
        poll=poll,
        grace=grace,
        once=once,
        backoff=backoff,
        challenger_traffic=challenger_traffic,
        log_level=space.settings.log_level,
        tasks=tasks,
        checks=_checks(space.settings),
    )
    if concurrency > 1:
        failed = run_workers(config, concurrency)
        if failed:
            raise typer.Exit(1)
        return
    tally = run_worker(config)
    if json:
        emit_json({**tally.__dict__, "jobs": tally.jobs})
        return
    out.print(
        f"worker stopped: {tally.completed} completed, {tally.failed} failed, "
        f"{tally.released} released, {tally.lost} lost; {tally.tasks} scheduled tasks run, "
        f"{tally.tasks_failed} failed"
    )


def _period(value: str, option: str) -> timedelta | None:
    """A task's period, or None for off."""
    return None if value.strip().lower() == "off" else window_option(value, option)


def _checks(settings: Settings) -> Checks:
    """How the scheduled checks judge and what follows, from the settings."""
    from candlelab.cli.alerts import rules
    from candlelab.jobs.tasks import Checks

    return Checks(rules=rules(settings), retrain_on_alert=settings.retrain_on_alert,
                  webhook=settings.alert_webhook,
                  webhook_retry=settings.alert_retry_seconds)  # fmt: skip
