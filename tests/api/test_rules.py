"""Rules over HTTP: versioned like checkpoints, never overlapping per checkpoint and mode."""

from __future__ import annotations

import pytest

from tests.conftest import CHECKPOINT, assert_problem

RULE = {
    "mode": "vehicle",
    "access": "restricted",
    "condition": {
        "not": {
            "all": [
                {"fact": "direction", "in": ["entry"]},
                {"fact": "vehicle_registration", "in": ["BY"]},
            ]
        }
    },
    "conditions_text": ["Cars registered in Belarus may not enter Lithuania."],
    "valid_from": "2024-08-16T00:00:00+03:00",
}


@pytest.fixture
def checkpoint(client, editor):
    assert client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).status_code == 201
    return "medininkai"


def post_rule(client, editor, **changes):
    return client.post("/v1/checkpoints/medininkai/rules", json={**RULE, **changes}, headers=editor)


def test_create_and_read_a_rule(client, editor, checkpoint):
    response = post_rule(client, editor)
    assert response.status_code == 201, response.get_json()
    rule = response.get_json()
    assert rule["id"].startswith("rule-")
    assert rule["checkpoint_id"] == "medininkai"
    assert rule["valid_from"] == "2024-08-15T21:00:00Z"
    assert rule["valid_until"] is None and rule["opening_hours"] is None
    assert response.headers["Location"].endswith(f"/v1/rules/{rule['id']}")
    got = client.get(f"/v1/rules/{rule['id']}")
    assert got.get_json() == rule
    assert got.headers["ETag"] == response.headers["ETag"]
    assert (
        client.get(
            f"/v1/rules/{rule['id']}", headers={"If-None-Match": got.headers["ETag"]}
        ).status_code
        == 304
    )


def test_rules_of_one_mode_never_overlap(client, editor, checkpoint, store):
    first = post_rule(client, editor, valid_until="2025-01-01T00:00:00Z").get_json()
    before = store.feed_position()
    clash = post_rule(
        client, editor, valid_from="2024-12-31T00:00:00Z", access="allowed", condition=None
    )
    problem = assert_problem(clash, 409)
    assert first["id"] in problem["detail"]
    assert problem["conflicting"] == {"type": "rule", "id": first["id"], "revision": 1}
    assert store.feed_position() == before
    # Touching is not overlapping (valid_until is exclusive), and other modes are independent.
    assert (
        post_rule(
            client, editor, valid_from="2025-01-01T00:00:00Z", access="allowed", condition=None
        ).status_code
        == 201
    )
    assert (
        post_rule(client, editor, mode="goods", access="allowed", condition=None).status_code == 201
    )
    # An open-ended rule overlaps everything after it.
    assert_problem(
        post_rule(
            client, editor, valid_from="2030-01-01T00:00:00Z", access="prohibited", condition=None
        ),
        409,
    )


def test_an_update_that_would_overlap_is_409(client, editor, checkpoint):
    early = post_rule(client, editor, valid_until="2025-01-01T00:00:00Z")
    post_rule(client, editor, valid_from="2025-01-01T00:00:00Z", access="allowed", condition=None)
    response = client.patch(
        f"/v1/rules/{early.get_json()['id']}",
        json={"valid_until": "2025-06-01T00:00:00Z"},
        headers={**editor, "If-Match": early.headers["ETag"]},
    )
    assert_problem(response, 409)


