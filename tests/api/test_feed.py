"""The change feed, the snapshot and idempotent writes, in-process."""

from __future__ import annotations

import pytest

from service import create_app
from service.config import Config
from tests.conftest import CHECKPOINT, assert_problem


def point(i: int) -> dict:
    return {**CHECKPOINT, "id": f"point-{i:03d}", "name": f"Point {i}"}


@pytest.fixture
def written(client, editor):
    """Five checkpoints, each with one rule: ten events, alternating types."""
    for i in range(5):
        assert client.post("/v1/checkpoints", json=point(i), headers=editor).status_code == 201
        rule = {"mode": "goods", "access": "allowed", "valid_from": "2024-01-01T00:00:00Z"}
        assert (
            client.post(
                f"/v1/checkpoints/point-{i:03d}/rules", json=rule, headers=editor
            ).status_code
            == 201
        )


def test_the_feed_pages_in_order(client, written):
    seen, after = [], 0
    while True:
        body = client.get(f"/v1/changes?after={after}&limit=3").get_json()
        seen += [c["seq"] for c in body["changes"]]
        assert body["last_seq"] >= after
        after = body["last_seq"]
        if not body["has_more"]:
            break
    assert seen == list(range(1, 11))
    first = client.get("/v1/changes?limit=1").get_json()["changes"][0]
    assert set(first) == {
        "seq",
        "recorded_at",
        "resource_type",
        "resource_id",
        "checkpoint_id",
        "revision",
        "action",
        "actor",
        "data",
    }
    assert first["actor"] == "alice" and first["action"] == "created"


def test_a_filtered_consumer_advances_past_skipped_events(client, written):
    body = client.get("/v1/changes?resource_type=checkpoint&limit=2").get_json()
    assert [c["seq"] for c in body["changes"]] == [1, 3]
    assert body["last_seq"] == 3 and body["has_more"] is True
    body = client.get("/v1/changes?resource_type=checkpoint&after=9").get_json()
    assert body["changes"] == [] and body["last_seq"] == 10 and body["has_more"] is False
    body = client.get("/v1/changes?checkpoint_id=point-002").get_json()
    assert [c["seq"] for c in body["changes"]] == [5, 6]
    assert body["last_seq"] == 10


def test_after_beyond_the_end_and_long_poll_timeout(client, written):
    body = client.get("/v1/changes?after=10&wait=1").get_json()
    assert body == {"changes": [], "last_seq": 10, "has_more": False}


@pytest.mark.parametrize(
    "query",
    [
        "after=-1",
        "limit=0",
        "limit=1001",
        "wait=31",
        "resource_type=planet",
        "checkpoint_id=BAD!",
        "colour=red",
    ],
)
def test_bad_feed_parameters_are_422(client, query):
    assert_problem(client.get(f"/v1/changes?{query}"), 422)


def test_compaction_makes_old_positions_410_and_keeps_revisions(client, written, store):
    assert store.compact_feed(before_seq=5) == 4
    problem = assert_problem(client.get("/v1/changes?after=2"), 410)
    assert problem["first_seq"] == 5 and "snapshot" in problem["detail"]
    assert client.get("/v1/changes?after=4").get_json()["changes"][0]["seq"] == 5
    assert_problem(client.get("/v1/changes/stream?after=0"), 410)
    # Revisions are history, not feed: they stay.
    assert client.get("/v1/checkpoints/point-000/revisions").get_json()["items"]
    # Compaction never moves backwards and keeps seq gap-free for new writes.
    assert store.compact_feed(before_seq=2) == 0
    assert store.feed_position() == 10


def test_snapshot_is_every_live_resource_and_its_seq(client, written, editor, admin):
    etag = client.get("/v1/checkpoints/point-000").headers["ETag"]
    client.delete("/v1/checkpoints/point-000", headers={**admin, "If-Match": etag})
    snapshot = client.get("/v1/snapshot").get_json()
    assert snapshot["seq"] == 12
    assert [c["id"] for c in snapshot["checkpoints"]] == [f"point-{i:03d}" for i in range(1, 5)]
    assert len(snapshot["rules"]) == 4 and snapshot["closures"] == []


