"""Schedules on real PostgreSQL, the clock moved by backdating `next_run_at`: a period is
claimed at most once however many claim it, missed periods are skipped, and the spans
trigger counts accepted spans' changes since the model's last training run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from candlelab.errors import InvalidValue, NotFound
from candlelab.jobs import schedules
from candlelab.jobs.queue import enqueue
from candlelab.jobs.requests import request
from candlelab.jobs.schedules import claim, set_task, spans_fired
from candlelab.jobs.tasks import Checks
from candlelab.jobs.worker import Worker, WorkerConfig
from candlelab.models.deployments import history
from candlelab.store.database import Connection, connect
from tests.fixtures.jobs import job_runs_table, scripted
from tests.fixtures.monitored_models import monitored
from tests.fixtures.served_models import MODEL
from tests.integration.test_policy import challenger_results

HOUR = timedelta(hours=1)


def backdate(conn: Connection, kind: str, seconds: float) -> datetime:
    """Make the schedule of `kind` due `seconds` ago; the time it was due."""
    row = conn.execute("UPDATE schedules SET next_run_at = now() - make_interval(secs => %s) "
                       "WHERE kind = %s RETURNING next_run_at",
                       (seconds, kind)).fetchone()  # fmt: skip
    conn.commit()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def row(conn: Connection, kind: str) -> schedules.Schedule:
    (found,) = [s for s in schedules.schedules(conn) if s.kind == kind]
    return found


def a_retrain_schedule(conn: Connection, model_name: str, **columns: object) -> int:
    """A retrain schedule stored as `schedule_retrain` stores one, without the model's
    training run it asks for (the queue's tests need none)."""
    values = {"kind": "retrain", "model_name": model_name, **columns}
    names = ", ".join(values)
    marks = ", ".join(f"%({name})s" for name in values)
    found = conn.execute(f"INSERT INTO schedules ({names}) VALUES ({marks}) RETURNING id",
                         values).fetchone()  # fmt: skip
    conn.commit()
    assert found is not None
    return int(found[0])


def test_a_due_schedule_is_claimed_once_and_its_next_run_moves_one_period_on(
    conn: Connection,
) -> None:
    set_task(conn, "evaluate", HOUR, by="test")
    due_at = backdate(conn, "evaluate", 60)
    due = claim(conn, "w1")
    assert due is not None
    assert (due.kind, due.model_name, due.every, due.missed) == ("evaluate", None, HOUR, 0)
    assert due.next_run_at == due_at + HOUR
    assert claim(conn, "w2") is None  # the period is taken
    taken = row(conn, "evaluate")
    assert (taken.last_worker, taken.last_run_at) == ("w1", due.run_at)


def test_a_schedule_not_due_is_not_claimed(conn: Connection) -> None:
    set_task(conn, "drift", HOUR, by="test")
    backdate(conn, "drift", -60)  # due in a minute
    assert claim(conn, "w1") is None
    assert row(conn, "drift").last_run_at is None
    wait = schedules.next_due(conn)
    assert wait is not None
    assert 0 < wait <= 60


def test_two_workers_claiming_at_once_take_each_period_exactly_once(
    conn: Connection, database_url: str
) -> None:
    set_task(conn, "drift", HOUR, by="test")
    workers = [connect(database_url) for _ in range(2)]
    for _ in range(20):  # every round a fresh period, both claiming at the same moment
        backdate(conn, "drift", 1)
        start, taken = threading.Barrier(2), list[str]()

        def race(worker: Connection, name: str, start: threading.Barrier = start,
                 taken: list[str] = taken) -> None:  # fmt: skip
            start.wait()
            if claim(worker, name) is not None:
                taken.append(name)

        together(race, workers)
        assert len(taken) == 1, taken
    for worker in workers:
        worker.close()


def test_after_a_long_downtime_a_schedule_runs_once_and_skips_the_missed_periods(
    conn: Connection,
) -> None:
    set_task(conn, "decide", HOUR, by="test")
    due_at = backdate(conn, "decide", 10 * 3600 + 600)  # ten periods and ten minutes ago
    due = claim(conn, "w1")
    assert due is not None
    assert due.missed == 10
    # The phase is kept: the next run is 50 minutes from now, at the hour it always was.
    assert due.next_run_at == due_at + 11 * HOUR
    assert due.run_at < due.next_run_at <= due.run_at + HOUR
    assert claim(conn, "w1") is None  # no pile-up of the missed runs


def test_a_task_set_again_keeps_its_time_a_shorter_period_comes_sooner_off_removes_it(
    conn: Connection,
) -> None:
    set_task(conn, "evaluate", timedelta(days=1), by="w1")
    first = row(conn, "evaluate")
    assert first.next_run_at is not None
    assert first.every == timedelta(days=1)
    backdate(conn, "evaluate", -20 * 3600)  # next due in 20 hours
    kept = row(conn, "evaluate").next_run_at
    set_task(conn, "evaluate", timedelta(days=1), by="w2")  # another worker, same period
    assert (row(conn, "evaluate").next_run_at, row(conn, "evaluate").created_by) == (kept, "w1")
    set_task(conn, "evaluate", HOUR, by="w2")
    sooner = row(conn, "evaluate")
    assert sooner.every == HOUR
    assert sooner.next_run_at is not None
    assert kept is not None
    assert sooner.next_run_at <= sooner.updated_at + HOUR < kept
    set_task(conn, "evaluate", None, by="w2")
    assert schedules.schedules(conn) == []
    with pytest.raises(InvalidValue, match="a minute at least"):
        set_task(conn, "drift", timedelta(seconds=30), by="w2")


def test_a_retrain_schedule_needs_a_trained_model_and_something_to_fire_on(
    conn: Connection,
) -> None:
    with pytest.raises(NotFound, match="model 'nobody' has no finished training run"):
        schedules.schedule_retrain(conn, "nobody", timedelta(days=1))
    with pytest.raises(InvalidValue, match="needs a period"):
        schedules.schedule_retrain(conn, "nobody", None)
    with pytest.raises(NotFound, match="model 'nobody' has no scheduled retrain"):
        schedules.unschedule(conn, "nobody")
    assert schedules.schedules(conn) == []


def test_periods_read_as_people_write_them() -> None:
    given = (("minutes", 30), ("minutes", 90), ("hours", 6), ("days", 1), ("weeks", 2))
    written = [schedules.period(timedelta(**{unit: n})) for unit, n in given]
    assert written == ["30m", "90m", "6h", "1d", "2w"]


# The spans trigger --------------------------------------------------------------------


@pytest.fixture
def labelled(conn: Connection) -> tuple[int, int]:
    """A chart, a span label type, and model `m` last trained on that chart an hour ago
    (a finished run that registered version 1); (chart id, label type id)."""
    chart = conn.execute("INSERT INTO charts (symbol, timeframe, source, name) VALUES "
                         "('BTCUSDT', '1h', 'test', 'BTC') RETURNING id").fetchone()  # fmt: skip
    label = conn.execute("INSERT INTO span_label_types (name, color, direction) "
                         "VALUES ('long', '#0a0', 1) RETURNING id").fetchone()  # fmt: skip
    assert chart is not None
    assert label is not None
    conn.execute("INSERT INTO training_runs (run_id, model_type, experiment_name, status, "
                 "chart_ids, model_name, model_version, created_at, completed_at) VALUES "
                 "('run1', 'lightgbm', 'e', 'finished', ARRAY[%s]::bigint[], 'm', 1, "
                 "now() - interval '1 hour', now() - interval '50 minutes')",
                 (chart[0],))  # fmt: skip
    conn.commit()
    return int(chart[0]), int(label[0])


def add_spans(conn: Connection, chart_id: int, label_id: int, count: int,
              status: str = "accepted") -> list[int]:  # fmt: skip
    rows = conn.execute(
        "INSERT INTO span_annotations (chart_id, label_type_id, start_time, end_time, status) "
        "SELECT %s, %s, t, t + interval '3 hours', %s FROM generate_series("
        "timestamptz '2025-01-06', timestamptz '2025-01-06' + (%s - 1) * interval '1 day', "
        "interval '1 day') t RETURNING id",
        (chart_id, label_id, status, count)).fetchall()  # fmt: skip
    conn.commit()
    return [int(r[0]) for r in rows]


def test_the_spans_trigger_counts_accepted_spans_added_edited_and_deleted_since_the_last_run(
    conn: Connection, labelled: tuple[int, int]
) -> None:
    chart_id, label_id = labelled
    a_retrain_schedule(conn, "m", spans_changed=5)
    add_spans(conn, chart_id, label_id, 10, status="proposed")  # a model's: not counted
    accepted = add_spans(conn, chart_id, label_id, 2)
    conn.execute("UPDATE span_annotations SET end_time = end_time + interval '1 hour' "
                 "WHERE id = %s", (accepted[0],))  # fmt: skip
    conn.commit()
    assert spans_fired(conn, "w1") == []  # 3 changes
    conn.execute("DELETE FROM span_annotations WHERE id = %s", (accepted[1],))
    conn.execute("UPDATE span_annotations SET status = 'accepted' WHERE id = "
                 "(SELECT min(id) FROM span_annotations WHERE status = 'proposed')")  # fmt: skip
    conn.commit()
    [fired] = spans_fired(conn, "w1")  # 5: two added, one edited, one deleted, one reviewed
    assert (fired.model_name, fired.spans, fired.threshold) == ("m", 5, 5)
    assert spans_fired(conn, "w2") == []  # fired once: counted again from now on


def test_the_spans_trigger_waits_while_the_model_has_an_open_request(
    conn: Connection, labelled: tuple[int, int]
) -> None:
    chart_id, label_id = labelled
    a_retrain_schedule(conn, "m", spans_changed=1)
    enqueue(conn, "m", "by hand")
    add_spans(conn, chart_id, label_id, 3)
    assert spans_fired(conn, "w1") == []  # the open request will read them
    conn.execute("UPDATE retrain_queue SET status = 'failed'")
    conn.commit()
    assert [f.spans for f in spans_fired(conn, "w1")] == [3]


def test_spans_changed_before_the_last_training_run_do_not_count(
    conn: Connection, labelled: tuple[int, int]
) -> None:
    chart_id, label_id = labelled
    a_retrain_schedule(conn, "m", spans_changed=1)
    add_spans(conn, chart_id, label_id, 3)
    conn.execute("UPDATE span_changes SET changed_at = now() - interval '2 hours'")
    conn.commit()
    assert spans_fired(conn, "w1") == []


def test_two_workers_checking_the_spans_trigger_at_once_fire_it_once(
    conn: Connection, database_url: str, labelled: tuple[int, int]
) -> None:
    chart_id, label_id = labelled
    a_retrain_schedule(conn, "m", spans_changed=1)
    workers = [connect(database_url) for _ in range(2)]
    add_spans(conn, chart_id, label_id, 1)
    for _ in range(10):  # every round one change more, both checking at the same moment
        start, fired = threading.Barrier(2), list[str]()

        def check(worker: Connection, name: str, start: threading.Barrier = start,
                  fired: list[str] = fired) -> None:  # fmt: skip
            start.wait()
            fired.extend(name for _ in spans_fired(worker, name))

        together(check, workers)
        assert len(fired) == 1, fired
        conn.execute("UPDATE span_annotations SET end_time = end_time + interval '1 hour'")
        conn.commit()
    for worker in workers:
        worker.close()


# Workers running schedules ------------------------------------------------------------


@pytest.fixture
def config(conn: Connection, database_url: str, artifact_root: str) -> WorkerConfig:
    """A worker that takes one turn, its jobs run by the scripted test handler."""
    job_runs_table(conn)
    return WorkerConfig(database_url, artifact_root, heartbeat_timeout=5.0, poll=0.5,
                        once=True, handler=scripted)  # fmt: skip


def test_a_failing_task_keeps_its_error_is_not_run_again_and_the_worker_goes_on(
    conn: Connection, config: WorkerConfig
) -> None:
    set_task(conn, "drift", HOUR, by="test")  # due at once; fails on the setting below
    a_retrain_schedule(conn, "a", every=HOUR, next_run_at=datetime.now(UTC) - HOUR,
                       reason="ok, as scheduled")  # fmt: skip
    broken = replace(config, checks=Checks(retrain_on_alert="sometimes"))
    tally = Worker(broken).run()
    assert (tally.tasks, tally.tasks_failed, tally.completed) == (1, 1, 1)
    failed = row(conn, "drift")
    assert failed.last_error is not None
    assert failed.last_result is None
    assert "CANDLELAB_RETRAIN_ON_ALERT: 'sometimes'" in failed.last_error
    assert failed.next_run_at is not None
    assert failed.last_run_at is not None
    assert failed.next_run_at > failed.last_run_at
    retrained = row(conn, "retrain")
    assert retrained.last_error is None
    assert retrained.last_result == "made retrain request 1: ok, as scheduled"
    assert request(conn, 1).status == "completed"  # the scheduled request, claimed and run

    again = Worker(broken).run()  # the drift period is taken: not run again before the next
    assert (again.tasks, again.tasks_failed, again.jobs) == (0, 0, 0)


def test_a_worker_sets_its_tasks_up_runs_each_once_and_a_second_worker_none(
    conn: Connection, config: WorkerConfig
) -> None:
    tasks = (("evaluate", HOUR), ("drift", timedelta(hours=6)), ("decide", HOUR))
    first = Worker(replace(config, tasks=tasks)).run()
    assert (first.tasks, first.tasks_failed, first.jobs) == (3, 0, 0)
    ran = {s.kind: s for s in schedules.schedules(conn)}
    assert {k: (s.every, s.last_error) for k, s in ran.items()} == {
        "evaluate": (HOUR, None), "drift": (timedelta(hours=6), None),
        "decide": (HOUR, None)}  # fmt: skip
    assert ran["evaluate"].last_result == (
        "0 signals judged, 0 performance windows updated; alerts: 0 raised, 0 still open, "
        "0 resolved")  # fmt: skip
    assert ran["drift"].last_result is not None
    assert ran["drift"].last_result.startswith("0 versions checked, 0 drifted; alerts: 0")
    assert ran["decide"].last_result == "no model has a challenger to judge"

    second = Worker(replace(config, tasks=(("evaluate", HOUR), ("drift", None)))).run()
    assert (second.tasks, second.tasks_failed) == (0, 0)
    assert {s.kind for s in schedules.schedules(conn)} == {"evaluate", "decide"}  # drift off


def test_the_scheduled_checks_of_a_model_in_service_judge_it_and_promote_its_challenger(
    conn: Connection, config: WorkerConfig, database_url: str, artifact_root: str
) -> None:
    monitored(conn, database_url, artifact_root)  # v1 champion, v2 challenger, drifted
    challenger_results(conn, 2.0)  # v2 better beyond doubt
    conn.execute("DELETE FROM drift_checks")  # kept by `monitored`'s check: the task's own
    conn.commit()
    tasks = (("evaluate", HOUR), ("drift", HOUR), ("decide", HOUR))
    tally = Worker(replace(config, tasks=tasks)).run()
    ran = {s.kind: s for s in schedules.schedules(conn)}
    assert (tally.tasks, tally.tasks_failed) == (3, 0)
    assert ran["drift"].last_result == (  # raised by `monitored` already: still open
        "2 versions checked, 2 drifted; alerts: 0 raised, 2 still open, 0 resolved")  # fmt: skip
    checks = conn.execute("SELECT model_version FROM drift_checks ORDER BY 1").fetchall()
    assert checks == [(1,), (2,)]  # each version's latest check, for /metrics
    assert ran["decide"].last_result == f"{MODEL}: promote"
    [last] = history(conn, MODEL)[:1]
    assert (last.alias, last.version, last.changed_by) == ("champion", 2, "policy")


def together(target: Callable[[Connection, str], None], workers: list[Connection]) -> None:
    """`target(worker, "w<n>")` for every worker at once, each in a thread of its own."""
    threads = [threading.Thread(target=target, args=(w, f"w{n}")) for n, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
