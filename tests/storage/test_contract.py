"""The Store contract: every backend passes this same suite."""

from __future__ import annotations

import threading
import time

import pytest

from service.domain.model import Checkpoint, Rule
from service.storage import (
    AlreadyExists,
    CheckpointFilter,
    Conflict,
    FeedAhead,
    FeedGone,
    IdempotencyKey,
    IdempotencyMismatch,
    NotFound,
    RevisionMismatch,
    RuleFilter,
    TokenExists,
    open_store,
)
from service.storage.times import now_stamp
from tests.conftest import CHECKPOINT


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


def test_a_delete_at_a_stale_revision_raises_and_deletes_nothing(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    backend.update(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(name="B"),
        expected_revision=1,
        actor="b",
    )
    with pytest.raises(RevisionMismatch) as info:
        backend.delete(
            resource_type="checkpoint", resource_id="medininkai", expected_revision=1, actor="c"
        )
    assert info.value.current_revision == 2
    assert backend.get(resource_type="checkpoint", resource_id="medininkai").revision == 2
    assert backend.feed_position() == 2


def test_a_write_to_a_deleted_resource_raises_not_found_naming_it(point):
    point.create(resource_type="rule", resource_id="r1", data=rule("r1"), actor="a")
    point.delete(resource_type="rule", resource_id="r1", expected_revision=1, actor="b")
    with pytest.raises(NotFound) as updating:
        point.update(
            resource_type="rule",
            resource_id="r1",
            data=rule("r1"),
            expected_revision=None,
            actor="c",
        )
    with pytest.raises(NotFound) as deleting:
        point.delete(resource_type="rule", resource_id="r1", expected_revision=None, actor="c")
    for info in (updating, deleting):
        assert (info.value.resource_type, info.value.resource_id) == ("rule", "r1")
        assert str(info.value) == "rule 'r1' does not exist"
    assert point.feed_position() == 3


def test_create_of_a_live_id_raises_and_writes_nothing(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    with pytest.raises(AlreadyExists) as info:
        backend.create(
            resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a"
        )
    assert (info.value.resource_type, info.value.resource_id) == ("checkpoint", "medininkai")
    assert str(info.value) == "checkpoint 'medininkai' exists already"
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
    replaced = backend.create_token(name="ops", role="editor", secret_hash="h3", replace=True)
    assert replaced.role == "editor" and replaced.revoked_at is None
    assert backend.token_by_hash(secret_hash="h3").name == "ops"
    assert [t.name for t in backend.list_tokens()] == ["ops"]


def test_a_sound_database_is_ready_and_passes_its_integrity_check(backend):
    backend.check_ready()
    backend.check_integrity()


def test_migrate_is_idempotent(backend):
    assert backend.migrate() == []
    backend.check_ready()


def rule(rule_id, **changes):
    return {
        "id": rule_id,
        "checkpoint_id": "medininkai",
        "mode": "vehicle",
        "access": "allowed",
        "valid_from": "2024-01-01T00:00:00Z",
        "valid_until": None,
        "condition": None,
        "conditions_text": [],
        "opening_hours": None,
        **changes,
    }


def closure(closure_id, **changes):
    return {
        "id": closure_id,
        "checkpoint_id": "medininkai",
        "starts_at": "2025-01-01T00:00:00Z",
        "ends_at": None,
        "modes": ["vehicle"],
        "reason": "other",
        **changes,
    }


@pytest.fixture
def point(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    return backend


def test_overlapping_rules_of_one_mode_are_refused_and_nothing_is_written(point):
    point.create(
        resource_type="rule",
        resource_id="r1",
        data=rule("r1", valid_until="2025-01-01T00:00:00Z"),
        actor="a",
    )
    with pytest.raises(Conflict) as info:
        point.create(resource_type="rule", resource_id="r2", data=rule("r2"), actor="a")
    assert info.value.other == {"type": "rule", "id": "r1", "revision": 1}
    # Back to back is no overlap; another mode never is.
    point.create(
        resource_type="rule",
        resource_id="r3",
        data=rule("r3", valid_from="2025-01-01T00:00:00Z"),
        actor="a",
    )
    point.create(resource_type="rule", resource_id="r4", data=rule("r4", mode="goods"), actor="a")
    assert point.feed_position() == 4
    with pytest.raises(NotFound):
        point.create(
            resource_type="rule",
            resource_id="r5",
            data=rule("r5", checkpoint_id="nowhere", mode="cyclist"),
            actor="a",
        )


def test_rules_page_by_valid_from_then_id(point):
    for rule_id, start in [("b", "2020"), ("a", "2021"), ("c", "2020")]:
        point.create(
            resource_type="rule",
            resource_id=rule_id,
            data=rule(rule_id, valid_from=f"{start}-01-01T00:00:00Z", mode=f"m{rule_id}"),
            actor="a",
        )
    filters = RuleFilter(checkpoint_id="medininkai")
    first = point.list_rules(filters=filters, after=None, limit=2)
    assert [r["id"] for r in first.items] == ["b", "c"]
    second = point.list_rules(filters=filters, after=first.next_after, limit=2)
    assert [r["id"] for r in second.items] == ["a"] and second.next_after is None


def test_deleting_a_checkpoint_tombstones_its_rules_and_closures(point):
    point.create(resource_type="rule", resource_id="r1", data=rule("r1"), actor="a")
    point.create(resource_type="closure", resource_id="c1", data=closure("c1"), actor="a")
    point.delete(
        resource_type="checkpoint", resource_id="medininkai", expected_revision=1, actor="d"
    )
    events = point.changes(after=3, limit=10)
    assert [(e["resource_id"], e["action"], e["seq"]) for e in events] == [
        ("r1", "deleted", 4),
        ("c1", "deleted", 5),
        ("medininkai", "deleted", 6),
    ]
    assert len({e["recorded_at"] for e in events}) == 1
    with pytest.raises(NotFound):
        point.get(resource_type="rule", resource_id="r1")


def test_every_event_of_a_rule_or_closure_names_its_checkpoint(point):
    """What a feed filtered by checkpoint relies on: the create, update and delete of a rule
    and of a closure each carry the checkpoint they belong to."""
    for kind, data in [("rule", rule("r1")), ("closure", closure("c1"))]:
        point.create(resource_type=kind, resource_id=data["id"], data=data, actor="a")
        point.update(
            resource_type=kind,
            resource_id=data["id"],
            data={**data, "modes": ["goods"]} if kind == "closure" else {**data, "mode": "goods"},
            expected_revision=1,
            actor="b",
        )
        point.delete(resource_type=kind, resource_id=data["id"], expected_revision=2, actor="c")
    events = point.changes(after=1, limit=10)
    assert [(e["resource_id"], e["action"], e["checkpoint_id"]) for e in events] == [
        (resource_id, action, "medininkai")
        for resource_id in ("r1", "c1")
        for action in ("created", "updated", "deleted")
    ]


def test_decision_inputs_are_domain_values(point):
    point.create(resource_type="rule", resource_id="r1", data=rule("r1"), actor="a")
    (item,) = point.decision_inputs(checkpoint_id="medininkai")
    assert isinstance(item.checkpoint, Checkpoint) and item.checkpoint.id == "medininkai"
    assert isinstance(item.rules[0], Rule) and item.rules[0].valid_from.year == 2024
    assert item.stored_checkpoint["name"] == CHECKPOINT["name"]
    with pytest.raises(NotFound):
        point.decision_inputs(checkpoint_id="nowhere")


def _key(fingerprint="f1", ttl=3600):
    return IdempotencyKey("alice", "k1", fingerprint, ttl)


def test_an_idempotency_key_replays_its_first_outcome_and_writes_once(backend):
    first = backend.create(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(),
        actor="alice",
        idempotency=_key(),
    )
    again = backend.create(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(),
        actor="alice",
        idempotency=_key(),
    )
    assert again.replayed and not first.replayed
    assert (again.id, again.revision, again.data) == (first.id, 1, first.data)
    assert backend.feed_position() == 1
    with pytest.raises(IdempotencyMismatch):
        backend.create(
            resource_type="checkpoint",
            resource_id="other",
            data=fields(id="other"),
            actor="alice",
            idempotency=_key("f2"),
        )
    # Another actor's key of the same name is another key.
    other = backend.create(
        resource_type="checkpoint",
        resource_id="other",
        data=fields(id="other"),
        actor="bob",
        idempotency=IdempotencyKey("bob", "k1", "f2", 3600),
    )
    assert not other.replayed and backend.feed_position() == 2


def test_a_failed_create_leaves_no_key_and_an_expired_key_is_forgotten(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    with pytest.raises(AlreadyExists):
        backend.create(
            resource_type="checkpoint",
            resource_id="medininkai",
            data=fields(),
            actor="alice",
            idempotency=_key(),
        )
    # The key was not kept by the failure: used with another request, it simply works.
    created = backend.create(
        resource_type="checkpoint",
        resource_id="other",
        data=fields(id="other"),
        actor="alice",
        idempotency=_key("f2", ttl=0),
    )
    assert not created.replayed
    time.sleep(0.01)
    # Its time to live was 0: it has expired, so the same key starts afresh.
    again = backend.create(
        resource_type="checkpoint",
        resource_id="third",
        data=fields(id="third"),
        actor="alice",
        idempotency=_key("f3", ttl=0),
    )
    assert not again.replayed and backend.feed_position() == 3


def test_feed_pages_refuse_positions_outside_the_retained_feed(backend):
    for name in ("a1", "b2", "c3"):
        backend.create(
            resource_type="checkpoint", resource_id=name, data=fields(id=name), actor="x"
        )
    page = backend.feed_page(after=1, limit=1)
    assert [c["seq"] for c in page.changes] == [2] and page.has_more and page.last_seq == 2
    assert backend.compact_feed(before_seq=3) == 2
    with pytest.raises(FeedGone):
        backend.feed_page(after=0, limit=10)
    with pytest.raises(FeedAhead):
        backend.feed_page(after=4, limit=10)
    assert [c["seq"] for c in backend.feed_page(after=2, limit=10).changes] == [3]


def test_a_snapshot_and_the_events_after_it_rebuild_the_source(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    backend.create(resource_type="rule", resource_id="r1", data=rule("r1"), actor="a")
    snapshot = backend.snapshot()
    assert snapshot["seq"] == 2 and [r["id"] for r in snapshot["rules"]] == ["r1"]
    backend.update(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(name="B"),
        expected_revision=1,
        actor="b",
    )
    backend.delete(resource_type="rule", resource_id="r1", expected_revision=1, actor="b")
    final, events = backend.snapshot(), backend.changes(after=2, limit=10)
    # The store becomes a mirror of its own past: the snapshot, then the events after it.
    backend.load_snapshot(source="src", snapshot=snapshot, replace_history=True)
    assert backend.snapshot() == snapshot and backend.sync_position(source="src") == 2
    assert backend.apply_changes(source="src", changes=events) == 4
    assert backend.apply_changes(source="src", changes=events) == 4  # applied once
    assert backend.snapshot() == final
    assert [e["seq"] for e in backend.changes(after=0, limit=10)] == [3, 4]
    history = backend.revisions(resource_type="rule", resource_id="r1", after=0, limit=10)
    assert [r.action for r in history.items] == ["deleted"]


def test_a_waiter_wakes_when_another_store_on_the_database_commits(backend, any_database_url):
    other = open_store(any_database_url)  # another process or host, as far as waits go
    # SQLite's waiters poll; PostgreSQL's are woken by the commit's notification, so a
    # long poll interval there shows that the wake-up does not come from polling.
    backend.poll_interval = 0.05 if any_database_url.startswith("sqlite") else 5.0
    woke: list[float] = []

    def wait():
        started = time.monotonic()
        if backend.wait_for_change(0, 10.0):
            woke.append(time.monotonic() - started)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    other.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    waiter.join(timeout=15)
    other.close()
    assert woke and 0.25 < woke[0] < 1.3, woke
    stop = threading.Event()
    stop.set()
    assert backend.wait_for_change(1, 10.0, stop) is False


def test_a_read_transaction_sees_one_snapshot_while_others_commit(backend, any_database_url):
    other = open_store(any_database_url)
    try:
        with backend.transaction("read") as tx:
            before = tx.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()[0]
            other.create(
                resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a"
            )
            during = tx.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()[0]
            rows = tx.execute("SELECT id FROM checkpoints").fetchall()
        assert before == during == 0 and rows == []
        assert backend.feed_position() == 1
    finally:
        other.close()


def test_a_key_whose_outcome_left_the_history_starts_afresh(backend):
    backend.create(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(),
        actor="alice",
        idempotency=_key(),
    )
    empty = {"seq": 0, "checkpoints": [], "rules": [], "closures": []}
    backend.load_snapshot(source="src", snapshot=empty, replace_history=True)
    again = backend.create(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(),
        actor="alice",
        idempotency=_key(),
    )
    assert not again.replayed and again.data["name"] == "Medininkai"


def test_a_pending_key_left_by_an_older_version_never_blocks_a_create(backend):
    # Older versions claimed a key in a transaction of its own ('pending') before the create.
    with backend.transaction("write") as tx:
        tx.execute(
            "INSERT INTO idempotency_keys (actor, key, fingerprint, state, created_at) "
            "VALUES ('alice', 'k1', 'another request', 'pending', ?)",
            [now_stamp()],
        )
    created = backend.create(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(),
        actor="alice",
        idempotency=_key(),
    )
    assert not created.replayed
    replay = backend.create(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(),
        actor="alice",
        idempotency=_key(),
    )
    assert replay.replayed and replay.revision == 1


def test_a_write_after_a_later_clock_takes_the_feeds_time_not_its_own(backend):
    """Times never go backwards along the feed: a writer whose clock is behind the last
    write's (another host's) records at that last time, and so do the writes after it."""
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
    ahead = "2999-01-01T00:00:00.000000Z"
    with backend.transaction("write") as tx:
        tx.execute("UPDATE feed_state SET last_recorded_at = ? WHERE id = 1", [ahead])
    updated = backend.update(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=fields(name="B"),
        expected_revision=1,
        actor="b",
    )
    backend.delete(
        resource_type="checkpoint", resource_id="medininkai", expected_revision=2, actor="c"
    )
    assert updated.data["updated_at"] == ahead
    events = backend.changes(after=0, limit=10)
    assert [(e["seq"], e["recorded_at"] == ahead) for e in events] == [
        (1, False),
        (2, True),
        (3, True),
    ]
    assert backend.feed_position() == 3


def test_stored_json_beyond_what_orjson_reads_is_read_as_written(backend):
    """Stored data is read by orjson, and by the standard library where orjson would not
    give the same values (integers beyond 64 bits, which orjson reads as floats)."""
    extra = {"big": 2**70 + 1, "low": -(2**63) - 1, "edge": 2**63 - 1, "text": "Каменны Лог"}
    backend.create(
        resource_type="checkpoint", resource_id="medininkai", data=fields(extra=extra), actor="a"
    )
    got = backend.get(resource_type="checkpoint", resource_id="medininkai").data["extra"]
    assert got == extra and all(type(got[k]) is int for k in ("big", "low", "edge"))


def test_an_update_on_sqlite_is_one_transaction_of_five_statements(tmp_path):
    """The write path's cost: an update reads the head, takes the feed's next seq and time,
    and writes the state, history and feed rows; nothing else runs in (or around) it."""
    store = open_store(f"sqlite:///{tmp_path / 'checkpoints.db'}")
    store.migrate()
    try:
        store.create(resource_type="checkpoint", resource_id="medininkai", data=fields(), actor="a")
        statements = []
        store._conn().set_trace_callback(statements.append)
        store.update(
            resource_type="checkpoint",
            resource_id="medininkai",
            data=fields(name="B"),
            expected_revision=1,
            actor="b",
        )
        store._conn().set_trace_callback(None)
        assert [" ".join(s.split()[:3]) for s in statements] == [
            "BEGIN IMMEDIATE",
            "SELECT revision, live,",
            "UPDATE feed_state SET",
            "UPDATE checkpoints SET",
            "INSERT INTO revisions",
            "INSERT INTO changes",
            "COMMIT",
        ]
        assert "live" not in statements[3].split("WHERE")[0]  # the live index is not touched
        assert store.get(resource_type="checkpoint", resource_id="medininkai").data["name"] == "B"
    finally:
        store.close()
