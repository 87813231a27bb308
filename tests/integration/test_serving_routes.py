"""A bare model name routed among its serving versions, shadows logged beside, and the
serving sets of a live process following alias moves (NOTIFY, polling, MLflow's UI)."""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from candlelab.market.quality import utc_datetime
from candlelab.models.deployments import promote, rollback, serving, serving_set, sync
from candlelab.models.prediction import ModelShelf, predict_reference, predict_routed
from candlelab.models.routing import Serving, routed
from candlelab.models.signals import Signal
from candlelab.store.database import Connection, connect
from candlelab.training.proposals import ModelReference
from candlelab.training.tracking import Tracking
from tests.fixtures.served_models import (
    BUILT,
    MODEL,
    ServedMarket,
    another_version,
    champion,
    served_market,
)

WARM = 100  # bars skipped at the start of the chart: past the features' warm-up
PACE = 0.02  # seconds each client waits between its requests
SWITCH_WAIT = 15.0  # seconds a live shelf is given to follow a move (the bench times it)


@pytest.fixture
def market(conn: Connection, database_url: str, artifact_root: str) -> ServedMarket:
    """The served market with version 1 champion (recorded by sync) and version 2 idle."""
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    assert another_version(database_url, artifact_root, market) == 2
    sync(conn, Tracking(database_url, artifact_root), MODEL, who="test")
    return market


@pytest.fixture
def tracking(database_url: str, artifact_root: str) -> Tracking:
    return Tracking(database_url, artifact_root)


@pytest.fixture
def shelf(database_url: str, artifact_root: str) -> Iterator[ModelShelf]:
    shelf = ModelShelf(database_url, artifact_root)
    yield shelf
    shelf.servings.stop()


def up(conn: Connection, tracking: Tracking, version: int, alias: str = "champion",
       **options: object) -> None:  # fmt: skip
    promote(conn, tracking, MODEL, version, alias, reason="test", who="ann",
            **options)  # type: ignore[arg-type]  # fmt: skip


def bar_times(market: ServedMarket, count: int) -> list[datetime]:
    return [utc_datetime(t) for t in market.bars.time[WARM : WARM + count]]


def rows(conn: Connection) -> list[tuple[object, ...]]:
    query = "SELECT id, time, model_version, alias, shadow FROM signals ORDER BY time, shadow"
    return conn.execute(query).fetchall()


def test_a_bare_name_serves_the_challenger_its_share_of_bars_the_same_way_each_time(
    conn: Connection, database_url: str, tracking: Tracking, market: ServedMarket,
    shelf: ModelShelf,
) -> None:  # fmt: skip
    up(conn, tracking, 2, "challenger", traffic=0.2)
    servings = serving_set(conn, MODEL)
    assert servings == [Serving("champion", 1, 0.8), Serving("challenger", 2, 0.2)]
    assert servings == serving(conn, tracking, MODEL)  # SQL and MLflow's client agree
    times = bar_times(market, 400)
    first = [predict_routed(conn, shelf, MODEL, market.other_id, time=t)
             for t in times]  # fmt: skip
    expected = [routed(servings, market.other_id, t)[0] for t in times]
    assert [(s.model_version, s.alias) for s in first] == [
        (e.version, e.alias) for e in expected if e is not None]  # fmt: skip
    share = sum(s.model_version == 2 for s in first) / len(first)
    assert 0.12 < share < 0.28
    again = [predict_routed(conn, shelf, MODEL, market.other_id, time=t)
             for t in times[:50]]  # fmt: skip
    assert [s.id for s in again] == [s.id for s in first[:50]]
    assert not any(s.new for s in again)
    assert len(rows(conn)) == len(times)


