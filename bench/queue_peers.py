"""A pgqueuer worker for `bench_queue.py`, run by the Python of a throw-away environment
where pgqueuer is installed (it is no dependency of candlelab).

    python queue_peers.py install URL N      # pgqueuer's schema, and N jobs queued
    python queue_peers.py work URL BATCH     # says "ready", waits for a line, drains,
                                             # taking BATCH jobs per dequeue

A job's handler does nothing: what is measured is the queue's claim and completion.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import psycopg
from pgqueuer.adapters.drivers.psycopg import PsycopgDriver
from pgqueuer.adapters.persistence.queries import Queries
from pgqueuer.core.qm import QueueManager
from pgqueuer.domain import types
from pgqueuer.domain.models import Job

ENTRYPOINT = "bench"


async def install(url: str, jobs: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        queries = Queries(PsycopgDriver(conn))
        if await queries.schema_is_installed():
            await queries.uninstall()
        await queries.install()
        await queries.enqueue([ENTRYPOINT] * jobs, [None] * jobs, [0] * jobs)


async def nothing(job: Job) -> None:
    return None


async def work(url: str, batch_size: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        manager = QueueManager(Queries(PsycopgDriver(conn)))
        manager.entrypoint(ENTRYPOINT)(nothing)

        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await manager.run(dequeue_timeout=timedelta(seconds=1), batch_size=batch_size,
                          mode=types.QueueExecutionMode.drain)  # fmt: skip


if __name__ == "__main__":
    command, url = sys.argv[1], sys.argv[2]
    if command == "install":
        asyncio.run(install(url, int(sys.argv[3])))
    else:
        asyncio.run(work(url, int(sys.argv[3])))
