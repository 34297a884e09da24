"""Properties of ``as_of``: asked as of now it is the plain answer; an answer as of K never
changes, whatever is written after K."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain import MODES
from service.example.timeline import Create, Loader, vilnius
from service.storage.times import now_stamp
from tests.conftest import CHECKPOINT
from tests.properties import examples

PROPERTY_SETTINGS = settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INSTANTS = [
    vilnius(local)
    for local in (
        "2024-01-01 12:00",
        "2024-06-01 12:00",
        "2025-01-01 00:00",
        "2025-06-01 12:00",
        "2026-01-01 12:00",
    )
]
FACTS = st.fixed_dictionaries(
    {},
    optional={
        "direction": st.sampled_from(["entry", "exit"]),
        "vehicle_registration": st.sampled_from(["LT", "BY"]),
        "vehicle_category": st.sampled_from(["car", "motorcycle"]),
    },
)


@pytest.fixture
def history(store):
    """A checkpoint whose every mode is allowed from 2024, written through the loader."""
    loader = Loader(store, "test")
    loader.apply(Create("checkpoint", "medininkai", CHECKPOINT))
    for mode in MODES:
        loader.apply(
            Create(
                "rule",
                f"rule-medininkai-{mode}-1",
                {"mode": mode, "access": "allowed", "valid_from": INSTANTS[0]},
                "medininkai",
            )
        )
    return loader


def _write(loader: Loader, store, operation: tuple) -> None:
    kind, *args = operation
    if kind == "close":
        starts, ends, modes = args
        loader.apply(
            Create(
                "closure",
                f"closure-{uuid.uuid4().hex[:12]}",
                {"starts_at": starts, "ends_at": ends, "reason": "security", "modes": modes},
                "medininkai",
            )
        )
    elif kind == "hours":
        (hours,) = args
        record = store.get(resource_type="checkpoint", resource_id="medininkai")
        store.update(
            resource_type="checkpoint",
            resource_id="medininkai",
            data={**CHECKPOINT, "opening_hours": hours},
            expected_revision=record.revision,
            actor="test",
        )
    else:
        mode, access = args
        resource_id = f"rule-medininkai-{mode}-1"
        record = store.get(resource_type="rule", resource_id=resource_id)
        store.update(
            resource_type="rule",
            resource_id=resource_id,
            data={**record.data, "access": access},
            expected_revision=record.revision,
            actor="test",
        )


OPERATIONS = st.one_of(
    st.tuples(
        st.just("close"),
        st.sampled_from(INSTANTS[:3]),
        st.sampled_from([None, INSTANTS[3]]),
        st.lists(st.sampled_from(MODES), min_size=1, max_size=4, unique=True),
    ),
    st.tuples(st.just("hours"), st.sampled_from(["24/7", "Mo-Fr 08:00-20:00"])),
    st.tuples(st.just("rule"), st.sampled_from(MODES), st.sampled_from(["allowed", "prohibited"])),
)


def _answers(client, as_of: str | None) -> list[tuple]:
    """Every mode's decision and the status, at each instant, as of ``as_of``."""
    extra = {} if as_of is None else {"as_of": as_of}
    answers = []
    for at in INSTANTS[1:]:
        status = client.get("/v1/checkpoints/medininkai/status", query_string={"at": at, **extra})
        assert status.status_code == 200, status.get_data(as_text=True)
        answers.append((status.get_json(), status.headers["ETag"]))
    return answers


def _without_as_of(body: dict) -> dict:
    return {name: value for name, value in body.items() if name != "as_of"}


def _next_microsecond(stamp: str) -> None:
    """Wait until the clock has passed ``stamp``, so that later writes are recorded after it."""
    while now_stamp() <= stamp:
        time.sleep(0.0001)


@PROPERTY_SETTINGS
@given(operations=st.lists(OPERATIONS, max_size=4), facts=FACTS, mode=st.sampled_from(MODES))
def test_as_of_now_is_the_plain_answer(history, store, client, operations, facts, mode):
    for operation in operations:
        _write(history, store, operation)
    for at in INSTANTS:
        query = {"checkpoint_id": "medininkai", "mode": mode, "at": at, **facts}
        plain = client.get("/v1/decisions", query_string=query)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        recorded = client.get("/v1/decisions", query_string={**query, "as_of": now})
        assert plain.status_code == recorded.status_code == 200, recorded.get_data(as_text=True)
        assert recorded.get_json()["as_of"] == now
        assert _without_as_of(recorded.get_json()) == plain.get_json()


@PROPERTY_SETTINGS
@given(
    before=st.lists(OPERATIONS, max_size=3),
    after=st.lists(OPERATIONS, min_size=1, max_size=4),
)
def test_an_answer_as_of_k_never_changes(history, store, client, before, after):
    for operation in before:
        _write(history, store, operation)
    k = now_stamp()
    _next_microsecond(k)
    first = _answers(client, k)
    for operation in after:
        _write(history, store, operation)
    assert _answers(client, k) == first
