"""Decision inputs held per process, keyed by the feed position, on every backend."""

from __future__ import annotations

import pytest

from service.storage import NotFound, open_store
from service.storage.held import HeldInputs, Holder
from service.storage.records import decision_input
from service.storage.times import now_stamp
from tests.conftest import CHECKPOINT

CLOSURE = {
    "checkpoint_id": "medininkai",
    "starts_at": "2020-01-01T00:00:00Z",
    "ends_at": None,
    "modes": ["pedestrian", "cyclist", "vehicle", "goods"],
    "reason": "security",
}


def point(id_: str, *countries: str) -> dict:
    return {**CHECKPOINT, "id": id_, "countries": list(countries or ("LT", "BY")), "revision": 1}


def test_inputs_are_read_once_while_the_feed_position_is_unchanged(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=CHECKPOINT, actor="a")
    first = backend.held_inputs()
    for _ in range(5):
        assert backend.held_inputs() is first
        (item,) = backend.decision_inputs(checkpoint_id="medininkai")
        assert item is first.by_id["medininkai"]
    assert backend._holder.loads == 1


def test_a_write_through_another_connection_is_seen_by_the_next_read(backend, any_database_url):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=CHECKPOINT, actor="a")
    (before,) = backend.decision_inputs(checkpoint_id="medininkai")
    assert before.closures == []
    other = open_store(any_database_url)  # as another worker or host would
    try:
        other.create(
            resource_type="closure", resource_id="c1", data={**CLOSURE, "id": "c1"}, actor="b"
        )
        (after,) = backend.decision_inputs(checkpoint_id="medininkai")
        assert [c.id for c in after.closures] == ["c1"]
        other.delete(
            resource_type="checkpoint", resource_id="medininkai", expected_revision=1, actor="b"
        )
        with pytest.raises(NotFound):
            backend.decision_inputs(checkpoint_id="medininkai")
        assert backend.decision_inputs() == []
    finally:
        other.close()
    assert backend._holder.loads == 3


def test_as_of_reads_the_history_and_leaves_the_held_inputs_alone(backend):
    backend.create(resource_type="checkpoint", resource_id="medininkai", data=CHECKPOINT, actor="a")
    before = now_stamp()
    backend.create(
        resource_type="closure", resource_id="c1", data={**CLOSURE, "id": "c1"}, actor="a"
    )
    held = backend.held_inputs()
    loads = backend._holder.loads
    (then,) = backend.decision_inputs(checkpoint_id="medininkai", as_of=before)
    assert then.closures == []
    (now,) = backend.decision_inputs(checkpoint_id="medininkai")
    assert [c.id for c in now.closures] == ["c1"]
    assert backend.held_inputs() is held and backend._holder.loads == loads


def test_pages_of_held_inputs_are_bounded_by_the_page(backend):
    for id_, countries in [
        ("a", ("LT", "BY")),
        ("b", ("LV", "BY")),
        ("c", ("LT", "PL")),
        ("d", ()),
    ]:
        backend.create(
            resource_type="checkpoint", resource_id=id_, data=point(id_, *countries), actor="x"
        )

    def ids(**kwargs):
        return [item.checkpoint.id for item in backend.decision_inputs(**kwargs)]

    assert ids() == ["a", "b", "c", "d"]
    assert ids(after="a", limit=2) == ["b", "c"]
    assert ids(after="b") == ["c", "d"]
    assert ids(after="bb", limit=1) == ["c"]
    assert ids(country="LT") == ["a", "c", "d"]
    assert ids(country="LT", after="a", limit=1) == ["c"]
    assert ids(country="BY", after="d") == []
    assert ids(country="PL") == ["c"]
    assert ids(country="EE") == []
    with pytest.raises(NotFound):
        backend.decision_inputs(checkpoint_id="b", country="LT")


@pytest.mark.parametrize(
    ("after", "limit", "expected"),
    [
        pytest.param(None, None, ["a", "b", "c"], id="all"),
        pytest.param(None, 0, [], id="empty-page"),
        pytest.param("b", None, ["c"], id="after-an-id"),
        pytest.param("0", 2, ["a", "b"], id="after-before-the-first"),
        pytest.param("c", 5, [], id="after-the-last"),
    ],
)
def test_select(after, limit, expected):
    held = HeldInputs(7, tuple(decision_input(point(i), [], []) for i in ("c", "a", "b")))
    assert [item.checkpoint.id for item in held.select(after=after, limit=limit)] == expected


def test_the_holder_loads_again_only_for_another_position():
    holder = Holder()
    loaded = []

    def load(position):
        def read(held):
            loaded.append((held and held.position, position))
            return HeldInputs(position, ())

        return read

    assert holder.current(1, load(1)).position == 1
    assert holder.current(1, load(1)).position == 1
    assert holder.current(2, load(2)).position == 2
    # A position older than the held one (another greenlet loaded newer) loads too: the
    # snapshot read is at least as new as the position asked for.
    assert holder.current(1, load(3)).position == 3
    assert loaded == [(None, 1), (1, 2), (2, 3)]


def test_a_catch_up_reads_only_the_checkpoints_the_feed_names(backend, any_database_url):
    for id_ in ("a", "b", "c"):
        backend.create(resource_type="checkpoint", resource_id=id_, data=point(id_), actor="x")
    before = backend.held_inputs()
    other = open_store(any_database_url)
    try:
        closure = {**CLOSURE, "id": "c1", "checkpoint_id": "b"}
        other.create(resource_type="closure", resource_id="c1", data=closure, actor="y")
        other.create(resource_type="checkpoint", resource_id="d", data=point("d"), actor="y")
        other.delete(resource_type="checkpoint", resource_id="c", expected_revision=1, actor="y")
    finally:
        other.close()
    after = backend.held_inputs()
    assert after.position == before.position + 3  # the closure, d, and c deleted
    assert after.ids == ("a", "b", "d")
    assert after.by_id["a"] is before.by_id["a"]  # not read again
    assert [c.id for c in after.by_id["b"].closures] == ["c1"]
    # The same as reading everything afresh.
    fresh = backend._read_inputs()
    assert fresh.position == after.position and fresh.items == after.items


def test_after_the_feed_is_compacted_past_the_held_position_everything_is_read(backend):
    backend.create(resource_type="checkpoint", resource_id="a", data=point("a"), actor="x")
    before = backend.held_inputs()
    backend.create(resource_type="checkpoint", resource_id="b", data=point("b"), actor="x")
    backend.create(resource_type="checkpoint", resource_id="c", data=point("c"), actor="x")
    assert backend.compact_feed(before_seq=before.position + 2) > 0
    after = backend.held_inputs()
    assert after.ids == ("a", "b", "c")
    assert after.by_id["a"] is not before.by_id["a"]  # read again: the feed lost events
