"""Decisions and statuses over HTTP (the decision logic itself is tested in tests/domain)."""

from __future__ import annotations

import gzip

import pytest

from tests.conftest import CHECKPOINT, assert_problem

BY_CARS_BANNED = {
    "not": {
        "all": [
            {"fact": "direction", "in": ["entry"]},
            {"fact": "vehicle_registration", "in": ["BY"]},
        ]
    }
}


@pytest.fixture
def medininkai(client, editor):
    assert client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).status_code == 201
    rules = [
        {
            "mode": "pedestrian",
            "access": "allowed",
            "valid_from": "2020-01-01T00:00:00Z",
            "valid_until": "2024-02-29T22:00:00Z",
        },
        {"mode": "pedestrian", "access": "prohibited", "valid_from": "2024-02-29T22:00:00Z"},
        {
            "mode": "vehicle",
            "access": "restricted",
            "condition": BY_CARS_BANNED,
            "valid_from": "2024-08-15T21:00:00Z",
            "conditions_text": ["Cars registered in Belarus may not enter Lithuania."],
        },
        {
            "mode": "goods",
            "access": "allowed",
            "valid_from": "2020-01-01T00:00:00Z",
            "opening_hours": "Mo-Fr 08:00-20:00",
        },
    ]
    ids = {}
    for rule in rules:
        response = client.post("/v1/checkpoints/medininkai/rules", json=rule, headers=editor)
        assert response.status_code == 201, response.get_json()
        ids[(rule["mode"], rule["access"])] = response.get_json()["id"]
    closure = client.post(
        "/v1/checkpoints/medininkai/closures",
        json={
            "starts_at": "2025-10-22T21:00:00+03:00",
            "ends_at": "2025-10-23T07:00:00+03:00",
            "reason": "security",
        },
        headers=editor,
    )
    ids["closure"] = closure.get_json()["id"]
    return ids


