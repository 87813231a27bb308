"""Claim-and-complete throughput of the retrain queue, against pgqueuer and a bare loop.

    python bench/bench_queue.py [--jobs 2000] [--workers 4] [--repeat 3]
                                [--kills 3] [--heartbeat-timeout 3] [--poll 0.5]

`--workers` processes take `--jobs` empty jobs until none is left, four ways, in turns
each round on the same database:

- candlelab: `jobs.queue` as a worker drives it: `claim` (SKIP LOCKED, the lease raised),
  the `Heartbeat` thread started and stopped around the (empty) job, `complete` guarded
  by the lease, and `rescue_stalled` once a second per worker;
- pgqueuer (installed for this benchmark only, in a throw-away environment under
  ~/.cache/candlelab/bench-pgqueuer: it is no dependency of candlelab), its
  QueueManager draining an entrypoint that does nothing (`queue_peers.py`), taking one
  job per dequeue as a worker of long jobs must, and ten, its default (its completions
  are buffered and written in batches either way);
- a bare loop on a plain table: one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP
  LOCKED LIMIT 1)` to claim, one `UPDATE` to complete, nothing else.

Each worker connects first and waits for a start signal, so the time is the queue's
alone: from the signal until the last worker found nothing left.

Then `--kills` times, the rescue: two `candlelab worker`s (`run_worker`, each in a
process of its own, as `candlelab worker` runs), the first holding a job that hangs, the
second idle; the first is killed by SIGKILL, and the time from the kill (the database's
clock) until the job's second attempt started is printed against the heartbeat timeout,
and so is the time from the job's last heartbeat, whose bound is the timeout plus one
poll interval (the idle worker looks for stalled jobs once per poll).

Runs on BENCH_DATABASE_URL's server if set, else on a fresh embedded server.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from servers import bench_database

from candlelab.jobs.heartbeat import Heartbeat
from candlelab.jobs.queue import Backoff, claim, complete, enqueue, rescue_stalled
from candlelab.jobs.runner import JobContext
from candlelab.jobs.worker import WorkerConfig, run_worker
from candlelab.store.database import connect

PEERS = Path(__file__).with_name("queue_peers.py")
PGQUEUER = "pgqueuer==1.6.0"
PEER_HOME = Path.home() / ".cache" / "candlelab" / "bench-pgqueuer"
RESCUE_EVERY = 1.0  # seconds between a worker's rescues of stalled jobs
STALLED = timedelta(seconds=60)
# pgqueuer taking one job per dequeue, as a worker of long jobs must (a batch of retrain
# jobs claimed by one worker waits behind its first), and ten, its default.
PGQ_ONE, PGQ_TEN = "pgqueuer, 1 per dequeue", "pgqueuer, 10 per dequeue"
NAMES = ("candlelab", PGQ_ONE, PGQ_TEN, "bare loop")
BARE_TABLE = """
    DROP TABLE IF EXISTS bench_bare;
    CREATE TABLE bench_bare (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'pending',
                             worker text);
    CREATE INDEX ON bench_bare (id) WHERE status = 'pending';
