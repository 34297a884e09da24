"""Closures over HTTP: a checkpoint's closure history, and every closure with filters."""

from __future__ import annotations

import pytest

from tests.conftest import CHECKPOINT, assert_problem

AUTUMN = {
    "starts_at": "2025-10-27T00:00:00+02:00",
    "ends_at": None,
    "reason": "security",
    "description": "Closed until further notice.",
}


@pytest.fixture
def points(client, editor):
    for id_, countries in (("salcininkai", ["LT", "BY"]), ("terespol", ["PL", "BY"])):
        body = {**CHECKPOINT, "id": id_, "countries": countries}
        assert client.post("/v1/checkpoints", json=body, headers=editor).status_code == 201


def post_closure(client, editor, checkpoint="salcininkai", **changes):
    return client.post(
        f"/v1/checkpoints/{checkpoint}/closures", json={**AUTUMN, **changes}, headers=editor
    )


def test_a_closure_extended_then_shortened_keeps_one_history(client, editor, points):
    created = post_closure(client, editor)
    assert created.status_code == 201, created.get_json()
    closure = created.get_json()
    assert closure["modes"] == ["pedestrian", "cyclist", "vehicle", "goods"]
    assert closure["starts_at"] == "2025-10-26T22:00:00Z"
    extended = client.patch(
        f"/v1/closures/{closure['id']}",
        json={"ends_at": "2025-12-01T00:00:00+02:00"},
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    assert extended.get_json()["ends_at"] == "2025-11-30T22:00:00Z"
    shortened = client.patch(
        f"/v1/closures/{closure['id']}",
        json={"ends_at": "2025-11-20T00:00:00+02:00"},
        headers={**editor, "If-Match": extended.headers["ETag"]},
    )
    assert shortened.get_json()["revision"] == 3
    history = client.get(f"/v1/closures/{closure['id']}/revisions").get_json()["items"]
    assert [r["data"]["ends_at"] for r in history] == [
        None,
        "2025-11-30T22:00:00Z",
        "2025-11-19T22:00:00Z",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("", ["overnight", "autumn", "poland"], id="all"),
        pytest.param("country=LT", ["overnight", "autumn"], id="country"),
        pytest.param("country=PL", ["poland"], id="country-neighbour-side"),
        pytest.param("active_at=2025-10-22T22:00:00Z", ["overnight"], id="active-at"),
        pytest.param(
            "active_at=2025-11-19T21:59:59Z", ["autumn", "poland"], id="active-at-before-end"
        ),
        pytest.param("active_at=2025-11-19T22:00:00Z", ["poland"], id="end-is-exclusive"),
        pytest.param("reason=weather", ["poland"], id="reason"),
        pytest.param("from=2025-10-24T00:00:00Z&to=2025-10-28T00:00:00Z", ["autumn"], id="from-to"),
        pytest.param("to=2025-10-23T00:00:00Z", ["overnight"], id="to"),
    ],
)
def test_closure_filters(client, editor, points, query, expected):
    ids = {
        "overnight": post_closure(
            client,
            editor,
            starts_at="2025-10-22T21:00:00+03:00",
            ends_at="2025-10-23T07:00:00+03:00",
        ).get_json()["id"],
        "autumn": post_closure(client, editor, ends_at="2025-11-20T00:00:00+02:00").get_json()[
            "id"
        ],
        "poland": post_closure(
            client,
            editor,
            "terespol",
            starts_at="2025-11-01T00:00:00Z",
            reason="weather",
            modes=["goods"],
        ).get_json()["id"],
    }
    names = {v: k for k, v in ids.items()}
    got = client.get(f"/v1/closures?{query}").get_json()["items"]
    assert [names[c["id"]] for c in got] == expected
    if "country" not in query:
        own = client.get(f"/v1/checkpoints/salcininkai/closures?{query}").get_json()["items"]
        assert [names[c["id"]] for c in own] == [e for e in expected if e != "poland"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"reason": "boredom"}, "reason", id="reason"),
        pytest.param({"modes": []}, "modes", id="no-modes"),
        pytest.param({"modes": ["goods", "goods"]}, "modes", id="duplicate-modes"),
        pytest.param({"modes": ["horse"]}, "modes.0", id="unknown-mode"),
        pytest.param({"ends_at": "2025-10-01T00:00:00Z"}, "ends_at", id="ends-before-start"),
        pytest.param({"starts_at": None}, "starts_at", id="no-start"),
        pytest.param({"announced_at": "2025-10-27"}, "announced_at", id="date-not-time"),
    ],
)
def test_bad_closures_are_422(client, editor, points, store, changes, field):
    before = store.feed_position()
    assert field in assert_problem(post_closure(client, editor, **changes), 422)["errors"]
    assert store.feed_position() == before


def test_bad_closure_filters_are_422(client, points):
    for query in (
        "active_at=soon",
        "reason=x",
        "country=XX",
        "from=2025-01-01",
        "cursor=%5B1%5D",
        "modes=goods",
    ):
        assert_problem(client.get(f"/v1/closures?{query}"), 422)
    assert_problem(client.get("/v1/checkpoints/nowhere/closures"), 404)