@pytest.mark.parametrize(
    ("query", "allowed", "access", "code", "valid_until"),
    [
        pytest.param(
            "mode=pedestrian&at=2024-02-29T21:59:59Z",
            True,
            "allowed",
            "allowed",
            "2024-02-29T22:00:00Z",
            id="before-the-stop",
        ),
        pytest.param(
            "mode=pedestrian&at=2024-03-02T10:00:00Z",
            False,
            "prohibited",
            "rule",
            "2025-10-22T18:00:00Z",
            id="pedestrians-stopped",
        ),
        pytest.param(
            "mode=cyclist&at=2024-03-02T10:00:00Z",
            None,
            "unknown",
            "no_rule",
            "2025-10-22T18:00:00Z",
            id="no-rule",
        ),
        pytest.param(
            "mode=vehicle&at=2024-09-01T10:00:00Z&direction=entry&vehicle_registration=BY",
            False,
            "restricted",
            "condition_not_met",
            "2025-10-22T18:00:00Z",
            id="by-car-entering",
        ),
        pytest.param(
            "mode=vehicle&at=2024-09-01T10:00:00Z&direction=entry&vehicle_registration=LT",
            True,
            "restricted",
            "condition_met",
            "2025-10-22T18:00:00Z",
            id="lt-car-entering",
        ),
        pytest.param(
            "mode=vehicle&at=2024-09-01T10:00:00Z&direction=exit",
            True,
            "restricted",
            "condition_met",
            "2025-10-22T18:00:00Z",
            id="exit-needs-no-registration",
        ),
        pytest.param(
            "mode=vehicle&at=2024-09-01T10:00:00Z&direction=entry",
            None,
            "restricted",
            "facts_needed",
            "2025-10-22T18:00:00Z",
            id="facts-needed",
        ),
        pytest.param(
            "mode=goods&at=2024-09-02T10:00:00%2B03:00",
            True,
            "allowed",
            "allowed",
            "2024-09-02T17:00:00Z",
            id="goods-within-hours",
        ),
        pytest.param(
            "mode=goods&at=2024-09-01T22:00:00Z",
            False,
            "prohibited",
            "outside_hours",
            "2024-09-02T05:00:00Z",
            id="goods-outside-hours",
        ),
        pytest.param(
            "mode=vehicle&at=2025-10-22T22:00:00Z",
            False,
            "prohibited",
            "closure",
            "2025-10-23T04:00:00Z",
            id="closed-overnight",
        ),
    ],
)
def test_decisions(client, medininkai, query, allowed, access, code, valid_until):
    response = client.get(f"/v1/decisions?checkpoint_id=medininkai&{query}")
    assert response.status_code == 200, response.get_json()
    decision = response.get_json()
    assert decision["allowed"] is allowed
    assert decision["access"] == access
    assert [r["code"] for r in decision["reasons"]] == [code]
    assert decision["valid_until"] == valid_until
    if code == "facts_needed":
        assert decision["missing_facts"] == ["vehicle_registration"]
    reason = decision["reasons"][0]
    if code not in {"no_rule"}:
        assert reason["resource"]["type"] in {"rule", "closure", "checkpoint"}
        assert reason["resource"]["revision"] == 1
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["ETag"]
    again = client.get(
        f"/v1/decisions?checkpoint_id=medininkai&{query}",
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert again.status_code == 304


def test_the_reason_names_the_deciding_rule_and_revision(client, medininkai):
    decision = client.get(
        "/v1/decisions?checkpoint_id=medininkai&mode=vehicle&at=2024-09-01T10:00:00Z&direction=exit"
    ).get_json()
    assert decision["reasons"][0]["resource"] == {
        "type": "rule",
        "id": medininkai[("vehicle", "restricted")],
        "revision": 1,
    }
    assert decision["conditions_text"] == ["Cars registered in Belarus may not enter Lithuania."]


def test_max_age_of_a_decision_about_now_is_bounded_by_valid_until(app, client, editor):
    from datetime import UTC, datetime, timedelta

    client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor)
    soon = (datetime.now(UTC) + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.post(
        "/v1/checkpoints/medininkai/rules",
        json={
            "mode": "goods",
            "access": "allowed",
            "valid_from": "2020-01-01T00:00:00Z",
            "valid_until": soon,
        },
        headers=editor,
    )
    response = client.get("/v1/decisions?checkpoint_id=medininkai&mode=goods")
    max_age = int(response.headers["Cache-Control"].split("max-age=")[1])
    assert 0 < max_age <= 20


@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param("checkpoint_id=nowhere&mode=goods", 404, id="unknown-checkpoint"),
        pytest.param("checkpoint_id=medininkai&mode=horse", 422, id="unknown-mode"),
        pytest.param("checkpoint_id=medininkai", 422, id="missing-mode"),
        pytest.param("checkpoint_id=medininkai&mode=goods&mood=happy", 422, id="unknown-fact"),
        pytest.param(
            "checkpoint_id=medininkai&mode=goods&direction=sideways", 422, id="bad-direction"
        ),
        pytest.param(
            "checkpoint_id=medininkai&mode=goods&nationality=XX", 422, id="bad-nationality"
        ),
        pytest.param(
            "checkpoint_id=medininkai&mode=goods&vehicle_category=tank",
            422,
            id="bad-vehicle-category",
        ),
        pytest.param(
            "checkpoint_id=medininkai&mode=goods&traveller_category=Not%20A%20Slug",
            422,
            id="bad-traveller-category",
        ),
        pytest.param(
            "checkpoint_id=medininkai&mode=goods&at=2024-01-01T00:00:00", 422, id="naive-at"
        ),
    ],
)
def test_bad_decision_queries(client, medininkai, query, status):
    assert_problem(client.get(f"/v1/decisions?{query}"), status)


def test_status_and_state(client, editor, medininkai):
    status = client.get(
        "/v1/checkpoints/medininkai/status?at=2024-09-01T10:00:00Z&direction=exit"
    ).get_json()
    assert status["checkpoint_id"] == "medininkai"
    assert set(status["modes"]) == {"pedestrian", "cyclist", "vehicle", "goods"}
    assert status["state"] == "restricted"
    assert status["valid_until"] == min(
        d["valid_until"] for d in status["modes"].values() if d["valid_until"]
    )
    closed = client.get("/v1/checkpoints/medininkai/status?at=2025-10-22T22:00:00Z").get_json()
    assert closed["state"] == "closed"
    unknown = client.get("/v1/checkpoints/medininkai/status?at=2019-01-01T00:00:00Z").get_json()
    assert unknown["state"] == "unknown"
    assert_problem(client.get("/v1/checkpoints/nowhere/status"), 404)
    assert_problem(client.get("/v1/checkpoints/medininkai/status?colour=red"), 422)


