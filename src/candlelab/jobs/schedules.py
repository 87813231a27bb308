"""Schedules: what workers run periodically, each period at most once however many run.

A row of `schedules` is a model's scheduled retrain (`candlelab retrain schedule NAME
--every 1d`), or a task over every model that workers run (KINDS: `evaluate` judges the
matured signals and updates performance, `drift` checks every served version, `decide`
applies the policy to each challenger; `candlelab worker --evaluate-every ...` sets them).

A worker takes a due row with `claim`: one statement that moves its `next_run_at` on to
the first period after now, under `FOR UPDATE SKIP LOCKED`, decided by the database's
clock. Two workers claiming at once cannot both take the period: one gets the row, the
other passes over it or finds it no longer due. After a long downtime a schedule runs
once, not once per missed period, and keeps its phase. Since the period moves on when the
run starts, a run that fails (its error kept on the row, `finish`) or whose worker dies
is not tried again before the next period: at most once, never twice.

A retrain schedule may also fire on labels (`spans_fired`): when at least `spans_changed`
accepted spans of the charts its model was last trained on were added, edited or deleted
since that training run began (counted by triggers in `span_changes`).

Each call commits before it returns, as the queue's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from candlelab.errors import InvalidValue, NotFound
from candlelab.jobs.queue import change
from candlelab.jobs.retraining import last_training
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
TASKS = ("evaluate", "drift", "decide")  # the tasks over every model
KINDS = ("retrain", *TASKS)
PRIORITY = 2  # a scheduled retrain's: routine, after a person's (3) and an alert's (4)
SHORTEST = timedelta(minutes=1)
UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@dataclass(frozen=True)
class Schedule:
    """One row of `schedules`."""

    id: int
    kind: str
    model_name: str | None
    every: timedelta | None
    next_run_at: datetime | None
    reason: str | None
    priority: int
    spans_changed: int | None
    spans_fired_at: datetime | None
    last_run_at: datetime | None
    last_worker: str | None
    last_finished_at: datetime | None
    last_result: str | None
    last_error: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Due:
    """A schedule's run, claimed by one worker: the period it runs for is taken."""

    id: int
    kind: str
    model_name: str | None
    every: timedelta
    reason: str | None
    priority: int
    run_at: datetime
    next_run_at: datetime
    missed: int  # periods skipped: due before this one, never run (the workers were down)


@dataclass(frozen=True)
class SpansFired:
    """A retrain schedule whose spans trigger fired: `spans` changed, `threshold` asked."""

    id: int
    model_name: str
    priority: int
    threshold: int
    spans: int


@dataclass(frozen=True)
class Scheduled:
    id: int
    replaced: bool  # the model had a schedule, now changed


def period(every: timedelta) -> str:
    """A period as people write it: 1d, 6h, 90m (the largest unit that divides it)."""
    seconds = int(every.total_seconds())
    unit, size = next((u, s) for u, s in UNITS if seconds % s == 0)
    return f"{seconds // size}{unit}"


def schedule_retrain(conn: Connection, model_name: str, every: timedelta | None, *,
                     reason: str | None = None, priority: int = PRIORITY,
                     spans_changed: int | None = None,
                     by: str | None = None) -> Scheduled:  # fmt: skip
    """Retrain `model_name` every period, and/or when `spans_changed` accepted spans of its
    training charts changed; replaces the model's schedule (committed). Refused for a
    model with no finished training run to repeat, or a schedule that never fires."""
    _check_retrain(every, priority, spans_changed)
    last_training(conn, model_name)  # a model never trained cannot be retrained
    params = {"model_name": model_name, "every": _seconds(every), "reason": reason,
              "priority": priority, "spans_changed": spans_changed, "by": by}  # fmt: skip
    schedule_id, replaced = change(conn, QUERIES["schedule_retrain"], params)[0]
    return Scheduled(schedule_id, replaced)


def _check_retrain(every: timedelta | None, priority: int, spans_changed: int | None) -> None:
    if every is None and spans_changed is None:
        raise InvalidValue("a retrain schedule needs a period (--every) or a spans "
                           "threshold (--spans-changed), or both")  # fmt: skip
    if every is not None and every < SHORTEST:
        raise InvalidValue(f"--every {period(every)}: a minute at least")
    if not 1 <= priority <= 5:
        raise InvalidValue(f"--priority {priority}: 1 = low ... 5 = high")
    if spans_changed is not None and spans_changed < 1:
        raise InvalidValue(f"--spans-changed {spans_changed}: 1 at least")


def unschedule(conn: Connection, model_name: str) -> int:
    """Remove the model's scheduled retrain (committed); its id. NotFound when it had none."""
    rows = change(conn, QUERIES["unschedule"], {"model_name": model_name})
    if not rows:
        raise NotFound(f"model {model_name!r} has no scheduled retrain; `candlelab retrain "
                       "schedules` lists them")  # fmt: skip
    return int(rows[0][0])


def schedules(conn: Connection) -> list[Schedule]:
    """Every schedule: the tasks over every model, then the models' retrains."""
    return [Schedule(*row) for row in change(conn, QUERIES["schedules"], {})]


def set_task(conn: Connection, kind: str, every: timedelta | None, by: str) -> None:
    """Run the task `kind` over every model each `every`, or never (None); committed. A
    new task is due at once; the same period again changes nothing."""
    if kind not in TASKS:
        raise InvalidValue(f"task {kind!r}: one of {', '.join(TASKS)}")
    if every is None:
        change(conn, QUERIES["drop_task"], {"kind": kind})
        return
    if every < SHORTEST:
        raise InvalidValue(f"--{kind}-every {period(every)}: a minute at least")
    change(conn, QUERIES["set_task"], {"kind": kind, "every": _seconds(every), "by": by})


def claim(conn: Connection, worker_id: str) -> Due | None:
    """Take the most overdue due schedule's period for `worker_id` (committed); None: none
    is due."""
    rows = change(conn, QUERIES["claim"], {"worker_id": worker_id})
    return Due(*rows[0]) if rows else None


def spans_fired(conn: Connection, worker_id: str) -> list[SpansFired]:
    """Take the retrain schedules whose spans trigger fires now (committed)."""
    rows = change(conn, QUERIES["spans_fired"], {"worker_id": worker_id})
    return [SpansFired(*row) for row in rows]


def finish(conn: Connection, schedule_id: int, result: str | None,
           error: str | None = None) -> None:  # fmt: skip
    """Record how a schedule's run ended: its result, or its error (committed)."""
    params = {"id": schedule_id, "result": result, "error": error}
    change(conn, QUERIES["finish"], params)


def next_due(conn: Connection) -> float | None:
    """Seconds until the earliest schedule is due (0: now); None when none is periodic."""
    (seconds,) = change(conn, QUERIES["next_due"], {})[0]
    return None if seconds is None else float(seconds)


def _seconds(every: timedelta | None) -> float | None:
    return None if every is None else every.total_seconds()
