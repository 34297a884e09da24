"""Bad input is a 4xx problem, never a 500: times outside the supported range and bodies nested
too deeply, on every endpoint that reads them, with nothing written and nothing logged."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
import requests

from service.api.machinery.bodies import MAX_JSON_DEPTH
from service.domain.conditions import MAX_DEPTH as MAX_CONDITION_DEPTH
from tests.conftest import CHECKPOINT, Server, assert_problem

#: Times outside the range 1900-01-01T00:00:00Z (inclusive) to 3000-01-01T00:00:00Z (exclusive).
OUT_OF_RANGE = [
    pytest.param("0001-01-01T00:00:00+14:00", id="year-1-east"),
    pytest.param("9999-12-31T23:59:59-14:00", id="year-9999-west"),
    pytest.param("9999-12-31T22:00:00Z", id="year-9999-utc"),
    pytest.param("0000-01-01T00:00:00Z", id="year-0"),
    pytest.param("1899-12-31T23:59:59.999999Z", id="just-before-1900"),
    pytest.param("1900-01-01T00:59:59+01:00", id="1899-in-utc"),
    pytest.param("3000-01-01T00:00:00Z", id="the-exclusive-end"),
    pytest.param("2999-12-31T23:30:00-01:00", id="3000-in-utc"),
]
IN_RANGE = [
    pytest.param("1900-01-01T00:00:00Z", id="the-first-instant"),
    pytest.param("1900-01-01T01:00:00+01:00", id="the-first-instant-east"),
    pytest.param("2999-12-31T23:59:59.999999Z", id="the-last-instant"),
    pytest.param("2999-12-31T22:59:59-01:00", id="the-last-second-west"),
]

RULE = {"mode": "goods", "access": "allowed", "valid_from": "2020-01-01T00:00:00Z"}
CLOSURE = {
    "starts_at": "2025-10-22T21:00:00Z",
    "ends_at": "2025-10-23T07:00:00Z",
    "reason": "security",
    "announced_at": "2025-10-20T09:00:00Z",
}


@pytest.fixture
def quiet(caplog):
    """Fails the test if anything logged an error or a traceback."""
    caplog.set_level(logging.DEBUG)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]
    assert "Traceback" not in caplog.text


@pytest.fixture
def stored(client, editor):
    """A checkpoint with opening hours, a rule and a closure; their ids and ETags."""
    checkpoint = {**CHECKPOINT, "opening_hours": "Mo-Fr 08:00-20:00"}
    assert client.post("/v1/checkpoints", json=checkpoint, headers=editor).status_code == 201
    rule = client.post("/v1/checkpoints/medininkai/rules", json=RULE, headers=editor)
    closure = client.post("/v1/checkpoints/medininkai/closures", json=CLOSURE, headers=editor)
    assert rule.status_code == closure.status_code == 201
    return {
        "rule": (rule.get_json()["id"], rule.headers["ETag"]),
        "closure": (closure.get_json()["id"], closure.headers["ETag"]),
    }


def last_seq(client) -> int:
    return client.get("/v1/changes").get_json()["last_seq"]


#: Every query parameter that is a time, as (path, other parameters, parameter).
TIME_PARAMETERS = [
    ("/v1/decisions", "checkpoint_id=medininkai&mode=goods&", "at"),
    ("/v1/checkpoints/medininkai/status", "", "at"),
    ("/v1/status", "", "at"),
    ("/v1/checkpoints/medininkai", "", "as_of"),
    ("/v1/decisions", "checkpoint_id=medininkai&mode=goods&", "as_of"),
    ("/v1/checkpoints/medininkai/status", "", "as_of"),
    ("/v1/status", "", "as_of"),
    ("/v1/checkpoints/medininkai/rules", "", "at"),
    ("/v1/checkpoints/medininkai/closures", "", "active_at"),
    ("/v1/checkpoints/medininkai/closures", "", "from"),
    ("/v1/checkpoints/medininkai/closures", "", "to"),
    ("/v1/closures", "", "active_at"),
    ("/v1/closures", "", "from"),
    ("/v1/closures", "", "to"),
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_time_parameter_out_of_range_is_a_422_naming_it(client, stored, quiet, value):
    for path, others, name in TIME_PARAMETERS:
        response = client.get(f"{path}?{others}{name}={quote(value)}")
        body = assert_problem(response, 422)
        assert body["errors"] == {
            name: ["Must be from 1900-01-01T00:00:00Z up to, not including, 3000-01-01T00:00:00Z."]
        }, path


@pytest.mark.parametrize("value", IN_RANGE)
def test_a_time_parameter_at_the_ends_of_the_range_is_answered(client, stored, quiet, value):
    for path, others, name in TIME_PARAMETERS:
        response = client.get(f"{path}?{others}{name}={quote(value)}")
        if name != "as_of":
            assert response.status_code == 200, (path, response.data)
        elif value.startswith("1900"):
            # Before anything was recorded: no checkpoint existed yet.
            if path == "/v1/status":
                assert response.status_code == 200, response.data
                assert response.get_json()["items"] == []
            else:
                assert_problem(response, 404)
        else:
            # The far end of the range is in the future, which as_of cannot ask about.
            body = assert_problem(response, 422)
            assert list(body["errors"]) == ["as_of"], path


def test_decisions_at_the_end_of_the_range_with_hours_in_force(client, stored, quiet):
    # Friday 2999-12-31T23:00Z is Saturday 01:00 in Vilnius: closed, next open on Monday 3000.
    response = client.get(
        "/v1/decisions?checkpoint_id=medininkai&mode=goods&at=2999-12-31T23:00:00Z"
    )
    assert response.status_code == 200
    decision = response.get_json()
    assert (decision["allowed"], decision["valid_until"]) == (False, None)
    status = client.get("/v1/checkpoints/medininkai/status?at=2999-12-31T23:59:59.999999Z")
    assert status.status_code == 200
    assert status.get_json()["valid_until"] is None


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_batch_query_out_of_range_gets_a_problem_in_its_place(client, stored, quiet, value):
    queries = [
        {"checkpoint_id": "medininkai", "mode": "goods", "at": value},
        {"checkpoint_id": "medininkai", "mode": "goods", "at": "2024-03-04T10:00:00Z"},
    ]
    response = client.post("/v1/decisions", json={"queries": queries})
    assert response.status_code == 200
    problem, decision = response.get_json()["results"]
    assert problem["status"] == 422 and set(problem["errors"]) == {"at"}
    assert decision["allowed"] is True


def _writes(stored):
    rule_id, rule_etag = stored["rule"]
    closure_id, closure_etag = stored["closure"]
    rules, closures = "/v1/checkpoints/medininkai/rules", "/v1/checkpoints/medininkai/closures"
    for name in ("valid_from", "valid_until"):
        yield "post", rules, {}, RULE, name
        yield "put", f"/v1/rules/{rule_id}", {"If-Match": rule_etag}, RULE, name
        yield "patch", f"/v1/rules/{rule_id}", {"If-Match": rule_etag}, {}, name
    for name in ("starts_at", "ends_at", "announced_at"):
        yield "post", closures, {}, CLOSURE, name
        yield "put", f"/v1/closures/{closure_id}", {"If-Match": closure_etag}, CLOSURE, name
        yield "patch", f"/v1/closures/{closure_id}", {"If-Match": closure_etag}, {}, name


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_body_time_out_of_range_is_a_422_and_writes_nothing(client, editor, stored, quiet, value):
    before = last_seq(client)
    for method, path, headers, body, name in _writes(stored):
        response = getattr(client, method)(
            path, json={**body, name: value}, headers={**editor, **headers}
        )
        problem = assert_problem(response, 422)
        assert set(problem["errors"]) == {name}, (method, path)
    assert last_seq(client) == before


def test_body_times_at_the_ends_of_the_range_are_stored(client, editor, stored, quiet):
    body = {**RULE, "valid_from": "1900-01-01T00:00:00Z", "valid_until": "2999-12-31T23:59:59Z"}
    body["mode"] = "vehicle"
    created = client.post("/v1/checkpoints/medininkai/rules", json=body, headers=editor)
    assert created.status_code == 201, created.get_json()
    rule = created.get_json()
    assert (rule["valid_from"], rule["valid_until"]) == (body["valid_from"], body["valid_until"])
    # In the rule's last hour (01:00 on 3000-01-01 in Vilnius), outside the checkpoint's hours:
    # the rule's end comes first, and the next opening lies beyond the range.
    response = client.get(
        "/v1/decisions?checkpoint_id=medininkai&mode=vehicle&at=2999-12-31T23:00:00Z"
    )
    decision = response.get_json()
    assert decision["reasons"][0]["code"] == "outside_hours"
    assert decision["valid_until"] == "2999-12-31T23:59:59Z"


def nested(depth: int) -> str:
    """A JSON body whose arrays nest ``depth`` levels deep inside the object."""
    return '{"queries": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 3000 + "]" * 3000, id="3000-arrays"),
        pytest.param('{"a":' * 3000 + "1" + "}" * 3000, id="3000-objects"),
        pytest.param("[" * 100_000, id="100000-unclosed"),
        pytest.param(nested(MAX_JSON_DEPTH + 1), id="one-too-many"),
    ],
)
def test_deep_json_is_a_400_without_a_token_or_a_traceback(client, quiet, body):
    for encoding in ("utf-8", "utf-16"):
        response = client.post(
            "/v1/decisions", data=body.encode(encoding), content_type="application/json"
        )
        problem = assert_problem(response, 400)
        assert problem["detail"] == (
            f"The body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep."
        )


def test_deep_json_is_a_400_on_writes_and_writes_nothing(client, editor, stored, quiet):
    rule_id, etag = stored["rule"]
    before = last_seq(client)
    deep = {**RULE, "note": json.loads("[" * 70 + "]" * 70)}
    for method, path, headers in [
        ("post", "/v1/checkpoints", {}),
        ("post", "/v1/checkpoints/medininkai/rules", {}),
        ("put", f"/v1/rules/{rule_id}", {"If-Match": etag}),
        ("patch", f"/v1/rules/{rule_id}", {"If-Match": etag}),
    ]:
        response = getattr(client, method)(
            path,
            data=json.dumps(deep),
            content_type="application/json",
            headers={**editor, **headers},
        )
        assert_problem(response, 400)
    assert last_seq(client) == before


def test_depth_at_the_limit_and_brackets_in_strings_are_not_refused(client, quiet):
    # At the limit, the body is read and checked by its schema (queries must be objects).
    assert_problem(
        client.post("/v1/decisions", data=nested(MAX_JSON_DEPTH), content_type="application/json"),
        422,
    )
    # Brackets inside strings (escaped quotes included) do not count.
    body = {"queries": [{"checkpoint_id": "nowhere", "mode": "goods", "x": '\\"[{' * 5000}]}
    response = client.post("/v1/decisions", json=body)
    assert response.status_code == 200
    assert response.get_json()["results"][0]["errors"] == {"x": ["Unknown field."]}


def condition(levels: int) -> dict:
    """A condition of ``levels`` levels: ``all`` nested around one leaf."""
    node: dict = {"fact": "direction", "in": ["entry"]}
    for _ in range(levels - 1):
        node = {"all": [node]}
    return node


def test_the_deepest_legal_condition_fits_within_the_depth_bound(client, editor, stored, quiet):
    rule = {**RULE, "mode": "vehicle", "access": "restricted"}
    deepest = {**rule, "condition": condition(MAX_CONDITION_DEPTH)}
    assert len(json.dumps(deepest)) < 2000
    created = client.post("/v1/checkpoints/medininkai/rules", json=deepest, headers=editor)
    assert created.status_code == 201, created.get_json()
    decision = client.get(
        "/v1/decisions?checkpoint_id=medininkai&mode=vehicle&direction=entry&at=2024-03-04T10:00:00Z"
    ).get_json()
    assert decision["allowed"] is True
    # One level more is the condition's own 422, naming where it is too deep.
    deeper = {**rule, "condition": condition(MAX_CONDITION_DEPTH + 1)}
    response = client.post("/v1/checkpoints/medininkai/rules", json=deeper, headers=editor)
    problem = assert_problem(response, 422)
    (path,) = problem["errors"]
    assert path.startswith("condition.all.0.") and "Nested too deeply" in problem["errors"][path][0]


def test_deep_values_within_the_bound_are_422s(client, editor, stored, quiet):
    """Validation and the flattening of its errors over the deepest body the bound lets in."""
    deep_value = json.loads("[" * (MAX_JSON_DEPTH - 3) + "]" * (MAX_JSON_DEPTH - 3))
    bodies = [
        {**RULE, "condition": {"not": deep_value}},
        {**RULE, "source": {"authority": deep_value}},
        {**RULE, "unknown": deep_value},
        {**RULE, "mode": "vehicle", "access": "restricted", "condition": deep_value},
    ]
    for body in bodies:
        response = client.post("/v1/checkpoints/medininkai/rules", json=body, headers=editor)
        assert_problem(response, 422)
    # A merge patch is merged recursively before it is validated.
    rule_id, etag = stored["rule"]
    deep_object = json.loads('{"a":' * (MAX_JSON_DEPTH - 2) + "1" + "}" * (MAX_JSON_DEPTH - 2))
    response = client.patch(
        f"/v1/rules/{rule_id}", json={"source": deep_object}, headers={**editor, "If-Match": etag}
    )
    assert_problem(response, 422)
    batch = {"queries": [{"checkpoint_id": "medininkai", "mode": "goods", "facts": deep_value}]}
    (problem,) = client.post("/v1/decisions", json=batch).get_json()["results"]
    assert problem["status"] == 422


@pytest.fixture
def one_worker(app, database_url, tmp_path):
    """gunicorn with one worker."""
    with Server(database_url, workers=1) as server:
        server.start(tmp_path / "gunicorn.log")
        yield server


@pytest.mark.gunicorn
def test_bad_input_through_gunicorn_logs_one_access_line_each(one_worker, tmp_path):
    """As deployed: each refusal is answered and logged as one access line, no traceback."""
    server, log = one_worker, tmp_path / "gunicorn.log"
    before = log.stat().st_size
    deep = "[" * 3000 + "]" * 3000
    answers = [
        requests.post(
            f"{server.url}/v1/decisions",
            data=deep,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    ]
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T22:00:00Z"):
        answers.append(requests.get(f"{server.url}/v1/status", params={"at": value}, timeout=10))
    assert [answer.status_code for answer in answers] == [400, 422, 422, 422]
    assert all(a.headers["Content-Type"] == "application/problem+json" for a in answers)
    text = log.read_bytes()[before:].decode()
    assert "Traceback" not in text and "ERROR" not in text, text
    assert len(text) < 400 * len(answers), text
