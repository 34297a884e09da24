"""Concurrent writers against a real gunicorn with several worker processes, on each
backend. Each race is repeated until the access log shows that at least two worker
processes answered its racing requests: which worker accepts a connection is the kernel's
choice, and on a loaded machine one worker may take a whole round."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import requests

from tests.conftest import CHECKPOINT, Server, make_token

pytestmark = pytest.mark.gunicorn

CLIENTS = 16
#: Rounds of a one-winner race that must each reach two workers.
SPREAD_ROUNDS = 3
#: How long rounds are repeated, at most, waiting for two workers to answer one round.
ROUNDS_SECONDS = 90.0


@pytest.fixture
def database_url(any_database_url) -> str:
    return any_database_url


@pytest.fixture
def server(app, database_url, tmp_path):
    """Three worker processes, each access-log line naming the worker that answered."""
    with Server(database_url, log_worker_pids=True) as server:
        server.start(tmp_path / "gunicorn.log")
        yield server


def race(request) -> list:
    """``request(session, i)`` for i in range(CLIENTS), each in its own thread and
    connection, all released at once; their results in order."""
    barrier = Barrier(CLIENTS)

    def run(i: int):
        with requests.Session() as session:
            barrier.wait()
            return request(session, i)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(run, range(CLIENTS)))


def until_two_workers_race(server: Server, method: str, path, one_round, *, spread=1) -> Counter:
    """Run ``one_round(n)`` (a race that checks its own outcome) for n = 0, 1, ... until in
    ``spread`` rounds the racing ``method`` requests to ``path(n)`` were answered by at least
    two worker processes; returns the requests per worker pid over those rounds. (In a round
    that two workers shared, one may still have answered after the race was decided: more
    spread rounds make a missed race unlikely.)"""
    deadline = time.monotonic() + ROUNDS_SECONDS
    spread_over: Counter = Counter()
    n = spread_rounds = 0
    while spread_rounds < spread:
        before = server.served_by(method, path(n))
        one_round(n)
        workers = server.served_by(method, path(n)) - before
        if len(workers) >= 2:
            spread_rounds += 1
            spread_over += workers
        assert time.monotonic() < deadline, (
            f"after {n + 1} rounds, only {spread_rounds} had racing requests answered by two"
            f" workers (the last: {dict(workers)})"
        )
        n += 1
    return spread_over


def test_of_many_writers_holding_one_etag_exactly_one_wins(server, store):
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}

    def one_round(n: int) -> None:
        url = f"{server.url}/v1/checkpoints/race-{n}"
        created = requests.post(
            f"{server.url}/v1/checkpoints", json={**CHECKPOINT, "id": f"race-{n}"}, headers=token
        )
        assert created.status_code == 201
        etag = created.headers["ETag"]
        statuses = race(
            lambda session, i: (
                session.patch(
                    url,
                    json={"name": f"Writer {i}"},
                    headers={**token, "If-Match": etag},
                    timeout=30,
                ).status_code
            )
        )
        assert statuses.count(200) == 1, statuses
        assert statuses.count(412) == CLIENTS - 1, statuses
        assert requests.get(url).json()["revision"] == 2
        assert len(requests.get(f"{url}/revisions").json()["items"]) == 2

    workers = until_two_workers_race(
        server, "PATCH", lambda n: f"/v1/checkpoints/race-{n}", one_round, spread=SPREAD_ROUNDS
    )
    assert sum(workers.values()) == CLIENTS * SPREAD_ROUNDS, workers


def test_concurrent_creates_give_a_gap_free_feed_in_commit_order(server, store):
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    written = []

    def one_round(n: int) -> None:
        def create(session, i: int) -> list[int]:
            return [
                session.post(
                    f"{server.url}/v1/checkpoints",
                    json={**CHECKPOINT, "id": f"point-{n}-{i}-{j}"},
                    headers=token,
                    timeout=30,
                ).status_code
                for j in range(5)
            ]

        statuses = [status for batch in race(create) for status in batch]
        assert statuses == [201] * (CLIENTS * 5)
        written.extend(f"point-{n}-{i}-{j}" for i in range(CLIENTS) for j in range(5))
        events = store.changes(after=0, limit=10_000)
        assert [e["seq"] for e in events] == list(range(1, len(written) + 1))
        times = [e["recorded_at"] for e in events]
        assert times == sorted(times)
        assert sorted(e["resource_id"] for e in events) == sorted(written)

    until_two_workers_race(server, "POST", lambda n: "/v1/checkpoints", one_round)


def test_of_many_overlapping_rules_written_at_once_exactly_one_is_stored(server, store):
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}

    def one_round(n: int) -> None:
        checkpoint = f"overlap-{n}"
        assert (
            requests.post(
                f"{server.url}/v1/checkpoints", json={**CHECKPOINT, "id": checkpoint}, headers=token
            ).status_code
            == 201
        )

        def create(session, i: int) -> int:
            # Each rule starts on a different day, all open-ended: every pair overlaps.
            body = {
                "mode": "vehicle",
                "access": "allowed",
                "valid_from": f"2024-01-{i + 1:02d}T00:00:00Z",
            }
            return session.post(
                f"{server.url}/v1/checkpoints/{checkpoint}/rules",
                json=body,
                headers=token,
                timeout=30,
            ).status_code

        statuses = race(create)
        assert statuses.count(201) == 1, statuses
        assert statuses.count(409) == CLIENTS - 1, statuses
        rules = requests.get(f"{server.url}/v1/checkpoints/{checkpoint}/rules?mode=vehicle").json()[
            "items"
        ]
        assert len(rules) == 1

    until_two_workers_race(
        server,
        "POST",
        lambda n: f"/v1/checkpoints/overlap-{n}/rules",
        one_round,
        spread=SPREAD_ROUNDS,
    )


def test_concurrent_retries_of_one_idempotency_key_write_once(server, store):
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}

    def one_round(n: int) -> None:
        body = {**CHECKPOINT, "id": f"retried-{n}"}
        headers = {**token, "Idempotency-Key": f"key-{n}"}
        before = store.feed_position()
        responses = race(
            lambda session, i: session.post(
                f"{server.url}/v1/checkpoints", json=body, headers=headers, timeout=30
            )
        )
        # A retry waits for the write lock, then replays the first one's answer.
        assert [r.status_code for r in responses] == [201] * CLIENTS
        assert len({r.json()["created_at"] for r in responses}) == 1
        assert store.feed_position() == before + 1
        replay = requests.post(
            f"{server.url}/v1/checkpoints", json=body, headers=headers, timeout=30
        )
        assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"

    until_two_workers_race(
        server, "POST", lambda n: "/v1/checkpoints", one_round, spread=SPREAD_ROUNDS
    )
