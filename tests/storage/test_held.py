"""Decision inputs held per process, keyed by the feed position, on every backend."""

from __future__ import annotations

import pytest

from service.storage import NotFound, open_store
from service.storage import held as held_module
from service.storage.held import HELD_CHECKPOINTS, HeldInputs, Holder
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
        assert item is first.one("medininkai")
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
    held = HeldInputs.of(7, [decision_input(point(i), [], []) for i in ("c", "a", "b")])
    assert [item.checkpoint.id for item in held.select(after=after, limit=limit)] == expected


def test_the_holder_loads_again_only_for_another_position():
    holder = Holder()
    loaded = []

    def load(position):
        def read(held):
            loaded.append((held and held.position, position))
            return HeldInputs.of(position, ())

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
    before.select()  # every checkpoint's inputs held
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
    assert after.one("a") is before.one("a")  # not read again
    assert [c.id for c in after.one("b").closures] == ["c1"]
    # The same as reading everything afresh.
    fresh = backend._read_inputs()
    assert fresh.position == after.position and fresh.ids == after.ids
    assert fresh.select() == after.select()


def test_after_the_feed_is_compacted_past_the_held_position_everything_is_read(backend):
    backend.create(resource_type="checkpoint", resource_id="a", data=point("a"), actor="x")
    before = backend.held_inputs()
    before.select()
    backend.create(resource_type="checkpoint", resource_id="b", data=point("b"), actor="x")
    backend.create(resource_type="checkpoint", resource_id="c", data=point("c"), actor="x")
    assert backend.compact_feed(before_seq=before.position + 2) > 0
    after = backend.held_inputs()
    assert after.ids == ("a", "b", "c")
    assert after.one("a") is not before.one("a")  # read again: the feed lost events


# --- at most ``held_checkpoints`` checkpoints' inputs held ----------------------------------------
def fresh_inputs(url: str, checkpoint_id: str):
    other = open_store(url)
    try:
        return other._inputs_of([checkpoint_id])[0]
    finally:
        other.close()


def test_at_most_the_setting_s_checkpoints_are_held_the_rest_read_when_asked(
    backend, any_database_url
):
    backend.held_checkpoints = 3
    ids = [f"p{n}" for n in range(7)]
    for id_ in ids:
        backend.create(resource_type="checkpoint", resource_id=id_, data=point(id_), actor="x")
    closure = {**CLOSURE, "id": "c1", "checkpoint_id": "p1"}
    backend.create(resource_type="closure", resource_id="c1", data=closure, actor="x")
    held = backend.held_inputs()
    assert held.ids == tuple(ids) and held.held_ids == []  # ids only, until asked
    assert [i.checkpoint.id for i in backend.decision_inputs(limit=2)] == ["p0", "p1"]
    assert held.held_ids == ["p0", "p1"]
    assert [c.id for c in backend.decision_inputs(checkpoint_id="p1")[0].closures] == ["c1"]
    assert held.held_ids == ["p0", "p1"]
    assert [i.checkpoint.id for i in backend.decision_inputs(after="p1", limit=3)] == [
        "p2",
        "p3",
        "p4",
    ]
    assert held.held_ids == ["p2", "p3", "p4"]  # the least recently used went first
    backend.decision_inputs(checkpoint_id="p2")
    assert held.held_ids == ["p3", "p4", "p2"]
    every = backend.decision_inputs()  # a list longer than the bound: still at most 3 held
    assert [i.checkpoint.id for i in every] == ids and len(held.held_ids) == 3
    for id_ in ids:  # evicted, read again: as stored
        (item,) = backend.decision_inputs(checkpoint_id=id_)
        assert item == fresh_inputs(any_database_url, id_)
        assert len(held.held_ids) <= 3
    assert backend.held_inputs() is held and backend._holder.loads == 1


@pytest.mark.parametrize("target", ["held", "evicted"])
def test_a_write_to_a_held_or_evicted_checkpoint_is_in_the_next_answer(
    backend, any_database_url, target
):
    backend.held_checkpoints = 2
    for id_ in ("a", "b", "c"):
        backend.create(resource_type="checkpoint", resource_id=id_, data=point(id_), actor="x")
    backend.decision_inputs()  # "b" and "c" held, "a" not
    assert backend.held_inputs().held_ids == ["b", "c"]
    checkpoint_id = "c" if target == "held" else "a"
    other = open_store(any_database_url)
    try:
        closure = {**CLOSURE, "id": "c1", "checkpoint_id": checkpoint_id}
        other.create(resource_type="closure", resource_id="c1", data=closure, actor="y")
    finally:
        other.close()
    (item,) = backend.decision_inputs(checkpoint_id=checkpoint_id)
    assert [c.id for c in item.closures] == ["c1"]
    assert [len(i.closures) for i in backend.decision_inputs()] == [
        int(i == checkpoint_id) for i in ("a", "b", "c")
    ]
    assert len(backend.held_inputs().held_ids) <= 2


