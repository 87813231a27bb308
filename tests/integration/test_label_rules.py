"""The labels domain refuses what breaks its rules, through the API and to direct callers:
spans and marks only on bar opens, type names unique whatever their case and spaces,
plausible prices, and no control characters in anything a person writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from candlelab.demo import seed_labels
from candlelab.errors import InvalidField, LabelExists
from candlelab.labels import annotations as points
from candlelab.labels import spans
from candlelab.legacy.importer import ImportOptions, import_file
from candlelab.legacy.sample import SampleSpec, write_sample
from candlelab.store import migrations
from candlelab.store.database import Connection

ON_GRID = {"start_time": "2025-01-07T00:00:00Z", "end_time": "2025-01-07T05:00:00Z"}


@pytest.fixture
def label(client: TestClient) -> dict[str, Any]:
    made = client.post("/api/span-label-types", json={"name": "uptrend", "color": "#26a69a"})
    assert made.status_code == 201, made.text
    return dict(made.json())


@pytest.fixture
def kind(client: TestClient) -> dict[str, Any]:
    made = client.post("/api/annotation-types", json={"name": "breakout", "color": "#f23645"})
    assert made.status_code == 201, made.text
    return dict(made.json())


def refusal(answer: Any) -> tuple[str, str]:
    """The field a 422 names, and its message."""
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    return str(detail["loc"][-1]), str(detail["msg"])


def new_span(client: TestClient, chart: int, label: dict[str, Any], **times: str) -> Any:
    body = {"chart_id": chart, "label_type_id": label["id"], **ON_GRID, **times}
    return client.post("/api/spans", json=body)


def test_a_span_off_the_bar_grid_is_refused_naming_the_field_and_the_nearest_bars(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    field, message = refusal(new_span(client, stored, label, start_time="2025-01-07T00:17:00Z"))
    assert field == "start_time"
    assert "2025-01-07T00:00:00+00:00 and 2025-01-07T01:00:00+00:00" in message
    field, _ = refusal(new_span(client, stored, label, end_time="2025-01-07T05:00:01Z"))
    assert field == "end_time"
    assert new_span(client, stored, label).status_code == 201


def test_moving_or_resizing_a_span_off_the_bar_grid_is_refused(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    made = new_span(client, stored, label).json()
    moved = {"version": 1, "start_time": "2025-01-06T23:30:00Z"}
    assert refusal(client.patch(f"/api/spans/{made['id']}", json=moved))[0] == "start_time"
    resized = {"version": 1, "end_time": "2025-01-07T08:59:00Z"}
    assert refusal(client.patch(f"/api/spans/{made['id']}", json=resized))[0] == "end_time"
    on_grid = {"version": 1, "end_time": "2025-01-07T09:00:00Z"}
    assert client.patch(f"/api/spans/{made['id']}", json=on_grid).status_code == 200


def test_a_time_without_a_zone_is_read_as_utc_and_one_out_of_range_is_refused_by_name(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    # The API's times are UTC (web/params.Moment): one written without an offset is too.
    naive = new_span(client, stored, label, start_time="2025-01-07T00:00:00")
    assert naive.status_code == 201, naive.text
    assert naive.json()["start_time"].startswith("2025-01-07T00:00:00")
    far = new_span(client, stored, label, start_time="0001-01-01T00:00:00Z")
    assert refusal(far)[0] == "start_time"


def test_label_type_names_are_trimmed_and_unique_whatever_their_case(
    client: TestClient, label: dict[str, Any], kind: dict[str, Any]
) -> None:
    for twin in ("UPTREND ", " Uptrend", "uptrend"):
        made = client.post("/api/span-label-types", json={"name": twin, "color": "#ffffff"})
        assert made.status_code == 409, made.text
        assert made.json()["detail"].startswith("name:")
    other = client.post("/api/span-label-types", json={"name": "  range ", "color": "#7e57c2"})
    assert other.json()["name"] == "range"
    renamed = client.patch(f"/api/span-label-types/{other.json()['id']}", json={"name": "UpTrend"})
    assert renamed.status_code == 409
    same = client.patch(f"/api/span-label-types/{label['id']}", json={"name": "UPTREND"})
    assert same.json()["name"] == "UPTREND"  # its own name in another case is still free
    names = [t["name"] for t in client.get("/api/span-label-types").json()]
    assert sorted(names) == ["UPTREND", "range"]


def test_annotation_type_names_are_trimmed_and_unique_whatever_their_case(
    client: TestClient, kind: dict[str, Any]
) -> None:
    twin = client.post("/api/annotation-types", json={"name": " BREAKOUT ", "color": "#000000"})
    assert twin.status_code == 409
    other = client.post("/api/annotation-types", json={"name": " reversal ", "color": "#000000"})
    assert other.json()["name"] == "reversal"
    clash = client.patch(f"/api/annotation-types/{other.json()['id']}", json={"name": "Breakout"})
    assert clash.status_code == 409


def test_the_database_refuses_a_name_differing_only_by_case_whoever_inserts_it(
    conn: Connection,
) -> None:
    spans.add_label_type(conn, spans.LabelType("uptrend", "#26a69a"))
    with pytest.raises(psycopg.errors.UniqueViolation, match="uq_span_label_types_name_key"):
        conn.execute("INSERT INTO span_label_types (name, color) VALUES ('UPTREND ', '#000000')")
    conn.rollback()
    conn.execute("INSERT INTO annotation_types (name, color) VALUES ('breakout', '#000000')")
    with pytest.raises(psycopg.errors.UniqueViolation, match="uq_annotation_types_name_key"):
        conn.execute("INSERT INTO annotation_types (name, color) VALUES (' Breakout', '#000000')")


def test_an_annotation_price_must_be_plausible_for_its_bar(
    client: TestClient, stored: int, kind: dict[str, Any]
) -> None:
    body = {"chart_id": stored, "time": "2025-01-08T05:00:00Z", "annotation_type_id": kind["id"]}
    for odd in (1e308, 1e5, 1.0, -5.0):
        field, message = refusal(client.post("/api/annotations", json=body | {"price": odd}))
        assert (field, "outside" in message) == ("price", True), message
    made = client.post("/api/annotations", json=body | {"price": 101.5})
    assert made.status_code == 201, made.text
    huge = {"version": 1, "price": 1e308}
    patched = client.patch(f"/api/annotations/{made.json()['id']}", json=huge)
    assert refusal(patched)[0] == "price"
    assert client.get(f"/api/annotations/{made.json()['id']}").json()["price"] == 101.5


def test_a_mark_off_a_bar_open_is_refused_naming_the_nearest_bars(
    client: TestClient, stored: int
) -> None:
    off = client.post("/api/annotations", json={"chart_id": stored, "time": "2025-01-08T05:17:00Z"})
    field, message = refusal(off)
    assert field == "time"
    assert "2025-01-08T05:00:00+00:00 and 2025-01-08T06:00:00+00:00" in message


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/span-label-types", {"name": "a", "color": "#000000", "description": "\x00"},
         "description"),
        ("/api/span-label-types", {"name": "a\x00b", "color": "#000000"}, "name"),
        ("/api/annotation-types", {"name": "a\x1bb", "color": "#000000"}, "name"),
    ],
)  # fmt: skip
def test_control_characters_in_type_fields_are_refused_naming_the_field(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    assert refusal(client.post(path, json=body))[0] == field


def test_control_characters_in_people_and_notes_are_refused_naming_the_field(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    body = {"chart_id": stored, "label_type_id": label["id"], **ON_GRID, "created_by": "a\x00"}
    assert refusal(client.post("/api/spans", json=body))[0] == "created_by"
    mark = {"chart_id": stored, "time": "2025-01-08T05:00:00Z"}
    assert refusal(client.post("/api/annotations", json=mark | {"note": "\x00"}))[0] == "note"
    proposal = new_span(client, stored, label, start_time="2025-01-07T01:00:00Z").json()
    review = {"status": "accepted", "version": 1, "reviewer": "ri\x00ta"}
    assert refusal(client.post(f"/api/spans/{proposal['id']}/review", json=review))[0] == (
        "reviewer"
    )
    window = {"status": "accepted", "reviewer": "\x07", "start": "2025-01-07T00:00:00Z",
              "end": "2025-01-08T00:00:00Z"}  # fmt: skip
    assert refusal(client.post(f"/api/charts/{stored}/spans/review", json=window))[0] == (
        "reviewer"
    )


def test_direct_callers_get_the_same_rules_as_the_api(conn: Connection, stored: int) -> None:
    with pytest.raises(InvalidField, match="colour"):
        spans.create_label_type(conn, spans.LabelType("x", "javascript:alert(1)"))
    label = spans.create_label_type(conn, spans.LabelType(" Up ", "#26a69a"))
    with pytest.raises(LabelExists):
        spans.create_label_type(conn, spans.LabelType("UP", "#26a69a"))
    at = datetime(2025, 1, 7, 0, 17, tzinfo=UTC)
    with pytest.raises(InvalidField) as off_grid:
        spans.create_span(conn, spans.NewSpan(stored, label.id, at, at))
    assert off_grid.value.field == "start_time"
    with pytest.raises(InvalidField) as shaped:
        points.add_annotation_type(conn, "entry", "#22c55e", "arrow-up")
    assert shaped.value.field == "shape"


def test_upgrading_a_database_with_names_differing_by_case_keeps_the_first_and_renames_the_rest(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url, "0008")
    with psycopg.connect(empty_database_url) as db:
        db.execute(
            "INSERT INTO span_label_types (id, name, color) VALUES (1, 'uptrend', '#000000'), "
            "(2, 'UPTREND ', '#000000'), (3, ' Uptrend', '#000000'), (4, 'range', '#000000')"
        )
        db.execute(
            "INSERT INTO annotation_types (id, name, color) VALUES (1, 'Entry', '#000000'), "
            "(2, 'entry', '#000000')"
        )
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        labels = db.execute("SELECT id, name FROM span_label_types ORDER BY id").fetchall()
        kinds = db.execute("SELECT id, name FROM annotation_types ORDER BY id").fetchall()
    assert labels == [
        (1, "uptrend"),
        (2, "UPTREND (duplicate 2)"),
        (3, "Uptrend (duplicate 3)"),
        (4, "range"),
    ]
    assert kinds == [(1, "Entry"), (2, "entry (duplicate 2)")]


def test_a_legacy_import_merges_types_into_those_named_alike_whatever_their_case(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    seed_labels(conn)  # the demo's `uptrend`, `downtrend`, `range`
    legacy = tmp_path / "legacy.db"
    write_sample(legacy, SampleSpec())  # its `Uptrend`, `Downtrend`, `Range`, `Retired`
    report, _ = import_file(conn, database_url, legacy, ImportOptions(remap_ids=True))
    assert report.verified
    merged = {m["name"] for m in report.merged_types if m["table"] == "span_label_types"}
    assert merged == {"Uptrend", "Downtrend", "Range"}
    names = [row[0] for row in conn.execute("SELECT name FROM span_label_types ORDER BY id")]
    assert names == ["uptrend", "downtrend", "range", "Retired"]