def test_an_alias_or_a_version_is_asked_directly_never_routed(
    conn: Connection, database_url: str, tracking: Tracking, market: ServedMarket,
    shelf: ModelShelf,
) -> None:  # fmt: skip
    up(conn, tracking, 2, "challenger", traffic=1.0)
    times = bar_times(market, 20)
    for text, version in ((f"{MODEL}@champion", 1), (f"{MODEL}/1", 1), (MODEL, 2)):
        signals = [predict_reference(conn, shelf, ModelReference.parse(text),
                                     market.other_id, time=t) for t in times]  # fmt: skip
        assert {s.model_version for s in signals} == {version}, text


def test_a_shadow_predicts_each_bar_logged_and_never_returned(
    conn: Connection, database_url: str, tracking: Tracking, market: ServedMarket,
    shelf: ModelShelf,
) -> None:  # fmt: skip
    up(conn, tracking, 2, "trial", shadow=True)
    times = bar_times(market, 30)
    served = [predict_routed(conn, shelf, MODEL, market.other_id, time=t)
              for t in times]  # fmt: skip
    assert {(s.model_version, s.alias, s.shadow) for s in served} == {(1, "champion", False)}
    logged = rows(conn)
    assert [(r[1], r[2], r[3], r[4]) for r in logged] == [
        (t, v, alias, shadow) for t in times
        for v, alias, shadow in ((1, "champion", False), (2, "trial", True))]  # fmt: skip
    assert {r[0] for r in logged if r[4]}.isdisjoint(s.id for s in served)
    up(conn, tracking, 2)  # the shadow's version now serves the bars it shadowed
    now = [predict_routed(conn, shelf, MODEL, market.other_id, time=t) for t in times]
    assert [(s.id, s.model_version, s.alias, s.shadow, s.new) for s in now] == [
        (r[0], 2, "champion", False, False) for r in logged if r[4]]  # fmt: skip
    assert len(rows(conn)) == len(logged)