def test_a_checkpoint_deleted_after_the_position_was_read_is_not_answered(
    backend, any_database_url
):
    backend.held_checkpoints = 2
    for id_ in ("a", "b", "c"):
        backend.create(resource_type="checkpoint", resource_id=id_, data=point(id_), actor="x")
    held = backend.held_inputs()
    other = open_store(any_database_url)
    try:  # between this position's query and the reading of the inputs
        other.delete(resource_type="checkpoint", resource_id="b", expected_revision=1, actor="y")
    finally:
        other.close()
    assert [i.checkpoint.id for i in held.select()] == ["a", "c"]
    with pytest.raises(NotFound):
        held.one("b")


def test_the_setting_reaches_the_store(any_database_url):
    from service import create_app
    from service.config import Config

    config = Config.from_env(
        {"CHECKPOINTS_DATABASE_URL": any_database_url, "CHECKPOINTS_HELD_CHECKPOINTS": "7"}
    )
    assert config.held_checkpoints == 7
    assert Config.from_env({}).held_checkpoints == HELD_CHECKPOINTS
    app = create_app(config)
    try:
        assert app.extensions["checkpoints.store"].held_checkpoints == 7
    finally:
        app.extensions["checkpoints.store"].close()


def test_the_memo_of_derived_values_is_bounded_by_bytes_oldest_first(monkeypatch):
    entry = held_module.weight(0) + held_module.weight("x" * 100)
    monkeypatch.setattr(held_module, "MEMO_BYTES", 3 * entry)
    held = HeldInputs.of(1, ())
    for n in range(5):
        assert held.remember(n, str(n) * 100) == str(n) * 100
    assert list(held.derived) == [2, 3, 4]
    held.remember(3, "y" * 100)  # a key held already takes no more room
    assert held.derived == {2: "2" * 100, 4: "4" * 100, 3: "y" * 100}
    held.remember(5, "z" * (2 * entry))  # a big one makes room for itself
    assert list(held.derived) == [5]
    held.remember(6, "w" * (5 * entry))  # a bigger one than the bound is held alone
    assert list(held.derived) == [6]


def test_the_weight_of_an_answer_grows_with_its_content():
    small = {"allowed": True, "reasons": ["a"]}
    big = {"allowed": True, "reasons": ["a" * 1000, "b" * 1000]}
    assert held_module.weight((b"x" * 5000, [("ETag", "1")])) > 5000
    assert held_module.weight(big) - held_module.weight(small) >= 2000
    item = decision_input(point("a"), [], [])
    assert held_module.weight(item) > held_module.weight(item.stored_checkpoint)


def test_inputs_read_by_name_in_statements_of_a_bounded_size(backend):
    for id_ in ("a", "zz"):
        backend.create(resource_type="checkpoint", resource_id=id_, data=point(id_), actor="x")
        closure = {**CLOSURE, "id": f"c-{id_}", "checkpoint_id": id_}
        backend.create(resource_type="closure", resource_id=f"c-{id_}", data=closure, actor="x")
    names = ["a", *(f"m{n:04d}" for n in range(1_000)), "zz"]  # over several statements
    found = {item.checkpoint.id: item for item in backend._inputs_of(names)}
    assert sorted(found) == ["a", "zz"]
    assert [c.id for c in found["zz"].closures] == ["c-zz"]
    assert found["a"] == backend._inputs_of(None)[0]


def test_every_checkpoint_is_read_a_bounded_number_at_a_time_and_not_held(
    backend, any_database_url, monkeypatch
):
    monkeypatch.setattr(held_module, "LOAD_BY_NAME_MAX", 2)
    backend.held_checkpoints = 2
    for id_, countries in [("a", ()), ("b", ()), ("c", ("LV", "BY")), ("d", ()), ("e", ())]:
        backend.create(
            resource_type="checkpoint", resource_id=id_, data=point(id_, *countries), actor="x"
        )
    backend.decision_inputs(checkpoint_id="d")
    held = backend.held_inputs()
    assert held.held_ids == ["d"]
    every = backend.each_decision_input()
    assert next(every).checkpoint.id == "a"  # "a" and "b" read
    other = open_store(any_database_url)
    try:  # "e" is not read yet: its deletion is seen
        other.delete(resource_type="checkpoint", resource_id="e", expected_revision=1, actor="y")
    finally:
        other.close()
    rest = list(every)
    assert [item.checkpoint.id for item in rest] == ["b", "c", "d"]
    assert rest[1] == fresh_inputs(any_database_url, "c")
    assert held.held_ids == ["d"]  # the walk held none of those it read
    assert [i.checkpoint.id for i in backend.each_decision_input(country="LV")] == ["c"]
    assert [i.checkpoint.id for i in backend.each_decision_input()] == ["a", "b", "c", "d"]
