"""Rate limits under a real gunicorn with three worker processes: the Redis store is one
budget for all of them, the in-memory store one per worker; a Redis that is down costs no
answer."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import REDIS_URL, Server, free_port

pytestmark = pytest.mark.gunicorn

LIMIT = 30
REQUESTS = 60


@pytest.fixture
def serve(app, database_url, tmp_path):
    """Start gunicorn (three workers) with a rate-limit store; stopped whatever happens."""
    servers = []

    def start(storage_url: str, prefix: str = "checkpoints") -> Server:
        server = Server(
            database_url,
            workers=3,
            extra_env={
                "CHECKPOINTS_RATELIMIT_STORAGE_URL": storage_url,
                "CHECKPOINTS_RATELIMIT_KEY_PREFIX": prefix,
                "CHECKPOINTS_RATELIMIT_READ": f"{LIMIT}/hour",
            },
            log_worker_pids=True,
        )
        servers.append(server)
        server.start(tmp_path / "gunicorn.log")
        return server

    yield start
    for server in servers:
        server.stop()


def _workers(server: Server) -> Counter:
    """Reads per worker pid, from the access log."""
    return server.served_by("GET", "/v1/status")


def _read_on_fresh_connections(server: Server) -> list[int]:
    """At least REQUESTS reads, each on a new connection, several at once, until the access
    log shows that at least two workers answered (which worker accepts a connection is the
    kernel's choice: on a loaded machine one may take a whole round)."""

    def read(_):
        response = requests.get(
            f"{server.url}/v1/status", headers={"Connection": "close"}, timeout=10
        )
        return response.status_code

    statuses: list[int] = []
    with ThreadPoolExecutor(12) as pool:
        for _ in range(10):
            statuses += pool.map(read, range(REQUESTS // 2))
            if len(statuses) >= REQUESTS and len(_workers(server)) >= 2:
                break
    return statuses


def test_a_redis_store_is_one_budget_for_every_worker(serve, redis_prefix):
    server = serve(REDIS_URL, redis_prefix)
    statuses = _read_on_fresh_connections(server)
    server.stop()
    workers = _workers(server)
    assert len(workers) >= 2, f"the requests did not reach several workers: {workers}"
    assert Counter(statuses) == {200: LIMIT, 429: len(statuses) - LIMIT}, workers


def test_the_memory_store_is_a_budget_per_worker(serve):
    server = serve("memory://")
    statuses = _read_on_fresh_connections(server)
    server.stop()
    workers = _workers(server)
    assert len(workers) >= 2, f"the requests did not reach several workers: {workers}"
    # Each worker admits up to LIMIT of its own requests.
    assert statuses.count(200) == sum(min(count, LIMIT) for count in workers.values()) > LIMIT


def test_an_unreachable_redis_costs_no_answer(serve, tmp_path):
    server = serve(f"redis://127.0.0.1:{free_port()}/0")
    statuses = _read_on_fresh_connections(server)
    server.stop()
    log = (tmp_path / "gunicorn.log").read_text()
    workers = _workers(server)
    assert set(statuses) <= {200, 429} and statuses.count(200) >= LIMIT, Counter(statuses)
    # One warning per worker that took requests, and no traceback.
    assert log.count("Rate limit storage unreachable") == len(workers), log[-3000:]
    assert "Traceback" not in log
