"""The example recorded at its announcement times, through the storage protocol on each
backend; and recording times supplied by a loader: only in time order, never over HTTP."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from service import create_app
from service.cli import main
from service.config import Config
from service.example import TIMELINE, load
from service.example.timeline import Create, Loader
from service.storage import HistoryOrder
from service.storage.times import now_stamp
from tests.conftest import CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]


def test_each_write_is_recorded_at_its_announcement(backend):
    written = load(backend)
    events = backend.changes(after=0, limit=1000)
    assert len(events) == written
    expected = [step.recorded_at for step in TIMELINE for _ in step.writes]
    assert [event["recorded_at"] for event in events] == expected
    times = [event["recorded_at"] for event in events]
    assert all(before <= after for before, after in pairwise(times))
    assert times[0] == "2019-12-30T22:00:00.000000Z"  # 2019-12-31 00:00 Vilnius (illustrative)
    # The autumn closure: announced 2025-10-27, extended 2025-10-29, lifted (recorded
    # illustratively a day before 2025-11-20).
    autumn = [
        e["recorded_at"] for e in events if e["resource_id"] == "closure-salcininkai-2025-10-27"
    ]
    assert autumn == [
        "2025-10-26T22:00:00.000000Z",
        "2025-10-28T22:00:00.000000Z",
        "2025-11-18T22:00:00.000000Z",
    ]
    record = backend.get(resource_type="closure", resource_id="closure-salcininkai-2025-10-27")
    assert record.data["created_at"] == "2025-10-26T22:00:00.000000Z"
    assert record.data["updated_at"] == "2025-11-18T22:00:00.000000Z"


def test_the_steps_dated_by_guess_say_so():
    guessed = {step.announced.isoformat() for step in TIMELINE if step.illustrative}
    assert guessed == {"2019-12-31", "2024-08-15", "2025-04-16", "2025-11-19"}
    for step in TIMELINE:
        if step.illustrative:
            assert "illustrative" in step.title, step.title


def test_decision_inputs_as_of_on_each_backend(backend):
    load(backend)
    (first,) = backend.decision_inputs(checkpoint_id="salcininkai", as_of="2025-10-28T00:00:00Z")
    (extended,) = backend.decision_inputs(checkpoint_id="salcininkai", as_of="2025-11-01T00:00:00Z")
    (now,) = backend.decision_inputs(checkpoint_id="salcininkai")
    autumn = [
        (c.revision, c.ends_at and c.ends_at.isoformat())
        for item in (first, extended, now)
        for c in item.closures
        if c.id == "closure-salcininkai-2025-10-27"
    ]
    assert autumn == [(1, None), (2, "2025-11-30T22:00:00+00:00"), (3, "2025-11-19T22:00:00+00:00")]
    assert backend.decision_inputs(as_of="2019-01-01T00:00:00Z") == []
    assert len(backend.decision_inputs(as_of=now_stamp(), country="LT")) == 6
    assert backend.decision_inputs(as_of=now_stamp(), country="PL") == []


def test_a_deleted_resource_is_gone_as_of_after_its_deletion(backend):
    load(backend)
    before = now_stamp()
    backend.delete(
        resource_type="closure",
        resource_id="closure-salcininkai-2025-10-27",
        expected_revision=None,
        actor="test",
    )
    after = now_stamp()
    (then,) = backend.decision_inputs(checkpoint_id="salcininkai", as_of=before)
    (later,) = backend.decision_inputs(checkpoint_id="salcininkai", as_of=after)
    assert "closure-salcininkai-2025-10-27" in {c.id for c in then.closures}
    assert "closure-salcininkai-2025-10-27" not in {c.id for c in later.closures}


def _rename(backend, name: str, revision: int, recorded_at: str | None = None):
    return backend.update(
        resource_type="checkpoint",
        resource_id="medininkai",
        data={**CHECKPOINT, "name": name},
        expected_revision=revision,
        actor="a",
        recorded_at=recorded_at,
    )


def test_a_supplied_recording_time_may_not_go_back_nor_ahead(backend):
    backend.create(
        resource_type="checkpoint",
        resource_id="medininkai",
        data=CHECKPOINT,
        actor="a",
        recorded_at="2024-01-01T00:00:00.000000Z",
    )
    # Equal to the last one is in order; earlier is not, nor is the future; nothing is
    # written then.
    _rename(backend, "Same time", 1, "2024-01-01T00:00:00.000000Z")
    with pytest.raises(HistoryOrder, match="earlier than the last write"):
        _rename(backend, "Earlier", 2, "2023-12-31T23:59:59.000000Z")
    with pytest.raises(HistoryOrder, match="in the future"):
        _rename(backend, "Future", 2, "2999-01-01T00:00:00.000000Z")
    assert backend.feed_position() == 2
    record = backend.get(resource_type="checkpoint", resource_id="medininkai")
    assert record.data["name"] == "Same time"
    assert record.data["updated_at"] == "2024-01-01T00:00:00.000000Z"
    # A write recorded now comes after; then the past is closed to loaders.
    _rename(backend, "Now", 2)
    with pytest.raises(HistoryOrder):
        Loader(backend).apply(
            Create("checkpoint", "sumskas", {**CHECKPOINT, "id": "sumskas"}),
            "2025-01-01T00:00:00.000000Z",
        )
    assert backend.feed_position() == 3


def test_load_example_into_a_database_with_later_writes_refuses(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'later.db'}"
    monkeypatch.setenv("CHECKPOINTS_DATABASE_URL", url)
    store = create_app(Config(database_url=url)).extensions["checkpoints.store"]
    store.migrate()
    store.create(
        resource_type="checkpoint", resource_id="kena", data={**CHECKPOINT, "id": "kena"}, actor="a"
    )
    result = CliRunner().invoke(main, ["load-example"])
    assert result.exit_code != 0
    assert "earlier than the last write" in result.output
    assert store.feed_position() == 1
    store.close()


def test_no_recording_time_reaches_the_store_from_http():
    # Only operator code (the example's loader) passes recording times to the store.
    api = ROOT / "service" / "api"
    offenders = [
        path.name
        for path in api.rglob("*.py")
        if "recorded_at=" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_a_recording_time_in_a_body_is_refused(client, editor):
    response = client.post(
        "/v1/checkpoints",
        json={**CHECKPOINT, "recorded_at": "2020-01-01T00:00:00Z"},
        headers=editor,
    )
    assert response.status_code == 422
    assert client.application.extensions["checkpoints.store"].feed_position() == 0


def test_the_example_as_recorded_over_http_on_each_backend(any_database_url):
    app = create_app(Config(database_url=any_database_url))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    load(store)
    client = app.test_client()
    query = {"checkpoint_id": "salcininkai", "mode": "goods", "at": "2025-11-25T12:00:00Z"}
    revisions = []
    for as_of in ("2025-10-28T12:00:00Z", "2025-11-01T12:00:00Z", "2025-11-21T12:00:00Z"):
        body = client.get("/v1/decisions", query_string={**query, "as_of": as_of}).get_json()
        revisions.append((body["allowed"], body["reasons"][0]["resource"]["revision"]))
    # As first announced (closure revision 1), as extended (2), as lifted (the rule allows).
    assert revisions == [(False, 1), (False, 2), (True, 1)]
    store.close()
