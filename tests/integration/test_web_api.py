"""The web API on a real database: charts, candle windows, and access tokens on every route."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from candlelab.market.charts import ChartKey, upsert_chart
from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec, daily_bars, hourly_bars
from candlelab.store.database import Connection
from candlelab.web.access import COOKIE, FREE_FAILURES, Access, Throttle, is_loopback, token_hash
from candlelab.web.app import create_app
from candlelab.web.windows import decode
from tests.fixtures.charts import XNYS_HOURLY, XNYS_LACKS, XNYS_TIMES, stored_chart
from tests.fixtures.quality_cases import START, clean_bars

TOKEN = "correct horse battery staple"


def test_charts_are_listed_with_counts_filtered_and_paged(client: TestClient, stored: int) -> None:
    listed = client.get("/api/charts").json()
    assert listed["total"] == 1
    assert listed["items"][0]["bars"] == 900
    assert listed["items"][0]["first_bar"].startswith("2025-01-06T00:00:00")
    assert client.get("/api/charts", params={"q": "eth"}).json() == {"total": 0, "items": []}
    assert client.get(f"/api/charts/{stored}").json()["symbol"] == "BTCUSDT"


def test_the_charts_page_shows_a_hundred_charts_a_page(
    client: TestClient, conn: Connection, stored: int
) -> None:
    for n in range(149):
        upsert_chart(conn, ChartKey(f"Z{n:03d}", "1d", "paged"))
    conn.commit()
    first = client.get("/").text
    assert first.count('<a href="/charts/') == 100
    assert "1\u2013100 of 150" in first
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    last = client.get("/", params={"page": 2}).text
    assert last.count('<a href="/charts/') == 50
    assert "101\u2013150 of 150" in last
    assert 'rel="next"' not in last
    searched = client.get("/", params={"q": "Z14"}).text  # Z140…Z148: one page, no pager
    assert searched.count('<a href="/charts/') == 9
    assert 'id="charts-pager"' not in searched
    assert client.get("/", params={"page": 0}).status_code == 422


def test_a_window_holds_the_stored_values_exactly_in_a_third_more_than_packed(
    client: TestClient, stored: int
) -> None:
    bars = clean_bars(3)
    answer = client.get(f"/api/charts/{stored}/candles", params={"limit": 500})
    window = answer.json()
    columns = decode(window)
    assert window["count"] == 500
    for name in ("open", "high", "low", "close", "volume"):  # the newest 500, oldest first
        assert np.array_equal(columns[name], getattr(bars, name)[-500:]), name
    seconds = (bars.time[-500:] - np.datetime64("1970-01-01", "us")) / np.timedelta64(1, "s")
    assert np.array_equal(columns["time"], seconds)
    packed = 500 * 6 * 8
    assert len(answer.content) <= 1.5 * packed


def test_a_window_from_a_start_and_before_an_end(client: TestClient, stored: int) -> None:
    start = datetime(2025, 1, 7, tzinfo=UTC)  # bar 24: the bars start 2025-01-06 00:00
    assert np.datetime64("2025-01-06T00:00", "us") == START
    span = {"start": start.isoformat(), "end": "2025-01-07T10:00:00Z"}
    window = client.get(f"/api/charts/{stored}/candles", params=span).json()
    assert window["count"] == 10
    assert window["first"].startswith("2025-01-07T00:00:00")
    assert decode(window)["open"][0] == clean_bars(3).open[24]


def test_a_calendar_charts_window_names_the_bars_it_lacks_and_not_the_closed_hours(
    conn: Connection, client: TestClient
) -> None:
    chart_id = stored_chart(conn, XNYS_TIMES, XNYS_HOURLY)
    conn.commit()
    lacking = [f"{t}:00+00:00" for t in XNYS_LACKS]

    def missing(**params: str | int) -> list[str]:
        window = client.get(f"/api/charts/{chart_id}/candles", params=params).json()
        return [datetime.fromtimestamp(t, UTC).isoformat() for t in decode(window)["missing"]]

    assert missing() == lacking
    assert missing(end="2025-11-24T18:30:00Z") == lacking  # up to the bars already held
    assert missing(start="2025-11-24T19:00:00Z") == []  # the night is no gap
    assert missing(start="2025-11-24T14:30:00Z", limit=1) == []  # only what the window spans
    assert missing(start="2025-11-24T14:30:00Z", limit=2) == lacking


def test_a_round_the_clock_window_leaves_its_gaps_to_the_bar_step(
    client: TestClient, stored: int
) -> None:
    assert client.get(f"/api/charts/{stored}/candles").json()["missing"] == ""


def test_an_upload_to_a_new_chart_says_which_calendar_its_bars_gave_it(client: TestClient) -> None:
    aapl = next(i for i in INSTRUMENTS if i.symbol == "AAPL")
    spec = MarketSpec(start=date(2024, 1, 1), end=date(2024, 7, 1))
    days = daily_bars(hourly_bars(aapl, spec)).to_frame().write_csv()
    page = client.post(
        "/charts/upload", data={"symbol": "aapl", "timeframe": "1d"},
        files={"file": ("aapl.csv", days.encode(), "text/csv")},
    )  # fmt: skip
    assert page.status_code == 200, page.text
    assert "Calendar XNYS (inferred from the bars: no weekend or XNYS holiday bars)" in page.text
    assert client.get("/api/charts").json()["items"][0]["calendar"] == "XNYS"


def test_unknown_charts_are_404_and_bad_parameters_422(client: TestClient, stored: int) -> None:
    assert client.get("/api/charts/999").status_code == 404
    missing = client.get("/api/charts/999/candles")
    assert (missing.status_code, missing.json()["detail"]) == (404, "chart 999 does not exist")
    assert client.get(f"/api/charts/{stored}/candles", params={"limit": 0}).status_code == 422
    assert client.get(f"/api/charts/{stored}/candles", params={"start": "soon"}).status_code == 422


def test_with_tokens_every_route_answers_401_without_one(database_url: str, stored: int) -> None:
    patient = Throttle(free=1_000_000)  # this test guesses on every route; see the next ones
    app = create_app(database_url, Access([token_hash(TOKEN)], patient))
    public = {("GET", "/favicon.ico"), ("GET", "/health")}  # test_health.py has the latter
    calls = sorted(set(_every_call(app)) - public)
    assert {("GET", "/api/charts"), ("GET", "/docs"), ("POST", "/api/spans"),
            ("DELETE", "/api/spans/1"), ("POST", "/charts/upload"), ("GET", "/static"),
            ("GET", "/vendor"), ("POST", "/login"), ("POST", "/logout")} <= set(calls)  # fmt: skip
    with TestClient(app) as client:
        for method, path in calls:
            refused = client.request(method, path)
            assert refused.status_code == 401, (method, path)
            assert refused.headers["X-Content-Type-Options"] == "nosniff", (method, path)
            assert "Content-Security-Policy" in refused.headers, (method, path)
            wrong = client.request(method, path, headers={"Authorization": "Bearer guess"})
            assert wrong.status_code == 401, (method, path)
            forged = client.request(method, path, headers={"Cookie": f"{COOKIE}=guess"})
            assert forged.status_code == 401, (method, path)
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/api/charts", headers=bearer).status_code == 200
        assert client.get("/docs", headers=bearer).status_code == 200


def test_the_favicon_is_served_to_anyone_as_svg(database_url: str) -> None:
    with TestClient(create_app(database_url, Access([token_hash(TOKEN)]))) as client:
        icon = client.get("/favicon.ico")  # before signing in, as a browser asks for it
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.content.startswith(b"<svg")
        assert client.post("/favicon.ico").status_code in (401, 405)  # only GET is public


def test_a_browser_signs_in_with_a_token_and_gets_a_session_not_the_token(
    database_url: str, stored: int
) -> None:
    app = create_app(database_url, Access([token_hash(TOKEN)]))
    html = {"Accept": "text/html"}
    with TestClient(app, follow_redirects=False) as client:
        form = client.get(f"/charts/{stored}?from=list", headers=html)
        assert form.status_code == 401
        assert 'action="/login"' in form.text
        assert f'value="/charts/{stored}?from=list"' in form.text  # back where it was going
        refused = client.post("/login", data={"token": "guess", "next": "/"}, headers=html)
        assert refused.status_code == 401
        assert "not one of this server" in refused.text
        assert COOKIE not in client.cookies
        answer = client.post("/login", data={"token": TOKEN, "next": f"/charts/{stored}"})
        assert (answer.status_code, answer.headers["location"]) == (303, f"/charts/{stored}")
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert TOKEN not in cookie
        assert client.get(f"/charts/{stored}").status_code == 200
        assert client.get("/api/charts").status_code == 200
        assert client.post("/logout").status_code == 303
        session = cookie.split(";")[0].split("=", 1)[1]
        assert client.get("/", headers={"Cookie": f"{COOKIE}={session}"}).status_code == 401


class Clock:
    """A clock the test moves by hand: no test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_five_wrong_tokens_a_client_waits_longer_and_longer(database_url: str) -> None:
    clock = Clock()
    app = create_app(database_url, Access([token_hash(TOKEN)], Throttle(clock)))
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(FREE_FAILURES):
            assert client.post("/login", data={"token": "guess"}).status_code == 401
        waits = []
        for _ in range(3):
            refused = client.post("/login", data={"token": TOKEN})  # even the right one
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
            bearer = client.get("/api/charts", headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer.status_code == 429  # the header is a sign-in too
            clock.now += waits[-1]
            guess = client.get("/api/charts", headers={"Authorization": "Bearer guess"})
            assert guess.status_code == 401
        assert waits == [1, 2, 4]


def test_the_right_token_works_after_the_wait_and_a_success_resets_the_count(
    database_url: str,
) -> None:
    clock = Clock()
    app = create_app(database_url, Access([token_hash(TOKEN)], Throttle(clock)))
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(FREE_FAILURES):
            client.post("/login", data={"token": "guess"})
        assert client.post("/login", data={"token": TOKEN}).status_code == 429
        clock.now += 1
        assert client.post("/login", data={"token": TOKEN}).status_code == 303
        for _ in range(FREE_FAILURES - 1):  # counted from zero again: no wait yet
            assert client.post("/login", data={"token": "guess"}).status_code == 401
        assert client.post("/login", data={"token": TOKEN}).status_code == 303


def test_signing_in_never_redirects_off_the_site(database_url: str, stored: int) -> None:
    app = create_app(database_url, Access([token_hash(TOKEN)]))
    with TestClient(app, follow_redirects=False) as client:
        for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "x"):
            answer = client.post("/login", data={"token": TOKEN, "next": target})
            assert answer.headers["location"] == "/", target


def _every_call(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Each (method, path) the app routes, path parameters filled in; mounts by GET."""
    for path, methods in _routes(app.routes):
        for method in methods - {"HEAD"}:
            yield method, re.sub(r"\{[^}]+\}", "1", path)


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x keeps routers
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + route.path, set(getattr(route, "methods", None) or {"GET"})


def test_loopback_addresses_are_told_apart() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "example.org", "::"))
