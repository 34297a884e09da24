"""History as it was recorded: the bundled example asked through HTTP at dated pairs of
``as_of`` (transaction time: what had been recorded then) and ``at`` (valid time).

The example is loaded once per module, each write recorded at its announcement time; the
tests only read it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import assert_problem

AUTUMN_CLOSURE = "closure-salcininkai-2025-10-27"


@pytest.fixture
def database_url(recorded_example) -> str:
    """Overrides conftest's: the ``app`` and ``client`` fixtures read the example."""
    return recorded_example


def ref(resource_type: str, resource_id: str, revision: int) -> dict:
    return {"type": resource_type, "id": resource_id, "revision": revision}


def pair(checkpoint_id, mode, as_of, at, allowed, resource, valid_until, *, message=None, id):
    return pytest.param(
        checkpoint_id, mode, as_of, at, allowed, resource, valid_until, message, id=id
    )


PAIRS = [
    # Šalčininkai, closed on 2025-10-27: as first announced, until further notice.
    pair("salcininkai", "goods", "2025-10-28T12:00:00Z", "2025-12-15T12:00:00Z", False,
         ref("closure", AUTUMN_CLOSURE, 1), None,
         message="Closed for security until further notice", id="first-announced-december"),
    pair("salcininkai", "vehicle", "2025-10-28T12:00:00Z", "2025-11-25T12:00:00Z", False,
         ref("closure", AUTUMN_CLOSURE, 1), None, id="first-announced-late-november"),
    # As extended on 2025-10-29: to the end of November.
    pair("salcininkai", "goods", "2025-11-01T12:00:00Z", "2025-11-25T12:00:00Z", False,
         ref("closure", AUTUMN_CLOSURE, 2), "2025-11-30T22:00:00Z",
         message="Closed for security until 2025-11-30T22:00:00Z", id="extended-late-november"),
    pair("salcininkai", "goods", "2025-11-01T12:00:00Z", "2025-12-15T12:00:00Z", True,
         ref("rule", "rule-salcininkai-goods-1", 1), None, id="extended-open-in-december"),
    # As finally lifted early, on 2025-11-20 (recorded the day before, illustratively).
    pair("salcininkai", "goods", "2025-11-19T12:00:00Z", "2025-11-25T12:00:00Z", True,
         ref("rule", "rule-salcininkai-goods-1", 1), None, id="lifted-late-november"),
    pair("salcininkai", "goods", "2025-11-21T12:00:00Z", "2025-11-10T12:00:00Z", False,
         ref("closure", AUTUMN_CLOSURE, 3), "2025-11-19T22:00:00Z", id="lifted-seen-in-november"),
    # Before anything about it was recorded, the closure is not there.
    pair("salcininkai", "goods", "2025-10-20T12:00:00Z", "2025-11-10T12:00:00Z", True,
         ref("rule", "rule-salcininkai-goods-1", 1), None, id="before-the-closure"),
    # Medininkai pedestrians: the ban decided on 2024-02-21, from 2024-03-01.
    pair("medininkai", "pedestrian", "2024-02-20T12:00:00Z", "2024-03-05T12:00:00Z", True,
         ref("rule", "rule-medininkai-pedestrian-1", 1), None, id="pedestrians-before-decision"),
    pair("medininkai", "pedestrian", "2024-02-22T12:00:00Z", "2024-03-05T12:00:00Z", False,
         ref("rule", "rule-medininkai-pedestrian-2", 1), None, id="pedestrians-after-decision"),
    pair("medininkai", "pedestrian", "2024-02-22T12:00:00Z", "2024-02-25T12:00:00Z", True,
         ref("rule", "rule-medininkai-pedestrian-1", 2), "2024-02-29T22:00:00Z",
         id="pedestrians-days-before-the-ban"),
    # The vehicle rule of 2024-08-16, before April 2025 shortened it (revision 2).
    pair("medininkai", "vehicle", "2024-09-01T12:00:00Z", "2025-06-01T12:00:00Z", None,
         ref("rule", "rule-medininkai-vehicle-2", 1), None, id="vehicle-rule-before-april"),
    pair("medininkai", "vehicle", "2025-05-01T12:00:00Z", "2025-06-01T12:00:00Z", None,
         ref("rule", "rule-medininkai-vehicle-3", 1), None, id="vehicle-rule-after-april"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("checkpoint_id", "mode", "as_of", "at", "allowed", "resource", "valid_until", "message"),
    PAIRS,
)
def test_the_example_as_recorded(
    client, checkpoint_id, mode, as_of, at, allowed, resource, valid_until, message
):
    query = {"checkpoint_id": checkpoint_id, "mode": mode, "as_of": as_of, "at": at}
    response = client.get("/v1/decisions", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["as_of"] == as_of and body["at"] == at
    assert body["allowed"] is allowed, body
    assert body["reasons"][0]["resource"] == resource, body
    assert body["valid_until"] == valid_until, body
    if message is not None:
        assert body["reasons"][0]["message"] == message


def test_at_defaults_to_as_of(client):
    body = client.get(
        "/v1/decisions",
        query_string={
            "checkpoint_id": "salcininkai",
            "mode": "goods",
            "as_of": "2025-11-10T12:00:00Z",
        },
    ).get_json()
    assert body["at"] == body["as_of"] == "2025-11-10T12:00:00Z"
    assert body["reasons"][0]["resource"] == ref("closure", AUTUMN_CLOSURE, 2)


def test_without_as_of_the_answer_is_as_recorded_now(client):
    query = {"checkpoint_id": "medininkai", "mode": "vehicle", "at": "2024-09-01T12:00:00Z"}
    body = client.get("/v1/decisions", query_string=query).get_json()
    assert "as_of" not in body
    assert body["reasons"][0]["resource"] == ref("rule", "rule-medininkai-vehicle-2", 2)
    assert body["valid_until"] == "2025-04-16T21:00:00Z"


def test_before_the_checkpoint_was_recorded_it_did_not_exist(client):
    query = {"checkpoint_id": "medininkai", "mode": "goods", "as_of": "2019-06-01T00:00:00Z"}
    problem = assert_problem(client.get("/v1/decisions", query_string=query), 404)
    assert "did not exist then" in problem["detail"]


def test_checkpoint_status_as_recorded(client):
    before = client.get(
        "/v1/checkpoints/medininkai/status",
        query_string={"as_of": "2024-02-20T12:00:00Z", "at": "2024-03-05T12:00:00Z"},
    ).get_json()
    after = client.get(
        "/v1/checkpoints/medininkai/status",
        query_string={"as_of": "2024-02-22T12:00:00Z", "at": "2024-03-05T12:00:00Z"},
    ).get_json()
    assert before["as_of"] == "2024-02-20T12:00:00Z"
    assert before["state"] == "open" and after["state"] == "restricted"
    assert before["modes"]["pedestrian"]["allowed"] is True
    assert after["modes"]["pedestrian"]["allowed"] is False
    assert after["modes"]["cyclist"]["reasons"][0]["resource"] == ref(
        "rule", "rule-medininkai-cyclist-2", 1
    )


def test_all_status_as_recorded(client):
    first = client.get(
        "/v1/status", query_string={"as_of": "2025-10-28T12:00:00Z", "at": "2025-12-15T12:00:00Z"}
    ).get_json()
    last = client.get("/v1/status", query_string={"at": "2025-12-15T12:00:00Z"}).get_json()
    assert first["as_of"] == "2025-10-28T12:00:00Z" and "as_of" not in last
    states = {item["checkpoint_id"]: item["state"] for item in first["items"]}
    assert states["salcininkai"] == "closed"
    assert {item["checkpoint_id"]: item["state"] for item in last["items"]}["salcininkai"] == (
        "restricted"
    )
    # Before the first write there were no checkpoints.
    empty = client.get("/v1/status", query_string={"as_of": "2019-01-01T00:00:00Z"}).get_json()
    assert empty["items"] == []


def test_the_batch_takes_as_of_for_all_and_per_query(client):
    response = client.post(
        "/v1/decisions",
        json={
            "as_of": "2025-10-28T12:00:00Z",
            "queries": [
                {"checkpoint_id": "salcininkai", "mode": "goods", "at": "2025-12-15T12:00:00Z"},
                {
                    "checkpoint_id": "salcininkai",
                    "mode": "goods",
                    "at": "2025-12-15T12:00:00Z",
                    "as_of": "2025-11-01T12:00:00Z",
                },
                {"checkpoint_id": "salcininkai", "mode": "goods"},
                {"checkpoint_id": "salcininkai", "mode": "goods", "as_of": "2999-01-01T00:00:00Z"},
                {"checkpoint_id": "medininkai", "mode": "goods", "as_of": "2019-01-01T00:00:00Z"},
            ],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    first, second, third, future, missing = response.get_json()["results"]
    assert first["as_of"] == "2025-10-28T12:00:00Z" and first["allowed"] is False
    assert first["reasons"][0]["resource"] == ref("closure", AUTUMN_CLOSURE, 1)
    assert second["as_of"] == "2025-11-01T12:00:00Z" and second["allowed"] is True
    assert third["at"] == "2025-10-28T12:00:00Z"
    assert future["status"] == 422 and "as_of" in future["errors"]
    assert missing["status"] == 404 and "did not exist then" in missing["detail"]


def test_the_batch_refuses_an_as_of_in_the_future_whole(client):
    response = client.post(
        "/v1/decisions",
        json={
            "as_of": "2999-01-01T00:00:00Z",
            "queries": [{"checkpoint_id": "x1", "mode": "goods"}],
        },
    )
    assert "as_of" in assert_problem(response, 422)["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/decisions?checkpoint_id=medininkai&mode=goods&",
        "/v1/checkpoints/medininkai/status?",
        "/v1/status?",
    ],
)
@pytest.mark.parametrize(
    "as_of",
    [
        pytest.param("FUTURE", id="future"),
        pytest.param("2025-11-01T12:00:00", id="no-offset"),
        pytest.param("yesterday", id="malformed"),
        pytest.param("1899-12-31T23:00:00Z", id="out-of-range"),
    ],
)
def test_a_bad_as_of_is_a_422(client, path, as_of):
    if as_of == "FUTURE":
        as_of = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    problem = assert_problem(client.get(f"{path}as_of={as_of}"), 422)
    assert "as_of" in problem["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/decisions?checkpoint_id=salcininkai&mode=goods&as_of=2025-11-01T12:00:00Z",
        "/v1/checkpoints/salcininkai/status?as_of=2025-11-01T12:00:00Z&at=2025-11-25T00:00:00Z",
        "/v1/status?as_of=2025-11-01T12:00:00Z",
        "/v1/checkpoints/salcininkai/timeline?from=2025-10-01T00:00:00Z&to=2025-12-01T00:00:00Z"
        "&as_of=2025-11-01T12:00:00Z",
        "/v1/checkpoints/salcininkai?as_of=2025-11-01T12:00:00Z",
    ],
)
def test_an_answer_about_the_settled_past_is_cached_for_good(client, path):
    first = client.get(path)
    again = client.get(path)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert first.headers["ETag"] == again.headers["ETag"]
    assert first.get_data() == again.get_data()
    cached = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304 and cached.headers["ETag"] == first.headers["ETag"]
    assert cached.headers["Cache-Control"] == first.headers["Cache-Control"]


def test_a_recent_as_of_is_not_cached_for_good(client):
    # A write still in progress could yet be recorded at or before a moment ago.
    recent = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.get(
        "/v1/decisions",
        query_string={"checkpoint_id": "salcininkai", "mode": "goods", "as_of": recent},
    )
    assert response.status_code == 200
    assert "immutable" not in response.headers["Cache-Control"]
    resource = client.get("/v1/checkpoints/salcininkai", query_string={"as_of": recent})
    assert resource.status_code == 200 and "Cache-Control" not in resource.headers


def test_the_spec_batch_example_answers_as_documented(client):
    from schemas.decisions import BATCH_EXAMPLE, BATCH_RESULT_EXAMPLE

    results = client.post("/v1/decisions", json=BATCH_EXAMPLE).get_json()["results"]
    assert results[-1] == BATCH_RESULT_EXAMPLE["results"][-1]
