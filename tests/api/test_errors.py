"""Bad input: a clear problem+json, and nothing written."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import CHECKPOINT, assert_problem


def with_(**changes):
    body = {**CHECKPOINT, **changes}
    return {k: v for k, v in body.items() if v is not ...}


BAD_BODIES = [
    pytest.param(with_(id="A"), "id", id="id-pattern"),
    pytest.param(with_(id="a"), "id", id="id-too-short"),
    pytest.param(with_(id="-abc"), "id", id="id-leading-dash"),
    pytest.param(with_(id=...), "id", id="id-missing"),
    pytest.param(with_(name=""), "name", id="name-empty"),
    pytest.param(with_(name="x" * 201), "name", id="name-too-long"),
    pytest.param(with_(name=5), "name", id="name-wrong-type"),
    pytest.param(with_(countries=["LT"]), "countries", id="countries-one"),
    pytest.param(with_(countries=["LT", "XX"]), "countries.1", id="countries-not-iso"),
    pytest.param(with_(countries=["lt", "BY"]), "countries.0", id="countries-lowercase"),
    pytest.param(with_(countries=["LT", "LT"]), "countries", id="countries-same"),
    pytest.param(with_(kind="boat"), "kind", id="kind-unknown"),
    pytest.param(with_(location={"lat": 91, "lon": 25}), "location.lat", id="lat-range"),
    pytest.param(with_(location={"lat": 54, "lon": -181}), "location.lon", id="lon-range"),
    pytest.param(with_(location={"lat": 54}), "location.lon", id="lon-missing"),
    pytest.param(
        with_(location={"lat": 54, "lon": 25, "alt": 3}),
        "location.alt",
        id="location-unknown-field",
    ),
    pytest.param(with_(timezone="Europe/Atlantis"), "timezone", id="timezone-unknown"),
    pytest.param(with_(timezone=...), "timezone", id="timezone-missing"),
    pytest.param(with_(opening_hours="Mo-Zz 99"), "opening_hours", id="opening-hours-syntax"),
    pytest.param(with_(local_names={"xx-!": "a"}), "local_names", id="local-names-bad-language"),
    pytest.param(with_(local_names={"lt": ""}), "local_names", id="local-names-empty-name"),
    pytest.param(with_(colour="red"), "colour", id="unknown-field"),
    pytest.param(with_(created_at="2024-01-01T00:00:00Z"), "created_at", id="read-only-field"),
    pytest.param([CHECKPOINT], "body", id="not-an-object"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_create_bodies_are_422_naming_the_field(client, editor, store, body, field):
    response = client.post("/v1/checkpoints", json=body, headers=editor)
    problem = assert_problem(response, 422)
    assert any(key == field or key.startswith(field + ".") for key in problem["errors"]), problem
    assert store.feed_position() == 0


def test_every_error_is_reported_at_once(client, editor):
    body = with_(name="", kind="boat", location={"lat": 100, "lon": 0})
    problem = assert_problem(client.post("/v1/checkpoints", json=body, headers=editor), 422)
    assert {"name", "kind", "location.lat"} <= problem["errors"].keys()


def test_malformed_json_is_400(client, editor, store):
    response = client.post(
        "/v1/checkpoints", data="{nope", headers={**editor, "Content-Type": "application/json"}
    )
    assert_problem(response, 400)
    assert store.feed_position() == 0


def test_empty_body_is_400(client, editor):
    response = client.post(
        "/v1/checkpoints", headers={**editor, "Content-Type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(client, editor, store, content_type):
    headers = dict(editor)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/checkpoints", data=json.dumps(CHECKPOINT), headers=headers)
    assert_problem(response, 415)
    assert store.feed_position() == 0


def test_a_body_over_one_mebibyte_is_413(client, editor, store):
    body = json.dumps({**CHECKPOINT, "name": "x" * (1024 * 1024)})
    response = client.post(
        "/v1/checkpoints", data=body, headers={**editor, "Content-Type": "application/json"}
    )
    assert_problem(response, 413)
    assert store.feed_position() == 0


def test_unknown_route_is_404(client):
    assert_problem(client.get("/v1/nowhere"), 404)
    assert_problem(client.get("/v1/checkpoints/medininkai"), 404)


def test_a_problem_is_titled_with_its_status_phrase(client, editor):
    """A problem's title is its status's phrase, whichever path raised it: a storage failure
    (404), a routing miss (404), bad input (422)."""
    assert assert_problem(client.get("/v1/checkpoints/medininkai"), 404)["title"] == "Not Found"
    assert assert_problem(client.get("/v1/nowhere"), 404)["title"] == "Not Found"
    bad = client.post("/v1/checkpoints", json={"id": "A"}, headers=editor)
    assert assert_problem(bad, 422)["title"] == "Unprocessable Entity"


def test_wrong_method_is_405_with_allow(client, editor):
    response = client.delete("/v1/checkpoints", headers=editor)
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_unexpected_failure_is_a_500_problem_without_internals(app, client):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internal detail in /var/lib/db")

    response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert body["detail"]


def test_a_failure_after_the_view_is_a_500_problem_and_its_cause_is_logged(app, client, caplog):
    # An after-request hook that fails once: Flask turns the failure into an
    # InternalServerError that carries the original exception.
    failed = []

    @app.after_request
    def fail_once(response):
        if not failed:
            failed.append(True)
            raise RuntimeError("secret cause in /var/lib/db")
        return response

    with caplog.at_level(logging.ERROR, logger="service.api.machinery.errors"):
        response = client.get("/v1/checkpoints")
    assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    causes = [
        record.exc_info[1]
        for record in caplog.records
        if record.name == "service.api.machinery.errors" and record.exc_info
    ]
    assert [str(cause) for cause in causes] == ["secret cause in /var/lib/db"]


def test_storage_that_cannot_be_opened_is_a_503_problem(tmp_path):
    from service import create_app
    from service.config import Config

    app = create_app(Config(database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    response = app.test_client().get("/v1/checkpoints")
    assert_problem(response, 503)
    assert response.headers["Retry-After"]