def test_a_failing_shadow_is_logged_and_the_request_served(
    conn: Connection, tracking: Tracking, market: ServedMarket, shelf: ModelShelf,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    up(conn, tracking, 2, "trial", shadow=True)
    path = model_file(tracking, 2)  # changed after its promotion's check
    path.write_text(path.read_text() + "\n")
    times = bar_times(market, 2)
    with caplog.at_level(logging.WARNING, logger="candlelab.models.prediction"):
        signal = predict_routed(conn, shelf, MODEL, market.other_id, time=times[0])
    assert (signal.model_version, signal.shadow) == (1, False)
    assert [r[2] for r in rows(conn)] == [1]
    assert "shadow trial" in caplog.text
    assert "version 2" in caplog.text
    path.unlink()  # a refused load is remembered: not downloaded again at each request
    later = predict_routed(conn, shelf, MODEL, market.other_id, time=times[1])
    assert (later.model_version, [r[2] for r in rows(conn)]) == (1, [1, 1])
    first, again = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert again is first
    assert "differs from" in str(first)


def model_file(tracking: Tracking, version: int) -> Path:
    found = tracking.registered_version(MODEL, version)
    assert found is not None
    uri = tracking.client.get_run(found.run_id).info.artifact_uri
    return Path(unquote(urlparse(uri).path)) / "model" / "model.lgb"


def champion_of(shelf: ModelShelf, conn: Connection) -> int:
    return shelf.servings.serving(conn, MODEL)[0].version


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = clock.monotonic() + SWITCH_WAIT
    while not condition():
        assert clock.monotonic() < deadline, "the serving set did not follow the move"
        clock.sleep(0.05)


@pytest.mark.parametrize("listen", [True, False], ids=["notify", "polling"])
def test_a_watching_shelf_keeps_the_set_and_follows_a_promotion(
    conn: Connection, tracking: Tracking, market: ServedMarket, shelf: ModelShelf,
    listen: bool,
) -> None:  # fmt: skip
    shelf.servings.listen = listen
    shelf.servings.start()
    wait_for(lambda: shelf.servings.serving(conn, MODEL) is shelf.servings.serving(conn, MODEL))
    with connect(shelf.url) as mover:
        up(mover, tracking, 2)
    wait_for(lambda: champion_of(shelf, conn) == 2)
    time = bar_times(market, 1)[0]
    signal = predict_routed(conn, shelf, MODEL, market.other_id, time=time)
    assert (signal.model_version, signal.alias) == (2, "champion")
    wait_for(lambda: shelf.servings.drops["fingerprint"] > 0)
    assert (shelf.servings.drops["notify"] > 0) == listen


def test_an_alias_moved_in_mlflow_alone_is_followed_by_polling(
    conn: Connection, tracking: Tracking, market: ServedMarket, shelf: ModelShelf
) -> None:
    shelf.servings.start()
    wait_for(lambda: champion_of(shelf, conn) == 1)
    tracking.client.set_registered_model_alias(MODEL, "champion", "2")  # notifies nothing
    wait_for(lambda: champion_of(shelf, conn) == 2)
    assert serving_set(conn, MODEL) == serving(conn, tracking, MODEL)


def test_a_watcher_whose_connection_dies_connects_again_and_hears_the_next_move(
    conn: Connection, tracking: Tracking, market: ServedMarket, shelf: ModelShelf
) -> None:
    shelf.servings.start()
    wait_for(lambda: shelf.servings.drops["connect"] == 1)  # listening (a drop once it is)
    with connect(shelf.url, autocommit=True) as admin:
        killed = admin.execute(WATCHER_KILL).fetchall()
    assert len(killed) == 1  # the watcher's own connection, nobody else's
    wait_for(lambda: shelf.servings.drops["connect"] == 3)  # lost, then listening again
    with connect(shelf.url) as mover:
        up(mover, tracking, 2)
    wait_for(lambda: champion_of(shelf, conn) == 2)
    wait_for(lambda: shelf.servings.drops["notify"] > 0)  # listening again, not only polling


# The watcher's connection: the one whose last query was the fingerprint of the moves.
WATCHER_KILL = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND datname = current_database()
  AND query LIKE '%md5(string_agg(name%registered_model_aliases%'"""


def test_a_shelf_not_watching_keeps_nothing(
    conn: Connection, tracking: Tracking, market: ServedMarket, shelf: ModelShelf
) -> None:
    first = shelf.servings.serving(conn, MODEL)
    assert shelf.servings.serving(conn, MODEL) is not first
    up(conn, tracking, 2)
    assert champion_of(shelf, conn) == 2


def test_requests_from_threads_while_the_champion_moves_twice_all_succeed(
    conn: Connection, database_url: str, tracking: Tracking, market: ServedMarket,
    shelf: ModelShelf,
) -> None:  # fmt: skip
    shelf.servings.start()
    shelf.version(MODEL, 2)  # loaded before, as a promotion's check would have it
    bars = iter(bar_times(market, BUILT - WARM))
    lock, stop = threading.Lock(), threading.Event()

    def client() -> tuple[list[Signal], list[BaseException]]:
        done: list[Signal] = []
        failed: list[BaseException] = []
        with connect(database_url) as own:
            while not stop.is_set():
                with lock:
                    time = next(bars, None)
                if time is None:
                    break
                try:
                    done.append(predict_routed(own, shelf, MODEL,
                                               market.other_id, time=time))  # fmt: skip
                except Exception as exc:  # counted: the test wants none
                    failed.append(exc)
                clock.sleep(PACE)  # the bars last the few seconds of the moves
        return done, failed

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        clock.sleep(1.0)
        up(conn, tracking, 2)
        clock.sleep(1.0)
        rollback(conn, tracking, MODEL, who="ann")
        clock.sleep(1.0)
        stop.set()
        results = [f.result() for f in futures]
    signals = [s for done, _ in results for s in done]
    assert [e for _, failed in results for e in failed] == []
    assert {s.model_version for s in signals} == {1, 2}
    logged = rows(conn)
    assert sorted((r[0], r[2]) for r in logged) == sorted((s.id, s.model_version)
                                                          for s in signals)  # fmt: skip
    assert len({r[1] for r in logged}) == len(logged)  # one version per bar
