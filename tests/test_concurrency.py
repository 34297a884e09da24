"""Concurrent writers against a real gunicorn with several worker processes, on each
backend."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import requests

from tests.conftest import CHECKPOINT, make_token

pytestmark = pytest.mark.gunicorn

CLIENTS = 16


@pytest.fixture
def database_url(any_database_url) -> str:
    return any_database_url


def test_of_many_writers_holding_one_etag_exactly_one_wins(server, store):
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    created = requests.post(f"{server.url}/v1/checkpoints", json=CHECKPOINT, headers=token)
    assert created.status_code == 201
    etag = created.headers["ETag"]
    barrier = Barrier(CLIENTS)

    def patch(i: int) -> int:
        with requests.Session() as session:
            barrier.wait()
            return session.patch(
                f"{server.url}/v1/checkpoints/medininkai",
                json={"name": f"Writer {i}"},
                headers={**token, "If-Match": etag},
                timeout=30,
            ).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(patch, range(CLIENTS)))

    assert statuses.count(200) == 1, statuses
    assert statuses.count(412) == CLIENTS - 1, statuses
    final = requests.get(f"{server.url}/v1/checkpoints/medininkai").json()
    assert final["revision"] == 2
    history = requests.get(f"{server.url}/v1/checkpoints/medininkai/revisions").json()["items"]
    assert len(history) == 2


def test_concurrent_creates_give_a_gap_free_feed_in_commit_order(server, store):
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    barrier = Barrier(CLIENTS)

    def create(i: int) -> list[int]:
        statuses = []
        with requests.Session() as session:
            barrier.wait()
            for j in range(5):
                body = {**CHECKPOINT, "id": f"point-{i}-{j}"}
                statuses.append(
                    session.post(
                        f"{server.url}/v1/checkpoints", json=body, headers=token, timeout=30
                    ).status_code
                )
        return statuses

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [s for batch in pool.map(create, range(CLIENTS)) for s in batch]
    assert statuses == [201] * (CLIENTS * 5)
    events = store.changes(after=0, limit=1000)
    assert [e["seq"] for e in events] == list(range(1, CLIENTS * 5 + 1))
    times = [e["recorded_at"] for e in events]
    assert times == sorted(times)
    assert len({e["resource_id"] for e in events}) == CLIENTS * 5


def test_of_many_overlapping_rules_written_at_once_exactly_one_is_stored(server, store):
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    assert (
        requests.post(f"{server.url}/v1/checkpoints", json=CHECKPOINT, headers=token).status_code
        == 201
    )
    barrier = Barrier(CLIENTS)

    def create(i: int) -> int:
        # Each rule starts on a different day, all open-ended: every pair overlaps.
        body = {
            "mode": "vehicle",
            "access": "allowed",
            "valid_from": f"2024-01-{i + 1:02d}T00:00:00Z",
        }
        with requests.Session() as session:
            barrier.wait()
            return session.post(
                f"{server.url}/v1/checkpoints/medininkai/rules",
                json=body,
                headers=token,
                timeout=30,
            ).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(create, range(CLIENTS)))
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == CLIENTS - 1, statuses
    rules = requests.get(f"{server.url}/v1/checkpoints/medininkai/rules?mode=vehicle").json()[
        "items"
    ]
    assert len(rules) == 1