def test_status_of_every_checkpoint_and_the_state_filter(client, editor, medininkai):
    open_point = {**CHECKPOINT, "id": "kena", "name": "Kena"}
    client.post("/v1/checkpoints", json=open_point, headers=editor)
    for mode in ("pedestrian", "cyclist", "vehicle", "goods"):
        client.post(
            "/v1/checkpoints/kena/rules",
            json={"mode": mode, "access": "allowed", "valid_from": "2020-01-01T00:00:00Z"},
            headers=editor,
        )
    body = client.get("/v1/status?at=2024-09-01T10:00:00Z").get_json()
    assert body["at"] == "2024-09-01T10:00:00Z"
    assert [(s["checkpoint_id"], s["state"]) for s in body["items"]] == [
        ("kena", "open"),
        ("medininkai", "restricted"),
    ]
    first = client.get("/v1/status?limit=1").get_json()
    assert first["next_cursor"] and len(first["items"]) == 1
    second = client.get(f"/v1/status?limit=1&cursor={first['next_cursor']}").get_json()
    assert second["items"][0]["checkpoint_id"] == "medininkai" and second["next_cursor"] is None
    assert [c["id"] for c in client.get("/v1/checkpoints?state=open").get_json()["items"]] == [
        "kena"
    ]
    assert_problem(client.get("/v1/checkpoints?state=ajar"), 422)
    assert client.get("/v1/status?country=PL").get_json()["items"] == []


def test_batch_decisions_answer_in_order_with_per_item_problems(client, medininkai):
    queries = [
        {
            "checkpoint_id": "medininkai",
            "mode": "vehicle",
            "at": "2024-09-01T10:00:00Z",
            "facts": {"direction": "entry", "vehicle_registration": "BY"},
        },
        {"checkpoint_id": "nowhere", "mode": "goods"},
        {"checkpoint_id": "medininkai", "mode": "horse"},
        {"checkpoint_id": "medininkai", "mode": "goods", "facts": {"mood": "happy"}},
        {"checkpoint_id": "medininkai", "mode": "pedestrian", "at": "2024-03-02T10:00:00Z"},
    ]
    response = client.post("/v1/decisions", json={"queries": queries})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results[0]["allowed"] is False
    assert results[1]["status"] == 404
    assert results[2]["status"] == 422 and "mode" in results[2]["errors"]
    assert results[3]["status"] == 422 and "facts.mood" in results[3]["errors"]
    assert results[4]["reasons"][0]["code"] == "rule"


def test_batch_decides_each_query_at_its_own_at(client, medininkai):
    """Every instant here is answered differently today (pedestrians are stopped for good,
    Belarus-registered cars are banned, the overnight closure is over), so a batch that
    decided at the current time would fail each of these."""
    cases = [
        ({"mode": "pedestrian", "at": "2024-02-29T21:59:59Z"}, True, "allowed"),
        ({"mode": "pedestrian", "at": "2024-03-02T10:00:00Z"}, False, "rule"),
        (
            {
                "mode": "vehicle",
                "at": "2024-08-01T10:00:00Z",
                "facts": {"direction": "entry", "vehicle_registration": "BY"},
            },
            None,
            "no_rule",
        ),
        (
            {
                "mode": "vehicle",
                "at": "2024-09-01T10:00:00Z",
                "facts": {"direction": "entry", "vehicle_registration": "BY"},
            },
            False,
            "condition_not_met",
        ),
        ({"mode": "vehicle", "at": "2025-10-22T22:00:00Z"}, False, "closure"),
    ]
    queries = [{"checkpoint_id": "medininkai", **query} for query, _, _ in cases]
    results = client.post("/v1/decisions", json={"queries": queries}).get_json()["results"]
    for (query, allowed, code), result in zip(cases, results, strict=True):
        assert result["allowed"] is allowed, query
        assert [reason["code"] for reason in result["reasons"]] == [code], query
        assert result["at"] == query["at"]
    single = [
        client.get("/v1/decisions", query_string=query).get_json()
        for query in (
            {"checkpoint_id": "medininkai", "mode": q["mode"], "at": q["at"], **q.get("facts", {})}
            for q, _, _ in cases
        )
    ]
    assert results == single


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"queries": []}, id="empty"),
        pytest.param(
            {"queries": [{"checkpoint_id": "medininkai", "mode": "goods"}] * 1001}, id="too-many"
        ),
        pytest.param({"queries": ["medininkai"]}, id="not-objects"),
        pytest.param({}, id="missing"),
        pytest.param({"queries": [], "extra": 1}, id="unknown-field"),
    ],
)
def test_bad_batches_are_422(client, medininkai, body):
    assert_problem(client.post("/v1/decisions", json=body), 422)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/v1/decisions?checkpoint_id=medininkai&mode=goods", id="decision-now"),
        pytest.param(
            "/v1/decisions?checkpoint_id=medininkai&mode=goods&at=2025-06-02T12:00:00Z",
            id="decision-at",
        ),
        pytest.param(
            "/v1/decisions?checkpoint_id=medininkai&mode=vehicle&at=2025-06-02T12:00:00Z"
            "&direction=entry",
            id="decision-facts",
        ),
        pytest.param("/v1/checkpoints/medininkai/status", id="status-now"),
        pytest.param("/v1/checkpoints/medininkai/status?at=2025-06-02T12:00:00Z", id="status-at"),
    ],
)
def test_a_304_carries_the_etag_and_cache_control_of_the_200(client, medininkai, path):
    for _ in range(3):  # the answer computed, then the one held
        answer = client.get(path)
        assert answer.status_code == 200
        cached = client.get(path, headers={"If-None-Match": answer.headers["ETag"]})
        if "at=" not in path and cached.status_code == 200:
            continue  # a second passed: the answer about now moved on (its `at` is in it)
        assert cached.status_code == 304
        assert cached.headers["ETag"] == answer.headers["ETag"]
        assert cached.headers["Cache-Control"] == answer.headers["Cache-Control"]