def test_patch_and_put_keep_ids_read_only(client, editor, checkpoint):
    created = post_rule(client, editor)
    rule = created.get_json()
    patched = client.patch(
        f"/v1/rules/{rule['id']}",
        json={"valid_until": "2025-04-17T00:00:00+03:00", "note": "ended"},
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["valid_until"] == "2025-04-16T21:00:00Z"
    assert patched.get_json()["revision"] == 2
    stale = client.put(
        f"/v1/rules/{rule['id']}",
        json={**rule, "checkpoint_id": "elsewhere"},
        headers={**editor, "If-Match": patched.headers["ETag"]},
    )
    assert "checkpoint_id" in assert_problem(stale, 422)["errors"]
    same = client.put(
        f"/v1/rules/{rule['id']}",
        json={**patched.get_json(), "access": "allowed", "condition": None},
        headers={**editor, "If-Match": patched.headers["ETag"]},
    )
    assert same.status_code == 200, same.get_json()
    assert same.get_json()["access"] == "allowed"


BAD_RULES = [
    pytest.param({"mode": "horse"}, "mode", id="mode-unknown"),
    pytest.param({"access": "maybe"}, "access", id="access-unknown"),
    pytest.param({"valid_from": "2024-08-16T00:00:00"}, "valid_from", id="naive-time"),
    pytest.param({"valid_from": "16/08/2024"}, "valid_from", id="not-rfc3339"),
    pytest.param({"valid_until": "2024-01-01T00:00:00Z"}, "valid_until", id="ends-before-start"),
    pytest.param(
        {"condition": {"fact": "mood", "in": ["happy"]}}, "condition.fact", id="unknown-fact"
    ),
    pytest.param(
        {"condition": {"fact": "direction", "in": ["sideways"]}},
        "condition.in.0",
        id="bad-fact-value",
    ),
    pytest.param(
        {"condition": {"all": [{"fact": "direction", "in": ["entry"]}, {"any": []}]}},
        "condition.all.1.any",
        id="empty-any",
    ),
    pytest.param({"condition": {"nand": []}}, "condition", id="unknown-operator"),
    pytest.param({"access": "allowed"}, "condition", id="condition-on-allowed"),
    pytest.param({"opening_hours": "Mo-Zz"}, "opening_hours", id="bad-hours"),
    pytest.param({"id": "rule-mine"}, "id", id="id-is-server-assigned"),
    pytest.param({"checkpoint_id": "other"}, "checkpoint_id", id="checkpoint-id-not-the-paths"),
    pytest.param({"colour": "red"}, "colour", id="unknown-field"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_RULES)
def test_bad_rules_are_422_pointing_at_the_node(client, editor, checkpoint, store, changes, field):
    before = store.feed_position()
    problem = assert_problem(post_rule(client, editor, **changes), 422)
    assert field in problem["errors"], problem["errors"]
    assert store.feed_position() == before


def test_rules_of_an_unknown_checkpoint_are_404(client, editor):
    assert_problem(post_rule(client, editor), 404)
    assert_problem(client.get("/v1/checkpoints/nowhere/rules"), 404)


def test_list_filters_by_mode_and_at_and_paginates(client, editor, checkpoint):
    post_rule(
        client,
        editor,
        valid_from="2020-01-01T00:00:00Z",
        valid_until="2024-08-15T21:00:00Z",
        access="allowed",
        condition=None,
    )
    post_rule(client, editor)
    for mode in ("pedestrian", "cyclist", "goods"):
        post_rule(
            client,
            editor,
            mode=mode,
            valid_from="2020-01-01T00:00:00Z",
            access="allowed",
            condition=None,
        )
    everything = client.get("/v1/checkpoints/medininkai/rules").get_json()["items"]
    assert len(everything) == 5
    assert [r["valid_from"] for r in everything] == sorted(r["valid_from"] for r in everything)
    vehicle = client.get("/v1/checkpoints/medininkai/rules?mode=vehicle").get_json()["items"]
    assert [r["access"] for r in vehicle] == ["allowed", "restricted"]
    at = client.get(
        "/v1/checkpoints/medininkai/rules?mode=vehicle&at=2024-08-15T21:00:00Z"
    ).get_json()["items"]
    assert [r["access"] for r in at] == ["restricted"]
    seen, url = [], "/v1/checkpoints/medininkai/rules?limit=2"
    while url:
        body = client.get(url).get_json()
        seen += [r["id"] for r in body["items"]]
        url = (
            body["next_cursor"]
            and f"/v1/checkpoints/medininkai/rules?limit=2&cursor={body['next_cursor']}"
        )
    assert seen == [r["id"] for r in everything]
    assert_problem(client.get("/v1/checkpoints/medininkai/rules?mode=horse"), 422)
    assert_problem(client.get("/v1/checkpoints/medininkai/rules?at=yesterday"), 422)


def test_rule_deletion_and_history(client, editor, checkpoint):
    created = post_rule(client, editor)
    rule_id = created.get_json()["id"]
    assert client.delete(f"/v1/rules/{rule_id}", headers=editor).status_code == 428
    assert (
        client.delete(
            f"/v1/rules/{rule_id}", headers={**editor, "If-Match": created.headers["ETag"]}
        ).status_code
        == 204
    )
    assert_problem(client.get(f"/v1/rules/{rule_id}"), 404)
    history = client.get(f"/v1/rules/{rule_id}/revisions").get_json()["items"]
    assert [r["action"] for r in history] == ["created", "deleted"]
    assert client.get(f"/v1/rules/{rule_id}/revisions/1").get_json()["data"]["mode"] == "vehicle"


def test_deleting_a_checkpoint_removes_its_rules_and_closures_with_tombstones(
    client, editor, admin, checkpoint, store
):
    rule_id = post_rule(client, editor).get_json()["id"]
    closure = client.post(
        "/v1/checkpoints/medininkai/closures",
        json={"starts_at": "2025-10-27T00:00:00+02:00", "reason": "security"},
        headers=editor,
    ).get_json()
    etag = client.get("/v1/checkpoints/medininkai").headers["ETag"]
    assert (
        client.delete("/v1/checkpoints/medininkai", headers={**admin, "If-Match": etag}).status_code
        == 204
    )
    assert_problem(client.get(f"/v1/rules/{rule_id}"), 404)
    assert_problem(client.get(f"/v1/closures/{closure['id']}"), 404)
    assert (
        client.get(f"/v1/rules/{rule_id}/revisions").get_json()["items"][-1]["action"] == "deleted"
    )
    events = store.changes(after=0, limit=100)
    assert [(e["resource_type"], e["action"]) for e in events[-3:]] == [
        ("rule", "deleted"),
        ("closure", "deleted"),
        ("checkpoint", "deleted"),
    ]
    assert len({e["recorded_at"] for e in events[-3:]}) == 1  # one transaction


def test_a_cursor_of_another_list_is_422(client, editor, checkpoint):
    for i in range(3):
        post_rule(
            client,
            editor,
            mode=("pedestrian", "cyclist", "goods")[i],
            access="allowed",
            condition=None,
        )
    rules_cursor = client.get("/v1/checkpoints/medininkai/rules?limit=1").get_json()["next_cursor"]
    client.post("/v1/checkpoints", json={**CHECKPOINT, "id": "kena"}, headers=editor)
    points_cursor = client.get("/v1/checkpoints?limit=1").get_json()["next_cursor"]
    assert rules_cursor and points_cursor
    assert_problem(client.get(f"/v1/checkpoints?cursor={rules_cursor}"), 422)
    assert_problem(client.get(f"/v1/status?cursor={rules_cursor}"), 422)
    assert_problem(client.get(f"/v1/checkpoints/medininkai/rules?cursor={points_cursor}"), 422)
    assert_problem(client.get(f"/v1/checkpoints/medininkai/revisions?cursor={points_cursor}"), 422)
    assert client.get(f"/v1/checkpoints?cursor={points_cursor}").status_code == 200
