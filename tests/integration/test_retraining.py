"""The retrain job: the model's last training repeated on the data there is now, its new
version promoted as challenger, and nothing written by a worker whose lease was lost."""

from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta

import pytest

from candlelab.errors import LeaseLost
from candlelab.jobs.queue import Backoff, Job, claim, enqueue, rescue_stalled
from candlelab.jobs.requests import request
from candlelab.jobs.retraining import promote_challenger, retrain
from candlelab.jobs.runner import SPAWN, JobContext
from candlelab.jobs.worker import WorkerConfig, run_worker
from candlelab.models.deployments import history
from candlelab.store.database import Connection
from candlelab.training.datasets import DatasetRequest
from candlelab.training.folds import FoldPlan
from candlelab.training.runs import run_detail
from candlelab.training.targets import ready_target
from candlelab.training.tracking import Tracking
from candlelab.training.trainer import TrainingRequest, train
from tests.fixtures.jobs import retrain_slowly_at_first
from tests.fixtures.served_models import BUILT, MODEL, served_market, trained
from tests.fixtures.training_data import opened
from tests.integration.test_queue import backdate, wait_until

PARAMS: dict[str, object] = {"num_boost_round": 10, "min_data_in_leaf": 10}


def claimed(conn: Connection, worker: str) -> Job:
    job = claim(conn, worker)
    assert job is not None
    return job


def versions(database_url: str, artifact_root: str) -> list[int]:
    found = Tracking(database_url, artifact_root).registered_versions(MODEL)
    return sorted(v.version for v in found)


def test_a_retrain_repeats_the_last_training_on_the_bars_there_are_now(
    conn: Connection, database_url: str, artifact_root: str
) -> None:
    market = served_market(conn)  # its first chart has bars newer than its features
    data = DatasetRequest(market.stored, ready_target("triple-barrier"), (market.chart_id,),
                          end=opened(market.bars, BUILT - 1))  # fmt: skip
    first = train(database_url, artifact_root, TrainingRequest(
        data, params=PARAMS, folds=FoldPlan(folds=2, window="sliding", train_blocks=1),
        threshold=0.6, experiment="retrains", model_name=MODEL))  # fmt: skip
    job_id = enqueue(conn, MODEL, "drift on BTCUSDT").id
    job = claimed(conn, "w1")

    run_id = retrain(JobContext(database_url, artifact_root, job, challenger_traffic=0.25))

    old, new = run_detail(conn, first.run_id), run_detail(conn, run_id)
    assert new.model_version == 2
    assert {k: v for k, v in new.params.items() if k != "dataset"} == {
        k: v for k, v in old.params.items() if k != "dataset"}  # fmt: skip
    assert (new.experiment_name, new.chart_ids) == ("retrains", [market.chart_id])
    assert new.created_by == f"retrain request {job_id} (w1)"
    assert new.data_end is not None
    assert old.data_end is not None
    assert new.data_end > old.data_end  # the newer bars: built by the job, then taught
    assert request(conn, job_id).training_run_id == run_id
    [move] = history(conn, MODEL)
    assert (move.alias, move.version, move.traffic_share) == ("challenger", 2, 0.25)
    assert move.reason == f"retrain request {job_id}: drift on BTCUSDT"
    assert move.changed_by == "worker w1"


def test_a_worker_that_lost_its_lease_registers_and_promotes_nothing(
    conn: Connection, database_url: str, artifact_root: str
) -> None:
    run_id = run_detail_of_first(conn, database_url, artifact_root)
    job_id = enqueue(conn, MODEL, "r").id
    stale = claimed(conn, "w1")
    backdate(conn, job_id, "heartbeat_at", 600)
    rescue_stalled(conn, timedelta(minutes=1))
    backdate(conn, job_id, "run_after", 0)
    fresh = claimed(conn, "w2")

    stale_context = JobContext(database_url, artifact_root, stale, challenger_traffic=0.1)
    with pytest.raises(LeaseLost, match="processing under lease 2 \\(worker w2\\)"):
        retrain(stale_context)  # trains, then is refused before registering
    assert versions(database_url, artifact_root) == [1]
    failed = conn.execute("SELECT status, error FROM training_runs WHERE created_by = %s",
                          (f"retrain request {job_id} (w1)",)).fetchone()  # fmt: skip
    assert failed is not None
    assert failed[0] == "failed"
    assert "LeaseLost" in failed[1]

    with pytest.raises(LeaseLost):
        promote_challenger(stale_context, run_id, 1)
    assert history(conn, MODEL) == []
    assert request(conn, job_id).training_run_id is None
    promote_challenger(JobContext(database_url, artifact_root, fresh, 0.1), run_id, 1)
    assert [m.version for m in history(conn, MODEL)] == [1]


def run_detail_of_first(conn: Connection, database_url: str, artifact_root: str) -> str:
    """The served market with MODEL's version 1; that version's run id."""
    trained(database_url, artifact_root, served_market(conn))
    row = conn.execute("SELECT run_id FROM training_runs WHERE model_version = 1").fetchone()
    conn.commit()
    assert row is not None
    return str(row[0])


@pytest.mark.slow
def test_a_worker_killed_mid_training_its_job_is_taken_again_and_registered_once(
    conn: Connection, database_url: str, artifact_root: str
) -> None:
    run_detail_of_first(conn, database_url, artifact_root)
    job_id = enqueue(conn, MODEL, "drift").id
    config = WorkerConfig(database_url, artifact_root, heartbeat_timeout=3.0, poll=0.5,
                          backoff=Backoff(0, 0), handler=retrain_slowly_at_first)  # fmt: skip
    first = SPAWN.Process(target=run_worker, args=(config,))
    first.start()
    wait_until(lambda: training(conn, job_id) == 1, 120)  # in its slow first fit
    second = SPAWN.Process(target=run_worker, args=(config,))
    second.start()
    wait_until(lambda: listening(conn) == 1, 120)  # the second is idle, waiting
    os.kill(first.pid or 0, signal.SIGKILL)
    killed_at = now(conn)
    first.join()

    wait_until(lambda: request(conn, job_id).status == "completed", 300)
    os.kill(second.pid or 0, signal.SIGTERM)
    second.join(60)
    done = request(conn, job_id)
    assert done.attempts == 2
    assert done.started_at is not None
    assert versions(database_url, artifact_root) == [1, 2]
    assert [(m.alias, m.version) for m in history(conn, MODEL)] == [("challenger", 2)]
    assert done.training_run_id == run_detail(conn, done.training_run_id or "").run_id
    print(f"\nSIGKILL -> running again: {(done.started_at - killed_at).total_seconds():.2f} s "
          f"(heartbeat timeout {config.heartbeat_timeout} s, poll {config.poll} s)")  # fmt: skip


def training(conn: Connection, job_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM training_runs WHERE status = 'running' AND "
                       "created_by LIKE %s", (f"retrain request {job_id} %",)
                       ).fetchone()  # fmt: skip
    conn.commit()
    assert row is not None
    return int(row[0])


def listening(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND query LIKE 'LISTEN%%'").fetchone()  # fmt: skip
    conn.commit()
    assert row is not None
    return int(row[0])


def now(conn: Connection) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    conn.commit()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]
