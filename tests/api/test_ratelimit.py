"""Rate limits: writes per token, reads (and writes without a valid token) per client address,
the batch weighed by its queries, the probes exempt; a 429 is a problem with Retry-After and
the draft's RateLimit fields; a shared store that is down never breaks the API."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import replace

import pytest

from service import create_app
from service.config import Config
from tests.conftest import CHECKPOINT, REDIS_URL, assert_problem, free_port, make_token

_FIELD = re.compile(r'^"(?P<policy>\w+)";(?P<params>.*)$')


def _params(value: str) -> tuple[str, dict[str, int]]:
    match = _FIELD.match(value)
    assert match, value
    params = dict(part.split("=") for part in match["params"].split(";"))
    return match["policy"], {name: int(number) for name, number in params.items()}


def remaining(response) -> int:
    return _params(response.headers["RateLimit"])[1]["r"]


@pytest.fixture
def make_app(database_url):
    apps = []

    def make(**settings):
        app = create_app(replace(Config(database_url=database_url), **settings))
        app.extensions["checkpoints.store"].migrate()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["checkpoints.store"].close()


def test_a_read_beyond_the_limit_is_a_429_problem_with_retry_after(make_app):
    client = make_app(ratelimit_read="3/minute").test_client()
    answers = [client.get("/v1/checkpoints") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    for left, answer in zip([2, 1, 0, 0], answers, strict=True):
        assert _params(answer.headers["RateLimit-Policy"]) == ("read", {"q": 3, "w": 60})
        policy, state = _params(answer.headers["RateLimit"])
        assert policy == "read" and state["r"] == left and 0 <= state["t"] <= 60
    assert "Retry-After" not in answers[0].headers
    body = assert_problem(answers[3], 429)
    assert body["type"] == "urn:checkpoints:problem:rate-limited"
    assert "3 per 1 minute" in body["detail"]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60


def test_reads_are_counted_per_client_address(make_app):
    client = make_app(ratelimit_read="2/minute").test_client()
    here, there = {"REMOTE_ADDR": "192.0.2.1"}, {"REMOTE_ADDR": "192.0.2.2"}
    assert [client.get("/v1/status", environ_overrides=here).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert client.get("/v1/status", environ_overrides=there).status_code == 200


def test_writes_are_counted_per_token_apart_from_reads(make_app):
    app = make_app(ratelimit_read="50/minute", ratelimit_write="2/minute")
    store = app.extensions["checkpoints.store"]
    alice = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    bob = {"Authorization": f"Bearer {make_token(store, 'bob', 'editor')}"}
    client = app.test_client()

    def create(token, n):
        return client.post(
            "/v1/checkpoints", json={**CHECKPOINT, "id": f"point-{n}"}, headers=token
        )

    first, second, third = (create(alice, n) for n in range(3))
    assert [first.status_code, second.status_code] == [201, 201]
    assert _params(first.headers["RateLimit-Policy"]) == ("write", {"q": 2, "w": 60})
    assert assert_problem(third, 429)["detail"].startswith("Too many writes with this token")
    assert third.headers["Retry-After"]
    assert client.get("/v1/checkpoints/point-2").status_code == 404, "the refused write wrote"
    # Another token has its own budget, and the reads of the same address are apart.
    assert create(bob, 3).status_code == 201
    read = client.get("/v1/checkpoints")
    assert read.status_code == 200 and _params(read.headers["RateLimit"])[0] == "read"
    assert remaining(read) == 48  # the two reads, none of the writes


def test_writes_without_a_valid_token_count_against_the_address(make_app):
    client = make_app(ratelimit_read="3/minute").test_client()
    bad = {"Authorization": "Bearer cpt_not-a-token"}
    assert client.post("/v1/checkpoints", json=CHECKPOINT).status_code == 401
    assert client.delete("/v1/checkpoints/medininkai", headers=bad).status_code == 401
    assert client.get("/v1/checkpoints").status_code == 200
    refused = client.post("/v1/checkpoints", json=CHECKPOINT, headers=bad)
    assert _params(assert_problem_429(refused))[0] == "read"


def assert_problem_429(response) -> str:
    assert_problem(response, 429)
    return response.headers["RateLimit-Policy"]


def _batch(count: int) -> dict:
    return {"queries": [{"checkpoint_id": "medininkai", "mode": "pedestrian"}] * count}


def test_a_batch_of_decisions_weighs_its_number_of_queries(make_app):
    client = make_app(ratelimit_read="10/minute").test_client()
    assert remaining(client.post("/v1/decisions", json=_batch(4))) == 6
    assert remaining(client.get("/v1/decisions?checkpoint_id=medininkai&mode=cyclist")) == 5
    assert remaining(client.post("/v1/decisions", json=_batch(5))) == 0
    assert_problem(client.post("/v1/decisions", json=_batch(1)), 429)


def test_a_batch_larger_than_the_limit_fits_in_a_fresh_window(make_app):
    client = make_app(ratelimit_read="10/minute").test_client()
    response = client.post("/v1/decisions", json=_batch(50))
    assert response.status_code == 200 and len(response.get_json()["results"]) == 50
    assert remaining(response) == 0
    assert_problem(client.get("/v1/status"), 429)


def test_an_unreadable_batch_weighs_one_and_gets_its_own_error(make_app):
    client = make_app(ratelimit_read="10/minute").test_client()
    bad = client.post("/v1/decisions", data=b"{not json", content_type="application/json")
    assert_problem(bad, 400)
    assert remaining(bad) == 9
    deep = b'{"queries": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    answer = client.post("/v1/decisions", data=deep, content_type="application/json")
    assert remaining(answer) == 8  # too deep to weigh: 1 (what the body gets is not ours)


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/"]
)
def test_probes_metrics_and_docs_are_exempt(make_app, path):
    client = make_app(ratelimit_read="1/minute").test_client()
    for _ in range(3):
        response = client.get(path)
        assert response.status_code in (200, 308), path
        assert "RateLimit" not in response.headers
    assert client.get("/v1/status").status_code == 200


def test_limits_can_be_switched_off(make_app):
    client = make_app(ratelimit_enabled=False, ratelimit_read="1/minute").test_client()
    for _ in range(3):
        response = client.get("/v1/status")
        assert response.status_code == 200 and "RateLimit" not in response.headers


def test_the_settings_are_read_from_the_environment_and_checked(database_url):
    config = Config.from_env(
        {
            "CHECKPOINTS_RATELIMIT_ENABLED": "off",
            "CHECKPOINTS_RATELIMIT_READ": "100/second",
            "CHECKPOINTS_RATELIMIT_WRITE": "5/hour",
            "CHECKPOINTS_RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379/2",
            "CHECKPOINTS_RATELIMIT_KEY_PREFIX": "staging",
        }
    )
    assert (config.ratelimit_enabled, config.ratelimit_read, config.ratelimit_write) == (
        False,
        "100/second",
        "5/hour",
    )
    assert config.ratelimit_storage_url == "redis://127.0.0.1:6379/2"
    assert config.ratelimit_key_prefix == "staging"
    defaults = Config.from_env({})
    assert defaults.ratelimit_enabled and defaults.ratelimit_storage_url == "memory://"
    with pytest.raises(ValueError, match="CHECKPOINTS_RATELIMIT_ENABLED"):
        Config.from_env({"CHECKPOINTS_RATELIMIT_ENABLED": "maybe"})
    for setting in ("often", "10/minute;100/hour", "", "5/month"):
        with pytest.raises(ValueError, match="CHECKPOINTS_RATELIMIT_READ"):
            create_app(Config(database_url=database_url, ratelimit_read=setting))


def test_the_default_read_limit_admits_the_largest_batch():
    from schemas.decisions import MAX_BATCH

    assert int(Config().ratelimit_read.split("/")[0]) >= MAX_BATCH


def test_a_shared_store_counts_for_every_process(make_app, redis_prefix):
    settings = {
        "ratelimit_storage_url": REDIS_URL,
        "ratelimit_key_prefix": redis_prefix,
        "ratelimit_read": "3/minute",
    }
    # Two applications stand for two worker processes: they share the counters.
    one, two = make_app(**settings).test_client(), make_app(**settings).test_client()
    assert [c.get("/v1/status").status_code for c in (one, two, one)] == [200, 200, 200]
    assert_problem(two.get("/v1/status"), 429)


def test_an_unreachable_store_degrades_to_counting_in_memory(make_app, caplog):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    client = make_app(
        ratelimit_storage_url=closed,
        ratelimit_key_prefix=uuid.uuid4().hex,
        ratelimit_read="3/minute",
    ).test_client()
    with caplog.at_level(logging.INFO):
        answers = [client.get("/v1/status") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert_problem(answers[3], 429)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "unreachable" in warnings[0].getMessage() and not warnings[0].exc_info


def test_a_long_poll_counts_once(make_app):
    client = make_app(ratelimit_read="5/minute").test_client()
    waited = client.get("/v1/changes?after=0&wait=1")
    assert waited.status_code == 200 and remaining(waited) == 4
