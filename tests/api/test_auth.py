"""Tokens: 401 without a valid one, 403 without the role; the token's name is the actor."""

from __future__ import annotations

import pytest

from tests.conftest import CHECKPOINT, assert_problem, make_token


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer", id="empty"),
        pytest.param("Basic YWxpY2U6eA==", id="other-scheme"),
        pytest.param("Bearer cpt_not-a-real-token", id="unknown"),
    ],
)
def test_writes_without_a_valid_token_are_401_with_a_bearer_challenge(client, store, header):
    headers = {"Authorization": header} if header else {}
    response = client.post("/v1/checkpoints", json=CHECKPOINT, headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert store.feed_position() == 0


def test_a_revoked_token_is_401(client, store):
    secret = make_token(store, "bob", "editor")
    store.revoke_token(name="bob")
    response = client.post(
        "/v1/checkpoints", json=CHECKPOINT, headers={"Authorization": f"Bearer {secret}"}
    )
    assert_problem(response, 401)


def test_an_editor_cannot_delete_a_checkpoint_but_an_admin_can(client, editor, admin, store):
    etag = client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).headers["ETag"]
    before = store.feed_position()
    response = client.delete("/v1/checkpoints/medininkai", headers={**editor, "If-Match": etag})
    assert_problem(response, 403)
    assert store.feed_position() == before
    response = client.delete("/v1/checkpoints/medininkai", headers={**admin, "If-Match": etag})
    assert response.status_code == 204


def test_reads_are_public(client, editor):
    created = client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).get_json()
    read = client.get("/v1/checkpoints/medininkai")
    assert read.status_code == 200 and read.get_json() == created
    listed = client.get("/v1/checkpoints")
    assert listed.status_code == 200 and listed.get_json()["items"] == [created]


def test_the_tokens_name_is_the_actor_of_revisions_and_feed_events(client, editor, store):
    client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor)
    revision = client.get("/v1/checkpoints/medininkai/revisions/1").get_json()
    assert revision["actor"] == "alice"
    assert [event["actor"] for event in store.changes(after=0, limit=10)] == ["alice"]


def test_only_a_hash_of_the_secret_is_stored(store, tmp_path, database_url):
    secret = make_token(store, "carol", "admin")
    with open(database_url[len("sqlite:///") :], "rb") as file:
        raw = file.read()
    assert secret.encode() not in raw
