"""The Store contract: every backend passes this same suite."""

from __future__ import annotations

import pytest

from service.storage import (
    AlreadyExists,
    CheckpointFilter,
    NotFound,
    RevisionMismatch,
    TokenExists,
    open_store,
)
from tests.conftest import CHECKPOINT


@pytest.fixture(params=["sqlite"])
def backend(request, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'contract.db'}")
    store.migrate()
    yield store
    store.close()


def fields(**changes):
    return {**CHECKPOINT, **changes}


def test_create_get_update_delete_and_history(backend):
    created = backend.create(
        resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a"
    )
    assert created.revision == 1 and created.data["revision"] == 1
    assert backend.get(resource_type="checkpoint", resource_id="medininkai").data == created.data
    updated = backend.update(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(name="B"),
        expected_revision=1,
        actor="b",
    )
    assert updated.revision == 2 and updated.data["created_at"] == created.data["created_at"]
    with pytest.raises(RevisionMismatch) as info:
        backend.update(
            resource_type="checkpoint",
            resource_id="medininkai",
            data=fields(name="C"),
            expected_revision=1,
            actor="c",
        )
    assert info.value.current_revision == 2
    backend.delete(
        resource_type="checkpoint", resource_id="medininkai", expected_revision=2, actor="d"
    )
    with pytest.raises(NotFound):
        backend.get(resource_type="checkpoint", resource_id="medininkai")
    with pytest.raises(NotFound):
        backend.delete(
            resource_type="checkpoint", resource_id="medininkai", expected_revision=None, actor="d"
        )
    page = backend.revisions(
        resource_type="checkpoint", resource_id="medininkai", after=0, limit=10
    )
    assert [(r.revision, r.action, r.actor) for r in page.items] == [
        (1, "created", "a"),
        (2, "updated", "b"),
        (3, "deleted", "d"),
    ]
    assert page.items[2].data is None
    again = backend.create(
        resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="e"
    )
    assert again.revision == 4


def test_create_of_a_live_id_raises_and_writes_nothing(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    with pytest.raises(AlreadyExists):
        backend.create(
            resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a"
        )
    assert backend.feed_position() == 1


def test_feed_events_mirror_revisions(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    backend.delete(
        resource_type="checkpoint", resource_id="medininkai", expected_revision=1, actor="b"
    )
    events = backend.changes(after=0, limit=10)
    assert [(e["seq"], e["action"], e["revision"], e["checkpoint_id"]) for e in events] == [
        (1, "created", 1, "medininkai"),
        (2, "deleted", 2, "medininkai"),
    ]
    assert events[0]["data"]["name"] == "Medininkai" and events[1]["data"] is None
    assert backend.changes(after=1, limit=10)[0]["seq"] == 2


def test_list_pages_by_id(backend):
    for name in ["c", "a", "b"]:
        backend.create(
            resource_type="checkpoint",
            resource_id=f"{name}{name}",
            data=fields(id=f"{name}{name}"),
            actor="x",
        )
    first = backend.list_checkpoints(filters=CheckpointFilter(), after=None, limit=2)
    assert [i["id"] for i in first.items] == ["aa", "bb"] and first.next_after == "bb"
    second = backend.list_checkpoints(filters=CheckpointFilter(), after="bb", limit=2)
    assert [i["id"] for i in second.items] == ["cc"] and second.next_after is None


def test_tokens(backend):
    backend.create_token(name="ops", role="admin", secret_hash="h1")
    with pytest.raises(TokenExists):
        backend.create_token(name="ops", role="editor", secret_hash="h2")
    assert backend.token_by_hash(secret_hash="h1").name == "ops"
    backend.revoke_token(name="ops")
    assert backend.token_by_hash(secret_hash="h1") is None
    assert backend.list_tokens()[0].revoked_at
    with pytest.raises(NotFound):
        backend.revoke_token(name="nobody")


def test_migrate_is_idempotent(backend):
    assert backend.migrate() == []
    backend.check_ready()