def test_a_held_answer_about_a_given_time_changes_with_a_write(client, editor, medininkai):
    path = "/v1/decisions?checkpoint_id=medininkai&mode=goods&at=2025-06-02T12:00:00Z"
    before = client.get(path)
    assert client.get(path).get_json() == before.get_json()
    assert before.get_json()["allowed"] is True
    closure = {"starts_at": "2025-06-01T00:00:00Z", "reason": "security"}
    created = client.post("/v1/checkpoints/medininkai/closures", json=closure, headers=editor)
    assert created.status_code == 201
    after = client.get(path, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.get_json()["allowed"] is False
    assert after.headers["ETag"] != before.headers["ETag"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/decisions?checkpoint_id=medininkai&mode=goods&at=2025-06-02T12:00:00Z",
        "/v1/checkpoints/medininkai/status?at=2025-06-02T12:00:00Z",
    ],
)
def test_a_held_answer_is_sent_again_whole_until_a_write(client, editor, medininkai, path):
    def whole(response):
        headers = [(k, v) for k, v in response.headers.items() if k not in ("Date", "RateLimit")]
        return response.status_code, headers, response.get_data()

    first = client.get(path)
    assert first.status_code == 200 and "RateLimit" in first.headers
    for _ in range(2):  # answered again from what was sent (before the query is parsed)
        assert whole(client.get(path)) == whole(first)
    gzipped = client.get(path, headers={"Accept-Encoding": "gzip", "Origin": "https://a.example"})
    assert gzipped.headers["Access-Control-Allow-Origin"] == "*"
    assert gzipped.headers["X-Content-Type-Options"] == "nosniff"
    data = gzipped.get_data()
    if gzipped.headers.get("Content-Encoding") == "gzip":  # an answer of 1 KiB or more
        data = gzip.decompress(data)
    assert data == first.get_data()
    closure = {"starts_at": "2025-06-01T00:00:00Z", "reason": "security"}
    created = client.post("/v1/checkpoints/medininkai/closures", json=closure, headers=editor)
    assert created.status_code == 201
    after = client.get(path)
    assert after.status_code == 200 and after.get_data() != first.get_data()
    assert after.headers["ETag"] != first.headers["ETag"]
    assert whole(client.get(path)) == whole(after)


def test_a_held_status_is_the_same_whatever_offset_at_is_given_in(client, medininkai):
    utc = client.get("/v1/checkpoints/medininkai/status?at=2025-06-02T12:00:00Z")
    local = client.get("/v1/checkpoints/medininkai/status?at=2025-06-02T15:00:00%2B03:00")
    again = client.get("/v1/checkpoints/medininkai/status?at=2025-06-02T12:00:00Z")
    assert utc.get_json() == again.get_json() and utc.headers["ETag"] == again.headers["ETag"]
    assert local.get_json() == utc.get_json() and local.headers["ETag"] == utc.headers["ETag"]
    assert utc.get_json()["at"] == "2025-06-02T12:00:00Z"