def test_idempotent_create_replays_the_first_response(client, editor, store):
    headers = {**editor, "Idempotency-Key": "create-point-7"}
    first = client.post("/v1/checkpoints", json=point(7), headers=headers)
    assert first.status_code == 201
    again = client.post("/v1/checkpoints", json=point(7), headers=headers)
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert store.feed_position() == 1
    other = client.post("/v1/checkpoints", json=point(8), headers=headers)
    assert_problem(other, 422)
    assert store.feed_position() == 1


def test_idempotent_rule_create_replays_the_same_rule(client, editor, store):
    client.post("/v1/checkpoints", json=point(1), headers=editor)
    rule = {"mode": "goods", "access": "allowed", "valid_from": "2024-01-01T00:00:00Z"}
    headers = {**editor, "Idempotency-Key": "rule-1"}
    first = client.post("/v1/checkpoints/point-001/rules", json=rule, headers=headers)
    again = client.post("/v1/checkpoints/point-001/rules", json=rule, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert store.feed_position() == 2


def test_a_failed_request_does_not_spend_its_key(client, editor, store):
    headers = {**editor, "Idempotency-Key": "k"}
    assert_problem(
        client.post("/v1/checkpoints", json={**point(1), "kind": "boat"}, headers=headers), 422
    )
    assert client.post("/v1/checkpoints", json=point(1), headers=headers).status_code == 201


def test_keys_belong_to_their_token(client, editor, admin, store):
    client.post("/v1/checkpoints", json=point(1), headers={**editor, "Idempotency-Key": "same"})
    response = client.post(
        "/v1/checkpoints", json=point(2), headers={**admin, "Idempotency-Key": "same"}
    )
    assert response.status_code == 201
    # A write of the admin's own, not the editor's replayed.
    assert response.get_json()["id"] == "point-002" and response.get_json()["revision"] == 1
    assert "Idempotent-Replayed" not in response.headers
    assert [c["resource_id"] for c in client.get("/v1/changes").get_json()["changes"]] == [
        "point-001",
        "point-002",
    ]


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_bad_idempotency_keys_are_400(client, editor, key):
    assert_problem(
        client.post("/v1/checkpoints", json=point(1), headers={**editor, "Idempotency-Key": key}),
        400,
    )


@pytest.mark.parametrize("last_event_id", ["abc", "12345678901234567", "-1", "1e3", "٣", " 5"])
def test_a_last_event_id_outside_its_pattern_is_400(client, last_event_id):
    assert_problem(client.get("/v1/changes/stream", headers={"Last-Event-ID": last_event_id}), 400)


@pytest.mark.parametrize(
    "request_args",
    [
        pytest.param(("/v1/changes?after=11", {}), id="after"),
        pytest.param(("/v1/changes?after=1000000&wait=5", {}), id="after-long-poll"),
        pytest.param(("/v1/changes?after=9007199254740991", {}), id="after-max"),
        pytest.param(("/v1/changes/stream", {"Last-Event-ID": "9999999999999999"}), id="id-max"),
        pytest.param(("/v1/changes/stream?after=11", {}), id="stream-after"),
        pytest.param(("/v1/changes/stream", {"Last-Event-ID": "1000000"}), id="last-event-id"),
    ],
)
def test_a_position_beyond_the_newest_event_is_409_with_last_seq(client, written, request_args):
    url, headers = request_args
    problem = assert_problem(client.get(url, headers=headers), 409)
    assert problem["type"] == "urn:checkpoints:problem:feed-position-ahead"
    assert problem["last_seq"] == 10 and "snapshot" in problem["detail"]


def test_a_position_at_the_newest_event_is_served(client, written):
    assert client.get("/v1/changes?after=10").status_code == 200
    stream = client.get("/v1/changes/stream", headers={"Last-Event-ID": "10"})
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    stream.close()


def test_waiting_requests_beyond_the_bound_are_503(database_url):
    app = create_app(Config(database_url=database_url, max_held_requests=0))
    app.extensions["checkpoints.store"].migrate()
    client = app.test_client()
    problem = assert_problem(client.get("/v1/changes?wait=1"), 503)
    assert "Retry-After" in client.get("/v1/changes?wait=1").headers
    assert problem["detail"]
    assert_problem(client.get("/v1/changes/stream"), 503)
    assert client.get("/v1/changes").status_code == 200  # not waiting: answered
