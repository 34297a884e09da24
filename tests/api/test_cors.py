"""CORS: reads from any origin, writes only from configured origins, correct preflights."""

from __future__ import annotations

import pytest

from service import create_app
from service.config import Config
from tests.conftest import CHECKPOINT, make_token

DASH = "https://dash.example"
STRANGER = "https://news.example"
WRITE_HEADERS = "authorization, content-type, if-match, idempotency-key"


def _list(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


@pytest.fixture
def cors_app(database_url):
    app = create_app(Config(database_url=database_url, cors_write_origins=(DASH,)))
    app.extensions["checkpoints.store"].migrate()
    yield app
    app.extensions["checkpoints.store"].close()


@pytest.fixture
def cors_client(cors_app):
    return cors_app.test_client()


@pytest.fixture
def dash_editor(cors_app) -> dict[str, str]:
    secret = make_token(cors_app.extensions["checkpoints.store"], "dash", "editor")
    return {"Authorization": f"Bearer {secret}"}


def preflight(client, path: str, origin: str, method: str, headers: str = ""):
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=request_headers)


def assert_no_cors(response):
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


@pytest.mark.parametrize("origin", [DASH, STRANGER, "http://localhost:3000", "null"])
def test_a_read_answers_any_origin(cors_client, origin):
    response = cors_client.get("/v1/checkpoints", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_read_exposes_the_headers_a_client_reads(cors_client, client, editor):
    client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor)
    response = cors_client.get("/v1/checkpoints/medininkai", headers={"Origin": STRANGER})
    exposed = _list(response.headers["Access-Control-Expose-Headers"])
    assert {
        "etag",
        "location",
        "link",
        "retry-after",
        "ratelimit",
        "ratelimit-policy",
        "cache-control",
    } <= exposed


def test_a_read_preflight_from_any_origin(cors_client):
    response = preflight(
        cors_client, "/v1/checkpoints/medininkai", STRANGER, "GET", "if-none-match"
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    methods = _list(response.headers["Access-Control-Allow-Methods"])
    assert {"get", "head"} <= methods
    # A read preflight does not open the writes of the same URL to that origin.
    assert not methods & {"post", "put", "patch", "delete"}
    assert _list(response.headers["Access-Control-Allow-Headers"]) == {"if-none-match"}
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_the_event_stream_preflight_allows_last_event_id(cors_client):
    response = preflight(cors_client, "/v1/changes/stream", STRANGER, "GET", "last-event-id")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert _list(response.headers["Access-Control-Allow-Headers"]) == {"last-event-id"}


def test_a_batch_of_decisions_is_a_read_from_any_origin(cors_client):
    response = preflight(cors_client, "/v1/decisions", STRANGER, "POST", "content-type")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "post" in _list(response.headers["Access-Control-Allow-Methods"])
    assert _list(response.headers["Access-Control-Allow-Headers"]) == {"content-type"}
    answered = cors_client.post(
        "/v1/decisions",
        json={"queries": [{"checkpoint_id": "nowhere", "mode": "goods"}]},
        headers={"Origin": STRANGER},
    )
    assert answered.status_code == 200
    assert answered.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_preflight_from_a_configured_origin(cors_client, method):
    response = preflight(cors_client, "/v1/checkpoints/medininkai", DASH, method, WRITE_HEADERS)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DASH
    assert "origin" in _list(response.headers.get("Vary"))
    assert method.lower() in _list(response.headers["Access-Control-Allow-Methods"])
    assert _list(response.headers["Access-Control-Allow-Headers"]) == _list(WRITE_HEADERS)
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_every_header_a_client_sends_is_allowed(cors_client):
    wanted = "authorization, content-type, if-match, if-none-match, idempotency-key, last-event-id"
    response = preflight(cors_client, "/v1/checkpoints", DASH, "POST", wanted)
    assert _list(response.headers["Access-Control-Allow-Headers"]) == _list(wanted)


def test_an_unknown_request_header_is_not_allowed(cors_client):
    response = preflight(cors_client, "/v1/checkpoints", DASH, "POST", "x-forwarded-host")
    assert "x-forwarded-host" not in _list(response.headers.get("Access-Control-Allow-Headers"))


def test_a_write_from_a_configured_origin(cors_client, dash_editor):
    response = cors_client.post(
        "/v1/checkpoints", json=CHECKPOINT, headers={**dash_editor, "Origin": DASH}
    )
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == DASH
    exposed = _list(response.headers["Access-Control-Expose-Headers"])
    assert {"etag", "location"} <= exposed


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_preflight_from_another_origin_is_refused(cors_client, method):
    response = preflight(cors_client, "/v1/checkpoints/medininkai", STRANGER, method, "if-match")
    assert_no_cors(response)
    assert "Access-Control-Allow-Headers" not in response.headers


@pytest.mark.parametrize("origin", [STRANGER, DASH + ".evil.example", "http://dash.example"])
def test_a_write_from_another_origin_gets_no_cors_headers(cors_client, dash_editor, origin):
    response = cors_client.post(
        "/v1/checkpoints", json=CHECKPOINT, headers={**dash_editor, "Origin": origin}
    )
    assert_no_cors(response)


def test_by_default_no_origin_may_write(client):
    response = preflight(client, "/v1/checkpoints", DASH, "POST", "authorization")
    assert_no_cors(response)
    assert client.get("/v1/checkpoints", headers={"Origin": DASH}).headers[
        "Access-Control-Allow-Origin"
    ] == ("*")


def test_a_preflight_needs_no_token_and_no_body(cors_client):
    # No Authorization, no Content-Type: neither auth nor the body checks see a preflight.
    response = preflight(cors_client, "/v1/checkpoints/medininkai", DASH, "DELETE")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == DASH
    assert "DELETE" in response.headers["Allow"]


def test_errors_carry_cors_headers_too(cors_client):
    missing = cors_client.get("/v1/checkpoints/nowhere", headers={"Origin": STRANGER})
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == "*"
    unauthorized = cors_client.post("/v1/checkpoints", json=CHECKPOINT, headers={"Origin": DASH})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == DASH
    assert "www-authenticate" in _list(unauthorized.headers["Access-Control-Expose-Headers"])


def test_a_read_says_it_is_public_even_without_origin(cors_client, dash_editor):
    # A shared cache may keep this answer and serve it to a browser on another site.
    assert cors_client.get("/v1/checkpoints").headers["Access-Control-Allow-Origin"] == "*"
    write = cors_client.post("/v1/checkpoints", json=CHECKPOINT, headers=dash_editor)
    assert write.status_code == 201
    assert_no_cors(write)


@pytest.mark.parametrize(
    "origins",
    [("*",), ("https://dash.example/",), ("https://dash.example/app",), ("dash.example",)],
)
def test_write_origins_must_be_origins(database_url, origins):
    with pytest.raises(ValueError, match="CHECKPOINTS_CORS_WRITE_ORIGINS"):
        create_app(Config(database_url=database_url, cors_write_origins=origins))


def test_write_origins_are_read_from_the_environment():
    config = Config.from_env(
        {"CHECKPOINTS_CORS_WRITE_ORIGINS": " https://a.example, http://localhost:8080 ,"}
    )
    assert config.cors_write_origins == ("https://a.example", "http://localhost:8080")
    assert Config.from_env({}).cors_write_origins == ()
