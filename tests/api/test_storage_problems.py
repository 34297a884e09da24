"""Storage failures as HTTP answers: every exception the store raises leaves as one
problem+json with the status, problem type and headers the contract gives it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from service import storage
from tests.api.test_rules import RULE
from tests.conftest import CHECKPOINT, assert_problem
from tests.storage.test_faults import checkpoint_wal, damage_pages

PROBLEM = "urn:checkpoints:problem:"

FAILURES = [
    pytest.param(storage.NotFound("rule", "r-1"), 404, "not-found", {}, id="not-found"),
    pytest.param(
        storage.AlreadyExists("checkpoint", "medininkai"), 409, "already-exists", {}, id="exists"
    ),
    pytest.param(storage.FeedGone(5), 410, "feed-gone", {}, id="feed-gone"),
    pytest.param(storage.FeedAhead(7), 409, "feed-position-ahead", {}, id="feed-ahead"),
    pytest.param(
        storage.IdempotencyMismatch("reused"), 422, "idempotency-key-reused", {}, id="key-reused"
    ),
    pytest.param(storage.Conflict("overlaps"), 409, "conflict", {}, id="conflict"),
    pytest.param(
        storage.Corrupt("bad page"), 503, "storage-corrupt", {"Retry-After": "60"}, id="corrupt"
    ),
    pytest.param(
        storage.ReadOnly("read-only"), 503, "storage-read-only", {"Retry-After": "5"}, id="ro"
    ),
    pytest.param(
        storage.StorageFull("disk full"), 503, "storage-full", {"Retry-After": "5"}, id="full"
    ),
    pytest.param(
        storage.Unavailable("refused"), 503, "unavailable", {"Retry-After": "1"}, id="unavailable"
    ),
    pytest.param(
        storage.SchemaNotReady("old schema"),
        503,
        "unavailable",
        {"Retry-After": "1"},
        id="schema-not-ready",
    ),
]


@pytest.fixture
def raising(app):
    """A client of the app with one extra URL, /raise, that raises ``app.config["RAISE"]``."""

    def view():
        raise app.config["RAISE"]

    app.add_url_rule("/raise", "raise", view)
    return app


@pytest.mark.parametrize(("error", "status", "kind", "headers"), FAILURES)
def test_a_storage_failure_is_its_problem(raising, error, status, kind, headers):
    raising.config["RAISE"] = error
    response = raising.test_client().get("/raise")
    problem = assert_problem(response, status)
    assert problem["type"] == PROBLEM + kind
    for name, value in headers.items():
        assert response.headers[name] == value
    if not headers:
        assert "Retry-After" not in response.headers


@pytest.mark.parametrize(
    "error",
    [
        storage.NotFound("rule", "r-1"),
        storage.AlreadyExists("rule", "r-1"),
        storage.Conflict("The rule would overlap rule 'r-1'"),
    ],
    ids=["not-found", "exists", "conflict"],
)
def test_a_problem_about_a_resource_names_it(raising, error):
    raising.config["RAISE"] = error
    assert "'r-1'" in raising.test_client().get("/raise").get_json()["detail"]


def test_a_refused_write_says_whether_storage_is_read_only_or_full(raising):
    raising.config["RAISE"] = storage.ReadOnly("read-only")
    assert "read-only" in raising.test_client().get("/raise").get_json()["detail"]
    raising.config["RAISE"] = storage.StorageFull("disk full")
    assert "full" in raising.test_client().get("/raise").get_json()["detail"]


def test_a_feed_problem_carries_the_position_to_resume_from(raising):
    raising.config["RAISE"] = storage.FeedGone(5)
    assert raising.test_client().get("/raise").get_json()["first_seq"] == 5
    raising.config["RAISE"] = storage.FeedAhead(7)
    assert raising.test_client().get("/raise").get_json()["last_seq"] == 7


def test_a_conflict_names_the_resource_it_conflicts_with_when_there_is_one(raising):
    other = {"type": "rule", "id": "r-1", "revision": 2}
    raising.config["RAISE"] = storage.Conflict("overlaps", other=other)
    assert raising.test_client().get("/raise").get_json()["conflicting"] == other
    raising.config["RAISE"] = storage.Conflict("overlaps")
    assert "conflicting" not in raising.test_client().get("/raise").get_json()


def test_an_unexpected_storage_error_is_a_500_that_tells_nothing(raising):
    raising.config["RAISE"] = storage.HistoryOrder("the recording time secret-detail")
    response = raising.test_client().get("/raise")
    problem = assert_problem(response, 500)
    assert problem["type"] == "about:blank"
    assert "secret-detail" not in response.get_data(as_text=True)


def test_an_unexpected_storage_error_is_logged_with_its_cause(raising, caplog):
    error = storage.HistoryOrder("the recording time secret-detail")
    raising.config["RAISE"] = error
    with caplog.at_level(logging.ERROR, logger="service.api.machinery.errors"):
        assert_problem(raising.test_client().get("/raise"), 500)
    logged = [
        record.exc_info[1]
        for record in caplog.records
        if record.name == "service.api.machinery.errors" and record.exc_info
    ]
    assert logged == [error]


def test_a_revision_the_store_rechecks_is_a_412_with_the_current_quoted_etag(
    raising, store, client, editor
):
    """The store's own re-check inside its write transaction (a writer that lost a race after
    its If-Match passed) answers like the view's check: 412 with the current ETag."""
    client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor)
    etag = client.get("/v1/checkpoints/medininkai").headers["ETag"]
    client.patch(
        "/v1/checkpoints/medininkai", json={"name": "Second"}, headers={**editor, "If-Match": etag}
    )
    current = client.get("/v1/checkpoints/medininkai").headers["ETag"]
    with pytest.raises(storage.RevisionMismatch) as lost:
        store.update(
            resource_type="checkpoint",
            resource_id="medininkai",
            data=CHECKPOINT,
            expected_revision=1,
            actor="late",
        )
    raising.config["RAISE"] = lost.value
    response = raising.test_client().get("/raise")
    problem = assert_problem(response, 412)
    assert problem["type"] == PROBLEM + "precondition-failed"
    assert response.headers["ETag"] == current


def test_once_damage_is_met_every_write_is_refused_and_nothing_changes(
    database_url, app, store, client, editor
):
    """Damage met anywhere (here: a read of the closures) refuses the writes that would not
    touch the damaged pages too: a create, an update and a delete of a rule each answer 503
    storage-corrupt, and the rule stays as it was."""
    assert client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).status_code == 201
    created = client.post("/v1/checkpoints/medininkai/rules", json=RULE, headers=editor)
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    url = f"/v1/rules/{rule['id']}"
    etag = created.headers["ETag"]
    store.close()
    path = Path(database_url.removeprefix("sqlite:///"))
    checkpoint_wal(path)
    damage_pages(path, "closures")

    met = assert_problem(client.get("/v1/closures"), 503)
    assert met["type"] == PROBLEM + "storage-corrupt"
    writes = [
        client.post("/v1/checkpoints", json={**CHECKPOINT, "id": "lavoriskes"}, headers=editor),
        client.put(
            url,
            json={**RULE, "valid_until": "2030-01-01T00:00:00Z"},
            headers={**editor, "If-Match": etag},
        ),
        client.delete(url, headers={**editor, "If-Match": etag}),
    ]
    for response in writes:
        assert assert_problem(response, 503)["type"] == PROBLEM + "storage-corrupt"
    assert client.get(url).get_json() == rule
    assert_problem(client.get("/v1/checkpoints/lavoriskes"), 404)