"""
BARE_CLAIM = """
    UPDATE bench_bare SET status = 'processing', worker = %s
    WHERE id = (SELECT id FROM bench_bare WHERE status = 'pending' ORDER BY id
                LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id
"""


def candlelab_worker(url: str, ready: Any, go: Any, done: Any) -> None:
    """Take jobs until none is left, as `candlelab worker` does, with nothing to run."""
    worker_id, taken, rescued_at = f"{socket.gethostname()}:{os.getpid()}", 0, 0.0
    with connect(url) as conn:
        ready.put(worker_id)
        go.wait()
        while True:
            if time.monotonic() - rescued_at >= RESCUE_EVERY:
                rescue_stalled(conn, STALLED)
                rescued_at = time.monotonic()
            job = claim(conn, worker_id)
            if job is None:
                break
            with Heartbeat(url, job, every_seconds=10):
                pass
            complete(conn, job, None)
            taken += 1
    done.put(taken)


def bare_worker(url: str, ready: Any, go: Any, done: Any) -> None:
    """Claim and complete on a plain table, nothing else."""
    worker_id, taken = str(os.getpid()), 0
    with connect(url) as conn:
        ready.put(worker_id)
        go.wait()
        while True:
            row = conn.execute(BARE_CLAIM, (worker_id,)).fetchone()
            conn.commit()
            if row is None:
                break
            conn.execute("UPDATE bench_bare SET status = 'done' WHERE id = %s", row)
            conn.commit()
            taken += 1
    done.put(taken)


def timed_processes(url: str, target: Callable[..., None], workers: int) -> tuple[float, int]:
    """Seconds from the start signal until every worker found nothing left; jobs taken."""
    context = mp.get_context("spawn")
    ready, done, go = context.Queue(), context.Queue(), context.Event()
    processes = [context.Process(target=target, args=(url, ready, go, done))
                 for _ in range(workers)]  # fmt: skip
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    taken = sum(done.get(timeout=600) for _ in processes)
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    return seconds, taken


def candlelab_round(url: str, jobs: int, workers: int) -> tuple[float, int]:
    with connect(url) as conn:
        conn.execute("DELETE FROM retrain_queue")
        conn.commit()
        for i in range(jobs):  # one open request per model: a model each
            enqueue(conn, f"bench-{i}", "benchmark")
    return timed_processes(url, candlelab_worker, workers)


def bare_round(url: str, jobs: int, workers: int) -> tuple[float, int]:
    with connect(url) as conn:
        conn.execute(BARE_TABLE)
        conn.execute("INSERT INTO bench_bare (status) SELECT 'pending' FROM generate_series(1, %s)",
                     (jobs,))  # fmt: skip
        conn.commit()
    return timed_processes(url, bare_worker, workers)


def peer_python() -> Path:
    """The Python of the throw-away environment holding pgqueuer, made on first use."""
    python = PEER_HOME / "bin" / "python"
    if not python.exists():
        print(f"installing {PGQUEUER} into {PEER_HOME} (for this benchmark only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_HOME)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", PGQUEUER,
                        "psycopg[binary]"], check=True)  # fmt: skip
    return python


def pgqueuer_round(python: Path, url: str, jobs: int, workers: int,
                   batch: int) -> tuple[float, int]:  # fmt: skip
    """pgqueuer's workers on `jobs` queued jobs: the time until its queue table is empty
    (a job done is deleted from it), polled every millisecond; its drain mode would add
    a dequeue timeout before each worker sees nothing is left."""
    subprocess.run([str(python), str(PEERS), "install", url, str(jobs)], check=True)
    command = [str(python), str(PEERS), "work", url, str(batch)]
    processes = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(workers)]  # fmt: skip
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    with connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        left = _wait_empty(conn, started + 600)
        seconds = time.perf_counter() - started
    for process in processes:
        if process.wait(timeout=120) != 0:
            raise SystemExit(f"a pgqueuer worker failed with exit code {process.returncode}")
    return seconds, jobs - left


def _wait_empty(conn: Any, deadline: float) -> int:
    """Poll pgqueuer's queue table until it is empty or the deadline passed; rows left."""
    left = -1
    while left and time.perf_counter() < deadline:
        row = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()
        left = int(row[0]) if row else 0
        time.sleep(0.001)
    return left


LISTENING = """SELECT count(*) = 1 FROM pg_stat_activity
               WHERE datname = current_database() AND query LIKE 'LISTEN%%'"""


def hang_first(context: JobContext) -> str | None:
    """The rescue's job: its first attempt hangs (until its worker is killed), the next
    ends at once."""
    if context.job.attempts == 1:
        time.sleep(3600)
    return None


def kill_round(url: str, artifacts: str, timeout: float, poll: float) -> tuple[float, float]:
    """SIGKILL the worker holding a job, another idle: seconds from the kill, and from the
    job's last heartbeat, until the job's second attempt started."""
    config = WorkerConfig(url, artifacts, heartbeat_timeout=timeout, poll=poll,
                          backoff=Backoff(0, 0), handler=hang_first,
                          log_level="WARNING")  # fmt: skip
    context = mp.get_context("spawn")
    with connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM retrain_queue")
        job_id = enqueue(conn, "bench-kill", "hang").id
        holder = context.Process(target=run_worker, args=(config,))
        holder.start()
        _wait_for(conn, "SELECT status = 'processing' FROM retrain_queue WHERE id = %s", job_id)
        idle = context.Process(target=run_worker, args=(config,))
        idle.start()
        _wait_for(conn, LISTENING)  # the idle worker waits for a NOTIFY
        os.kill(holder.pid or 0, signal.SIGKILL)
        killed_at = _scalar(conn, "SELECT now()")
        holder.join()
        beat_at = _scalar(conn, "SELECT heartbeat_at FROM retrain_queue WHERE id = %s", job_id)
        _wait_for(conn, "SELECT status = 'completed' FROM retrain_queue WHERE id = %s", job_id)
        started = _scalar(conn, "SELECT started_at FROM retrain_queue WHERE id = %s", job_id)
        attempts = _scalar(conn, "SELECT attempts FROM retrain_queue WHERE id = %s", job_id)
    idle.terminate()
    idle.join()
    if attempts != 2:
        raise SystemExit(f"the killed job ran {attempts} times, not 2")
    return (started - killed_at).total_seconds(), (started - beat_at).total_seconds()


def _scalar(conn: Any, query: Any, *params: object) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _wait_for(conn: Any, query: Any, *params: object, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not _scalar(conn, query, *params):
        if time.monotonic() > deadline:
            raise SystemExit(f"waited {seconds} s in vain for: {query}")
        time.sleep(0.01)


def kill_report(times: list[tuple[float, float]], timeout: float, poll: float) -> None:
    print(f"\nSIGKILL of the worker holding a job, heartbeat timeout {timeout} s, "
          f"poll {poll} s, {len(times)} kills:")  # fmt: skip
    for n, (from_kill, from_beat) in enumerate(times, 1):
        print(f"  kill {n}: running again {from_kill:.2f} s after the kill, "
              f"{from_beat:.2f} s after its last heartbeat")  # fmt: skip
    worst = max(from_beat for _, from_beat in times)
    bound = timeout + poll
    print(f"worst, from the last heartbeat: {worst:.2f} s against timeout + one poll = "
          f"{bound:.2f} s ({'met' if worst <= bound else 'not met'})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kills", type=int, default=3, help="rescues timed after a SIGKILL")
    parser.add_argument("--heartbeat-timeout", type=float, default=3.0)
    parser.add_argument("--poll", type=float, default=0.5)
    args = parser.parse_args()
    python = peer_python()
    results: dict[str, list[float]] = {name: [] for name in NAMES}
    with (
        tempfile.TemporaryDirectory() as scratch,
        bench_database("bench_queue", Path(scratch)) as url,
    ):
        rounds = {
            "candlelab": lambda: candlelab_round(url, args.jobs, args.workers),
            PGQ_ONE: lambda: pgqueuer_round(python, url, args.jobs, args.workers, 1),
            PGQ_TEN: lambda: pgqueuer_round(python, url, args.jobs, args.workers, 10),
            "bare loop": lambda: bare_round(url, args.jobs, args.workers),
        }
        for turn in range(args.repeat):
            order = list(rounds)[turn % 4 :] + list(rounds)[: turn % 4]  # take turns first
            for name in order:
                seconds, taken = rounds[name]()
                if taken != args.jobs:
                    raise SystemExit(f"{name}: {taken} of {args.jobs} jobs taken")
                results[name].append(args.jobs / seconds)
                print(f"round {turn + 1}: {name:24} {args.jobs / seconds:6.0f} jobs/s", flush=True)
        kills = [kill_round(url, scratch, args.heartbeat_timeout, args.poll)
                 for _ in range(args.kills)]  # fmt: skip
    report(results, args)
    if kills:
        kill_report(kills, args.heartbeat_timeout, args.poll)


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    median = {name: statistics.median(rates) for name, rates in results.items()}
    print(f"\n{args.jobs:,} empty jobs, {args.workers} worker processes, medians of "
          f"{args.repeat}:")  # fmt: skip
    for name, rate in median.items():
        print(f"  {name:24} {rate:6.0f} jobs/s")
    ratio = median["candlelab"] / median[PGQ_ONE]
    print(f"candlelab / {PGQ_ONE}: {ratio:.2f} (target >= 1: "
          f"{'met' if ratio >= 1 else 'not met'})")  # fmt: skip
    print(f"candlelab / {PGQ_TEN}: {median['candlelab'] / median[PGQ_TEN]:.2f}")
    print(f"candlelab / bare loop: {median['candlelab'] / median['bare loop']:.2f}")


if __name__ == "__main__":
    main()
