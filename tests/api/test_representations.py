"""The representations besides JSON: GeoJSON for maps, CSV for spreadsheets, iCalendar for
calendars, and a 406 problem for an Accept none of them meets."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import geojson
import icalendar
import pytest

from service.example import load
from tests.conftest import CHECKPOINT, assert_problem

GEO = {"Accept": "application/geo+json"}


@pytest.fixture
def example(store):
    load(store)
    return store


@pytest.mark.parametrize("path", ["/v1/checkpoints", "/v1/status?at=2025-11-10T12:00:00Z"])
def test_geojson_is_a_valid_feature_collection_of_points(client, example, path):
    response = client.get(path, headers=GEO)
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    assert "Accept" in response.headers["Vary"]
    collection = geojson.loads(response.get_data(as_text=True))
    assert isinstance(collection, geojson.FeatureCollection)
    assert collection.is_valid, collection.errors()
    assert len(collection["features"]) == 6
    by_id = {f["id"]: f for f in collection["features"]}
    medininkai = by_id["medininkai"]
    # RFC 7946: longitude first.
    assert medininkai["geometry"] == {"type": "Point", "coordinates": [25.655, 54.538]}
    json_body = client.get(path).get_json()
    items = {(i.get("id") or i["checkpoint_id"]): i for i in json_body["items"]}
    assert medininkai["properties"] == items["medininkai"]


def test_a_checkpoint_without_a_location_has_no_geometry(client, editor):
    body = {k: v for k, v in CHECKPOINT.items() if k != "location"}
    assert client.post("/v1/checkpoints", json=body, headers=editor).status_code == 201
    for path in ("/v1/checkpoints", "/v1/status"):
        collection = geojson.loads(client.get(path, headers=GEO).get_data(as_text=True))
        assert collection.is_valid, collection.errors()
        (only,) = collection["features"]
        assert only["geometry"] is None


def test_status_as_geojson_pages_and_revalidates(client, example):
    first = client.get("/v1/status?limit=2&at=2025-11-10T12:00:00Z", headers=GEO)
    body = first.get_json()
    assert len(body["features"]) == 2 and body["next_cursor"]
    assert 'rel="next"' in first.headers["Link"]
    again = client.get(
        "/v1/status?limit=2&at=2025-11-10T12:00:00Z",
        headers={**GEO, "If-None-Match": first.headers["ETag"]},
    )
    assert again.status_code == 304
    # The JSON page is another representation: another ETag.
    assert (
        client.get("/v1/status?limit=2&at=2025-11-10T12:00:00Z").headers["ETag"]
        != (first.headers["ETag"])
    )


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8; header=present"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_closure_history_as_csv(client, example):
    rows = _csv(client.get("/v1/checkpoints/salcininkai/closures", headers={"Accept": "text/csv"}))
    assert [r["id"] for r in rows] == [
        i["id"] for i in client.get("/v1/checkpoints/salcininkai/closures").get_json()["items"]
    ]
    closed = next(r for r in rows if r["id"] == "closure-salcininkai-2025-10-27")
    assert closed["modes"] == "pedestrian; cyclist; vehicle; goods"
    assert closed["starts_at"] == "2025-10-26T22:00:00Z"
    assert closed["source_authority"]
    assert int(closed["revision"]) >= 2
    everything = _csv(client.get("/v1/closures", headers={"Accept": "text/csv"}))
    assert len(everything) == len(client.get("/v1/closures").get_json()["items"])


def test_rule_history_as_csv(client, example):
    rows = _csv(client.get("/v1/checkpoints/medininkai/rules", headers={"Accept": "text/csv"}))
    assert list(rows[0]) == [
        "id", "checkpoint_id", "mode", "access", "valid_from", "valid_until", "condition",
        "conditions_text", "opening_hours", "note", "source_authority", "source_reference",
        "source_url", "revision", "created_at", "updated_at",
    ]  # fmt: skip
    restricted = next(r for r in rows if r["access"] == "restricted")
    assert restricted["condition"].startswith("{")
    assert restricted["conditions_text"]


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(client, editor):
    assert client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).status_code == 201
    texts = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", 'a, "b"\nc']
    for text in texts:
        response = client.post(
            "/v1/checkpoints/medininkai/closures",
            json={"starts_at": "2025-10-27T00:00:00Z", "reason": "security", "description": text},
            headers=editor,
        )
        assert response.status_code == 201
    rows = _csv(client.get("/v1/closures", headers={"Accept": "text/csv"}))
    assert sorted(r["description"] for r in rows) == sorted(
        ["'" + t for t in texts[:4]] + ['a, "b"\nc']
    )


def _calendar(response) -> icalendar.Calendar:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    return icalendar.Calendar.from_ical(response.get_data())


def test_closures_as_a_calendar(client, example):
    calendar = _calendar(client.get("/v1/closures.ics"))
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    closures = client.get("/v1/closures?limit=500").get_json()["items"]
    assert set(events) == {f"{c['id']}@checkpoints" for c in closures}
    by_id = {c["id"]: c for c in closures}
    for uid, event in events.items():
        closure = by_id[uid.removesuffix("@checkpoints")]
        assert int(event["SEQUENCE"]) == closure["revision"]
        start = event.decoded("DTSTART")
        assert start.tzinfo is not None and start.utcoffset().total_seconds() == 0
        assert start == datetime.fromisoformat(closure["starts_at"].replace("Z", "+00:00"))
        if closure["ends_at"] is None:
            # Open-ended: no DTEND, and the summary says so.
            assert "DTEND" not in event
            assert "until further notice" in str(event["SUMMARY"])
        else:
            end = event.decoded("DTEND")
            assert end == datetime.fromisoformat(closure["ends_at"].replace("Z", "+00:00"))
    extended = events["closure-salcininkai-2025-10-27@checkpoints"]
    assert str(extended["SUMMARY"]) == "Šalčininkai closed: security"
    assert "\nDTSTART:20251026T220000Z\r" in client.get("/v1/closures.ics").get_data(as_text=True)


def test_one_checkpoints_closures_as_a_calendar(client, example):
    calendar = _calendar(client.get("/v1/checkpoints/salcininkai/closures.ics"))
    assert str(calendar["X-WR-CALNAME"]) == "Šalčininkai: closures"
    uids = sorted(str(e["UID"]) for e in calendar.walk("VEVENT"))
    assert uids == [
        "closure-salcininkai-2025-10-22@checkpoints",
        "closure-salcininkai-2025-10-27@checkpoints",
    ]
    # The same closure keeps its UID and counts its revisions.
    again = _calendar(client.get("/v1/closures.ics"))
    seq = {str(e["UID"]): int(e["SEQUENCE"]) for e in again.walk("VEVENT")}
    for event in calendar.walk("VEVENT"):
        assert seq[str(event["UID"])] == int(event["SEQUENCE"])
    assert_problem(client.get("/v1/checkpoints/nowhere/closures.ics"), 404)


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/v1/checkpoints", "text/csv"),
        ("/v1/status", "text/html"),
        ("/v1/closures", "application/geo+json"),
        ("/v1/checkpoints/salcininkai/closures", "application/xml"),
        ("/v1/checkpoints/medininkai/rules", "image/png"),
        ("/v1/closures.ics", "application/json"),
        ("/v1/checkpoints/salcininkai/closures.ics", "text/csv"),
    ],
)
def test_an_unsupported_accept_is_a_406_problem(client, example, path, accept):
    body = assert_problem(client.get(path, headers={"Accept": accept}), 406)
    assert body["type"].endswith("not-acceptable") and body["available"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/*", "application/json"])
@pytest.mark.parametrize(
    "path", ["/v1/checkpoints", "/v1/status", "/v1/closures", "/v1/checkpoints/medininkai/rules"]
)
def test_any_or_no_accept_gives_json(client, example, path, accept):
    response = client.get(path, headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["items"]
