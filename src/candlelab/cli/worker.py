"""`candlelab worker`: take retrain requests off the queue and run them."""

from __future__ import annotations

from typing import Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out
from candlelab.cli.train import Json


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int,
        typer.Option(help="Worker processes, each running one job at a time.", min=1, max=64),
    ] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Take at most one job (each process), then stop.")
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
    json: Json = False,
) -> None:
    """Take retrain requests off the queue: retrain each model as it was last trained, on
    the data there is now, register the version and promote it as challenger. Stalled
    jobs (their worker died) are taken again after --heartbeat-timeout; SIGTERM or SIGINT
    stops claiming and finishes or releases the job in hand (a second one: at once)."""
    from candlelab.jobs.queue import BACKOFF_CAP, Backoff
    from candlelab.jobs.worker import WorkerConfig, run_worker, run_workers

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
        f"{tally.released} released, {tally.lost} lost"
    )
