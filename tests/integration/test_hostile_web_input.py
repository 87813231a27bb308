"""The web app against hostile input: ids past bigint, NUL in text, far dates, huge values;
every answer below 500, naming the parameter or field, quoting values cut short."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from candlelab.store.database import Connection
from candlelab.web.windows import decode
from tests.fixtures.charts import XNYS_HOURLY, XNYS_LACKS, XNYS_TIMES, stored_chart
from tests.fuzz.conftest import FX_HOURLY, FX_TIMES

PAST_BIGINT = 2**63
FIRST, LAST = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"
FAR = [{"start": FIRST}, {"end": FIRST}, {"start": LAST}, {"end": LAST},
       {"start": FIRST, "end": LAST}]  # fmt: skip


@pytest.fixture
def calendar_charts(conn: Connection) -> dict[str, int]:
    """An hourly XNYS chart and an hourly 24/5 one; their ids by calendar."""
    ids = {"XNYS": stored_chart(conn, XNYS_TIMES, XNYS_HOURLY),
           "24/5": stored_chart(conn, FX_TIMES, FX_HOURLY)}  # fmt: skip
    conn.commit()
    return ids


def missing(client: TestClient, chart_id: int, **params: str) -> list[str]:
    answer = client.get(f"/api/charts/{chart_id}/candles", params=params)
    assert answer.status_code == 200, answer.text
    return [datetime.fromtimestamp(t, UTC).isoformat() for t in decode(answer.json())["missing"]]


def test_far_dates_on_calendar_charts_answer_normally(
    client: TestClient, calendar_charts: dict[str, int]
) -> None:
    for chart_id in calendar_charts.values():
        for params in FAR:
            missing(client, chart_id, **params)


def test_times_past_the_years_1_to_9999_in_utc_are_422_naming_the_parameter(
    client: TestClient, calendar_charts: dict[str, int]
) -> None:
    chart_id = calendar_charts["XNYS"]
    for name, value in (("start", "0001-01-01T00:00:00+14:00"),
                        ("end", "9999-12-31T23:59:59-14:00")):  # fmt: skip
        answer = client.get(f"/api/charts/{chart_id}/candles", params={name: value})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["query", name]


def test_a_window_from_the_year_2_names_only_the_bars_lacking_in_the_charts_range(
    client: TestClient, calendar_charts: dict[str, int]
) -> None:
    lacking = [f"{t}:00+00:00" for t in XNYS_LACKS]
    xnys = calendar_charts["XNYS"]
    assert missing(client, xnys, start="0002-01-01T00:00:00Z") == lacking
    assert missing(client, xnys, start="0002-01-01T00:00:00Z", end="9999-01-01T00:00:00Z") == (
        lacking
    )
    fx = missing(client, calendar_charts["24/5"], start="0002-01-01T00:00:00Z")
    assert fx == ["2025-11-24T12:00:00+00:00", "2025-11-24T13:00:00+00:00"] + [
        f"2025-11-{day}T{hour:02}:00:00+00:00"
        for day, hours in (("24", range(15, 24)), ("25", range(9)))
        for hour in hours
    ]


def test_ids_past_bigint_in_a_path_are_404_and_other_integers_past_it_422(
    client: TestClient, stored: int
) -> None:
    for path in (f"/api/charts/{PAST_BIGINT}", f"/api/charts/{PAST_BIGINT}/candles",
                 f"/api/charts/{PAST_BIGINT}/spans", f"/api/spans/{PAST_BIGINT}",
                 f"/api/annotations/{-PAST_BIGINT - 1}", f"/charts/{PAST_BIGINT}"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code == 404, (path, answer.text)
    gone = client.get(f"/api/charts/{PAST_BIGINT}").json()["detail"]
    assert gone == f"chart {PAST_BIGINT} does not exist"
    for name in ("offset", "label_type_id"):
        answer = client.get(f"/api/charts/{stored}/spans", params={name: PAST_BIGINT})
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["query", name]
    assert client.get("/api/charts", params={"offset": PAST_BIGINT}).status_code == 422
    span = {"chart_id": PAST_BIGINT, "label_type_id": 1, "start_time": "2025-01-07T00:00:00Z",
            "end_time": "2025-01-07T01:00:00Z"}  # fmt: skip
    answer = client.post("/api/spans", json=span)
    assert (answer.status_code, answer.json()["detail"][0]["loc"]) == (422, ["body", "chart_id"])


def test_a_nul_in_any_text_field_or_search_is_422_naming_it(
    client: TestClient, stored: int
) -> None:
    nul = "up\x00trend"
    for path, body, field in (
        ("/api/span-label-types", {"name": nul, "color": "#123456"}, "name"),
        ("/api/span-label-types", {"name": "a", "color": "#123456", "description": nul},
         "description"),
        ("/api/annotation-types", {"name": nul, "color": "#123456"}, "name"),
        ("/api/annotations", {"chart_id": stored, "time": "2025-01-07T00:00:00Z", "note": nul},
         "note"),
        ("/api/annotations", {"chart_id": stored, "time": "2025-01-07T00:00:00Z",
                              "created_by": nul}, "created_by"),
        ("/api/charts/1/spans/review", {"status": "accepted", "reviewer": nul,
         "start": "2025-01-07T00:00:00Z", "end": "2025-01-08T00:00:00Z"}, "reviewer"),
    ):  # fmt: skip
        answer = client.post(path, json=body)
        assert answer.status_code == 422, (path, field, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["body", field]
        assert "U+0000" in answer.json()["detail"][0]["msg"]
    searched = client.get("/api/charts", params={"q": nul})
    assert (searched.status_code, searched.json()["detail"][0]["loc"]) == (422, ["query", "q"])
    assert client.get("/", params={"q": nul}).status_code == 422


def test_error_answers_quote_at_most_about_100_characters_of_a_value(client: TestClient) -> None:
    huge = "x" * 10_000_000
    for body in ({"name": huge, "color": "#123456"}, {"name": "a", "color": huge}):
        answer = client.post("/api/span-label-types", json=body)
        assert answer.status_code == 422
        assert len(answer.content) < 1000
        assert answer.json()["detail"][0]["input"] == "x" * 100 + "…"
    nan = client.post(
        "/api/span-label-types",
        content=b'{"name": "a", "color": "#123456", "direction": NaN}',
        headers={"Content-Type": "application/json"},
    )  # a value JSON cannot hold comes back as text, not as a 500
    assert (nan.status_code, nan.json()["detail"][0]["input"]) == (422, "nan")


def upload(client: TestClient, name: str, content: bytes, **form: str) -> Any:
    data = {"symbol": "aapl", "timeframe": "1h"} | form
    return client.post("/charts/upload", data=data, files={"file": (name, content)})


def test_uploads_with_an_unknown_zone_or_a_bad_symbol_are_422_naming_the_field(
    client: TestClient,
) -> None:
    rows = b"time,open,high,low,close,volume\n2025-01-06T00:00,1,2,0.5,1.5,10\n"
    zone = upload(client, "bars.csv", rows, timezone="Not/AZone")
    assert zone.status_code == 422
    assert "timezone: &#39;Not/AZone&#39; is not a known timezone" in zone.text
    for symbol, reason in (("a\x00b", "U+0000"), ("\u202eLSA", "U+202E"), ("   ", "is empty")):
        answer = upload(client, "bars.csv", rows, symbol=symbol)
        assert answer.status_code == 422, symbol
        assert "symbol: " in answer.text, symbol
        assert reason in answer.text, symbol
    assert client.get("/api/charts").json()["total"] == 0


def test_corrupt_uploads_are_422_naming_the_users_file_never_the_servers_path(
    client: TestClient,
) -> None:
    for name, content in (("prices.parquet", b"PAR1 not really parquet PAR1"),
                          ("prices.csv.gz", b"\x1f\x8b\x08 truncated gzip"),
                          ("prices.csv", b"time,open\n" + b"y" * 200_000)):  # fmt: skip
        answer = upload(client, name, content)
        assert answer.status_code == 422, (name, answer.text[-500:])
        assert f"{name}:" in answer.text
        assert "candlelab-upload-" not in answer.text
        assert "upload." not in answer.text.replace("/charts/upload", "")
        assert "y" * 200 not in answer.text


def test_times_without_an_offset_are_read_as_utc_beside_times_with_one(
    client: TestClient, stored: int
) -> None:
    label = client.post("/api/span-label-types", json={"name": "up", "color": "#123456"}).json()
    span = {"chart_id": stored, "label_type_id": label["id"],
            "start_time": "2025-01-07T00:00", "end_time": "2025-01-07T05:00:00+00:00"}  # fmt: skip
    made = client.post("/api/spans", json=span)
    assert made.status_code == 201, made.text
    assert made.json()["start_time"] == "2025-01-07T00:00:00Z"
