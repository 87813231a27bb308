"""The labelling API on a real database: types, spans, point annotations; 422s that name the
field, 409s that carry the current row, review of model proposals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from candlelab.store.database import Connection


@pytest.fixture
def label(client: TestClient) -> dict[str, Any]:
    made = client.post(
        "/api/span-label-types",
        json={"name": "uptrend", "color": "#26a69a", "hotkey": "1", "direction": 1},
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def span_body(stored: int, label: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "chart_id": stored,
        "label_type_id": label["id"],
        "start_time": "2025-01-07T00:00:00Z",
        "end_time": "2025-01-07T05:00:00Z",
    }
    return body | changes


def field_of(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    return str(answer.json()["detail"][0]["loc"][-1])


def test_label_types_are_created_renamed_recoloured_rekeyed_and_deactivated(
    client: TestClient, label: dict[str, Any]
) -> None:
    assert label["hotkey"] == "1"
    assert label["is_active"]
    changed = client.patch(
        f"/api/span-label-types/{label['id']}",
        json={
            "name": "bull run",
            "color": "#00ff00",
            "hotkey": "4",
            "direction": 0,
            "is_active": False,
        },
    )
    assert changed.status_code == 200
    assert {
        k: changed.json()[k] for k in ("name", "color", "hotkey", "direction", "is_active")
    } == {"name": "bull run", "color": "#00ff00", "hotkey": "4", "direction": 0, "is_active": False}
    cleared = client.patch(f"/api/span-label-types/{label['id']}", json={"hotkey": ""})
    assert cleared.json()["hotkey"] is None
    listed = client.get("/api/span-label-types").json()
    assert [t["name"] for t in listed] == ["bull run"]  # deactivated, still there


def test_type_rules_answer_422_naming_the_field_and_clashes_409(
    client: TestClient, label: dict[str, Any]
) -> None:
    assert (
        field_of(client.post("/api/span-label-types", json={"name": "x", "color": "red"}))
        == "color"
    )
    assert (
        field_of(
            client.post(
                "/api/span-label-types", json={"name": "x", "color": "#ffffff", "hotkey": "0"}
            )
        )
        == "hotkey"
    )
    twin = client.post("/api/span-label-types", json={"name": "uptrend", "color": "#ffffff"})
    assert twin.status_code == 409
    assert client.patch("/api/span-label-types/999", json={"name": "y"}).status_code == 404
    kind = client.post(
        "/api/annotation-types", json={"name": "breakout", "color": "#f23645", "shape": "arrowUp"}
    )
    assert kind.status_code == 201
    assert (
        field_of(
            client.post(
                "/api/annotation-types", json={"name": "z", "color": "#000000", "shape": "star"}
            )
        )
        == "shape"
    )
    off = client.patch(f"/api/annotation-types/{kind.json()['id']}", json={"is_active": False})
    assert off.json()["is_active"] is False


def test_a_span_is_created_listed_by_window_and_filtered(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    made = client.post("/api/spans", json=span_body(stored, label, created_by="ann"))
    assert made.status_code == 201, made.text
    span = made.json()
    assert (span["status"], span["source"], span["version"], span["label"]) == (
        "accepted",
        "manual",
        1,
        "uptrend",
    )
    model = client.post(
        "/api/spans",
        json=span_body(
            stored,
            label,
            source="model",
            confidence=0.7,
            start_time="2025-01-20T00:00:00Z",
            end_time="2025-01-21T00:00:00Z",
        ),
    )
    assert model.json()["status"] == "proposed"
    window = {"start": "2025-01-07T03:00:00Z", "end": "2025-01-08T00:00:00Z"}
    assert [
        s["id"] for s in client.get(f"/api/charts/{stored}/spans", params=window).json()["items"]
    ] == [span["id"]]
    proposed = client.get(f"/api/charts/{stored}/spans", params={"status": "proposed"}).json()
    assert [s["id"] for s in proposed["items"]] == [model.json()["id"]]
    page = client.get(f"/api/charts/{stored}/spans", params={"limit": 1}).json()
    assert (len(page["items"]), page["next_offset"]) == (1, 1)
    rest = client.get(f"/api/charts/{stored}/spans", params={"limit": 1, "offset": 1}).json()
    assert [s["id"] for s in rest["items"]] == [model.json()["id"]]


def test_spans_of_different_labels_may_overlap(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    other = client.post("/api/span-label-types", json={"name": "range", "color": "#7e57c2"})
    first = client.post("/api/spans", json=span_body(stored, label))
    overlapping = span_body(stored, other.json(), start_time="2025-01-07T03:00:00Z",
                            end_time="2025-01-07T09:00:00Z")  # fmt: skip
    second = client.post("/api/spans", json=overlapping)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    window = {"start": "2025-01-07T04:00:00Z", "end": "2025-01-07T05:00:00Z"}
    listed = client.get(f"/api/charts/{stored}/spans", params=window).json()["items"]
    assert sorted(s["label"] for s in listed) == ["range", "uptrend"]


def test_every_span_rule_answers_422_naming_its_field(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    backwards = span_body(stored, label, start_time="2025-01-08T00:00:00Z")
    assert field_of(client.post("/api/spans", json=backwards)) == "end_time"
    early = span_body(stored, label, start_time="2024-12-31T00:00:00Z")
    assert field_of(client.post("/api/spans", json=early)) == "start_time"
    late = span_body(stored, label, end_time="2025-03-01T00:00:00Z")
    assert field_of(client.post("/api/spans", json=late)) == "end_time"
    assert (
        field_of(client.post("/api/spans", json=span_body(stored, label, label_type_id=999)))
        == "label_type_id"
    )
    assert field_of(client.post("/api/spans", json=span_body(999, label))) == "chart_id"
    assert (
        field_of(client.post("/api/spans", json=span_body(stored, label, confidence=2)))
        == "confidence"
    )
    assert (
        field_of(client.post("/api/spans", json=span_body(stored, label, start_time="soon")))
        == "start_time"
    )
    client.patch(f"/api/span-label-types/{label['id']}", json={"is_active": False})
    refused = client.post("/api/spans", json=span_body(stored, label))
    assert field_of(refused) == "label_type_id"
    assert "deactivated" in refused.json()["detail"][0]["msg"]


def test_the_second_of_two_edits_from_one_version_gets_409_with_the_current_span(
    client: TestClient, stored: int, label: dict[str, Any]
) -> None:
    span = client.post("/api/spans", json=span_body(stored, label)).json()
    first = client.patch(
        f"/api/spans/{span['id']}", json={"version": 1, "end_time": "2025-01-07T09:00:00Z"}
    )
    assert (first.status_code, first.json()["version"]) == (200, 2)
    second = client.patch(
        f"/api/spans/{span['id']}", json={"version": 1, "start_time": "2025-01-06T20:00:00Z"}
    )
    assert second.status_code == 409
    assert second.json()["current"]["end_time"].startswith("2025-01-07T09:00:00")
    assert second.json()["current"]["version"] == 2
    stale = client.delete(f"/api/spans/{span['id']}", params={"version": 1})
    assert stale.status_code == 409
    held = client.get(f"/api/spans/{span['id']}").json()
    assert (held["start_time"][:19], held["version"]) == ("2025-01-07T00:00:00", 2)  # kept
    assert client.delete(f"/api/spans/{span['id']}", params={"version": 2}).status_code == 204
    assert client.get(f"/api/spans/{span['id']}").status_code == 404
    resize = client.patch(
        f"/api/spans/{span['id']}", json={"version": 2, "end_time": "2025-01-08T00:00:00Z"}
    )
    assert resize.status_code == 404


def test_proposals_are_accepted_and_rejected_with_reviewer_and_time(
    client: TestClient, stored: int, label: dict[str, Any], conn: Connection
) -> None:
    times = [
        ("2025-01-10T00:00:00Z", "2025-01-10T03:00:00Z"),
        ("2025-01-11T00:00:00Z", "2025-01-11T03:00:00Z"),
        ("2025-01-12T00:00:00Z", "2025-01-12T03:00:00Z"),
        ("2025-02-01T00:00:00Z", "2025-02-01T03:00:00Z"),
    ]
    made = [
        client.post(
            "/api/spans",
            json=span_body(stored, label, source="model", confidence=0.6, start_time=s, end_time=e),
        ).json()
        for s, e in times
    ]
    accepted = client.post(
        f"/api/spans/{made[0]['id']}/review",
        json={"status": "accepted", "version": 1, "reviewer": "rita"},
    )
    assert (accepted.json()["status"], accepted.json()["reviewed_by"]) == ("accepted", "rita")
    assert accepted.json()["reviewed_at"] is not None
    window = {
        "status": "rejected",
        "reviewer": "rita",
        "start": "2025-01-09T00:00:00Z",
        "end": "2025-01-20T00:00:00Z",
    }
    rejected = client.post(f"/api/charts/{stored}/spans/review", json=window).json()
    assert sorted(rejected["ids"]) == sorted([made[1]["id"], made[2]["id"]])  # not the accepted one
    rows = conn.execute("SELECT status, reviewed_by FROM span_annotations ORDER BY id").fetchall()
    assert rows == [
        ("accepted", "rita"),
        ("rejected", "rita"),
        ("rejected", "rita"),
        ("proposed", None),
    ]
    bad = client.post(
        f"/api/spans/{made[3]['id']}/review",
        json={"status": "maybe", "version": 1, "reviewer": "rita"},
    )
    assert field_of(bad) == "status"


def test_a_proposals_prediction_is_listed_with_it_and_a_drawn_span_has_none(
    client: TestClient, stored: int, label: dict[str, Any], conn: Connection
) -> None:
    drawn = client.post("/api/spans", json=span_body(stored, label)).json()
    later = {"start_time": "2025-01-20T00:00:00Z", "end_time": "2025-01-21T00:00:00Z"}
    model = client.post("/api/spans", json=span_body(stored, label, source="model", **later))
    last = {"start_time": "2025-02-01T00:00:00Z", "end_time": "2025-02-01T03:00:00Z"}
    imported = client.post("/api/spans", json=span_body(stored, label, source="import", **last))
    prediction = {"model": "upper", "version": 2, "class": "uptrend", "mean_probability": 0.61}
    for span, value in ((model, prediction), (imported, [0.4, 0.6])):  # the import keeps any JSON
        conn.execute("UPDATE span_annotations SET model_prediction = %s WHERE id = %s",
                     (Jsonb(value), span.json()["id"]))  # fmt: skip
    conn.commit()
    listed = client.get(f"/api/charts/{stored}/spans").json()["items"]
    assert [(s["id"], s["model_prediction"]) for s in listed] == [
        (drawn["id"], None), (model.json()["id"], prediction), (imported.json()["id"], [0.4, 0.6])
    ]  # fmt: skip
    assert client.get(f"/api/spans/{model.json()['id']}").json()["model_prediction"] == prediction


def test_point_annotations_on_a_bar_with_price_and_note(
    client: TestClient, stored: int, conn: Connection
) -> None:
    kind = client.post(
        "/api/annotation-types", json={"name": "breakout", "color": "#f23645"}
    ).json()
    body = {
        "chart_id": stored,
        "time": "2025-01-08T05:00:00Z",
        "annotation_type_id": kind["id"],
        "price": 101.5,
        "note": "volume spike",
    }
    made = client.post("/api/annotations", json=body)
    assert made.status_code == 201, made.text
    assert (made.json()["type_name"], made.json()["price"], made.json()["version"]) == (
        "breakout",
        101.5,
        1,
    )
    off_bar = body | {"time": "2025-01-08T05:30:00Z"}
    assert field_of(client.post("/api/annotations", json=off_bar)) == "time"
    assert (
        field_of(client.post("/api/annotations", json=body | {"annotation_type_id": 99}))
        == "annotation_type_id"
    )
    changed = client.patch(
        f"/api/annotations/{made.json()['id']}", json={"version": 1, "note": "retest"}
    )
    assert changed.json()["note"] == "retest"
    stale = client.patch(f"/api/annotations/{made.json()['id']}", json={"version": 1, "note": "x"})
    assert stale.status_code == 409
    assert stale.json()["current"]["note"] == "retest"
    listed = client.get(f"/api/charts/{stored}/annotations").json()["items"]
    assert [a["note"] for a in listed] == ["retest"]
    assert client.get(f"/api/charts/{stored}").json()["annotations"] == 1
    assert (
        client.delete(f"/api/annotations/{made.json()['id']}", params={"version": 2}).status_code
        == 204
    )
    assert conn.execute("SELECT count(*) FROM annotations").fetchone() == (0,)
