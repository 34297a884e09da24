"""``GET /v1/checkpoints/{id}/timeline``: a checkpoint's answers over a range, as intervals,
as recorded now or at ``as_of``; checked against the example and against single decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.timeline import MAX_TIMELINE_DAYS, MAX_TIMELINE_STEPS, TIMELINE_EXAMPLE
from service import create_app
from service.config import Config
from service.domain import MODES
from tests.conftest import assert_problem, make_token
from tests.properties import examples

AUTUMN_CLOSURE = "closure-salcininkai-2025-10-27"
EXAMPLE_QUERY = {
    "mode": "goods",
    "from": "2025-10-20T00:00:00Z",
    "to": "2025-12-15T00:00:00Z",
}


@pytest.fixture
def database_url(recorded_example) -> str:
    """Overrides conftest's: the ``app`` and ``client`` fixtures read the example."""
    return recorded_example


def _spans(body: dict, mode: str) -> list[tuple]:
    return [
        (i["from"], i["until"], i["allowed"], i["reasons"][0]["resource"]["id"],
         i["reasons"][0]["resource"]["revision"])
        for i in body["modes"][mode]
    ]  # fmt: skip


def test_the_spec_example_is_the_example_data(client):
    response = client.get(
        "/v1/checkpoints/salcininkai/timeline",
        query_string={**EXAMPLE_QUERY, "as_of": "2025-11-01T12:00:00Z"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == TIMELINE_EXAMPLE
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_the_autumn_closure_as_first_announced_extended_and_lifted(client):
    def spans(as_of=None):
        query = EXAMPLE_QUERY if as_of is None else {**EXAMPLE_QUERY, "as_of": as_of}
        body = client.get("/v1/checkpoints/salcininkai/timeline", query_string=query).get_json()
        return [s for s in _spans(body, "goods") if s[3] == AUTUMN_CLOSURE]

    assert spans("2025-10-28T12:00:00Z") == [
        ("2025-10-26T22:00:00Z", "2025-12-15T00:00:00Z", False, AUTUMN_CLOSURE, 1)
    ]
    assert spans("2025-11-01T12:00:00Z") == [
        ("2025-10-26T22:00:00Z", "2025-11-30T22:00:00Z", False, AUTUMN_CLOSURE, 2)
    ]
    assert spans() == [("2025-10-26T22:00:00Z", "2025-11-19T22:00:00Z", False, AUTUMN_CLOSURE, 3)]


def test_every_mode_by_default_and_intervals_cover_the_range(client):
    body = client.get(
        "/v1/checkpoints/medininkai/timeline",
        query_string={"from": "2019-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    ).get_json()
    assert list(body["modes"]) == list(MODES)
    for intervals in body["modes"].values():
        assert intervals[0]["from"] == "2019-01-01T00:00:00Z"
        assert intervals[-1]["until"] == "2026-01-01T00:00:00Z"
        for before, after in pairwise(intervals):
            assert before["until"] == after["from"]
            assert (before["allowed"], before["reasons"]) != (after["allowed"], after["reasons"])
    pedestrian = [(i["from"], i["allowed"]) for i in body["modes"]["pedestrian"]]
    assert pedestrian == [
        ("2019-01-01T00:00:00Z", None),  # no rule before 2020
        ("2019-12-31T22:00:00Z", True),
        ("2024-02-29T22:00:00Z", False),  # the ban from 2024-03-01
        ("2025-10-22T18:00:00Z", False),  # the balloons' night: a closure
        ("2025-10-23T04:00:00Z", False),
    ]


@given(
    mode=st.sampled_from(MODES),
    offset=st.integers(0, (datetime(2026, 1, 1) - datetime(2019, 1, 1)).days * 24 - 1),
)
@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_each_interval_agrees_with_the_decision_inside_it(client, mode, offset):
    query = {"mode": mode, "from": "2019-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    body = client.get("/v1/checkpoints/salcininkai/timeline", query_string=query).get_json()
    at = (datetime(2019, 1, 1, tzinfo=UTC) + timedelta(hours=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (interval,) = [i for i in body["modes"][mode] if i["from"] <= at < i["until"]]
    decision = client.get(
        "/v1/decisions",
        query_string={"checkpoint_id": "salcininkai", "mode": mode, "at": at},
    ).get_json()
    for name in ("allowed", "access", "reasons", "conditions_text", "missing_facts"):
        assert interval[name] == decision[name]


def test_the_range_is_bounded(client):
    too_long = {
        "from": "2010-01-01T00:00:00Z",
        "to": (datetime(2010, 1, 1) + timedelta(days=MAX_TIMELINE_DAYS + 1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
    }
    problem = assert_problem(
        client.get("/v1/checkpoints/medininkai/timeline", query_string=too_long), 422
    )
    assert "to" in problem["errors"]
    backwards = {"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}
    assert_problem(client.get("/v1/checkpoints/medininkai/timeline", query_string=backwards), 422)
    assert_problem(client.get("/v1/checkpoints/medininkai/timeline"), 422)
    assert_problem(client.get("/v1/checkpoints/nowhere/timeline", query_string=EXAMPLE_QUERY), 404)


def test_too_many_changes_is_a_422(tmp_path):
    # Opening hours that change twice each weekday: ten years of them is too many intervals.
    app = create_app(Config(database_url=f"sqlite:///{tmp_path / 'hours.db'}"))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    client = app.test_client()
    editor = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    response = client.post(
        "/v1/checkpoints",
        json={
            "id": "kena",
            "name": "Kena",
            "countries": ["LT", "BY"],
            "kind": "rail",
            "timezone": "Europe/Vilnius",
            "opening_hours": "Mo-Fr 08:00-20:00",
        },
        headers=editor,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    response = client.post(
        "/v1/checkpoints/kena/rules",
        json={"mode": "goods", "access": "allowed", "valid_from": "2020-01-01T00:00:00Z"},
        headers=editor,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    query = {"mode": "goods", "from": "2020-01-01T00:00:00Z", "to": "2029-12-01T00:00:00Z"}
    problem = assert_problem(client.get("/v1/checkpoints/kena/timeline", query_string=query), 422)
    assert str(MAX_TIMELINE_STEPS) in problem["detail"]
    month = {**query, "to": "2020-02-01T00:00:00Z"}
    body = client.get("/v1/checkpoints/kena/timeline", query_string=month).get_json()
    assert 40 < len(body["modes"]["goods"]) < 50  # open and shut on each weekday of January


def test_the_spec_states_the_bounds(client):
    spec = client.get("/openapi.json").get_json()
    text = spec["paths"]["/v1/checkpoints/{checkpoint_id}/timeline"]["get"]["description"]
    assert f"{MAX_TIMELINE_DAYS} days" in text and f"{MAX_TIMELINE_STEPS} times" in text
