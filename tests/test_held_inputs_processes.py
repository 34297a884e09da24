"""Held decision inputs across processes: a write through one gunicorn worker (or, on
PostgreSQL, through another host) is in the very next answer of every other worker."""

from __future__ import annotations

import itertools
import re
import time

import pytest
import requests

from service.storage import open_store
from tests.conftest import CHECKPOINT, Server, make_token

pytestmark = pytest.mark.gunicorn

DECISION = "/v1/decisions?checkpoint_id=medininkai&mode=pedestrian"
CLOSURE = {"starts_at": "2020-01-01T00:00:00Z", "reason": "security"}
#: The access log names the worker (its pid) that answered each probe.
LOG = {"GUNICORN_CMD_ARGS": "--access-logformat='probe %(p)s %({x-probe}i)s %(s)s'"}

_probes = itertools.count()


def ask(server: Server, method: str = "GET", path: str = DECISION, **kwargs) -> tuple:
    """One request on a fresh connection, tagged so the log tells which worker took it."""
    probe = str(next(_probes))
    response = requests.request(
        method,
        server.url + path,
        headers={"X-Probe": probe, **kwargs.pop("headers", {})},
        timeout=30,
        **kwargs,
    )
    return probe, response


def worker_of(server: Server, probe: str) -> int:
    deadline = time.monotonic() + 10
    while True:
        found = re.search(rf"probe <(\d+)> {probe} ", server.log_tail(10**7))
        if found:
            return int(found.group(1))
        if time.monotonic() > deadline:
            raise AssertionError(f"probe {probe} not in the log:\n{server.log_tail()}")
        time.sleep(0.05)


def warm(server: Server, workers: int, path: str = DECISION) -> set[int]:
    """Ask until ``workers`` distinct workers have answered (each now holds the inputs)."""
    seen: set[int] = set()
    for _ in range(200):
        probe, response = ask(server, path=path)
        assert response.status_code == 200 and response.json()["allowed"] is not False
        seen.add(worker_of(server, probe))
        if len(seen) == workers:
            return seen
    raise AssertionError(f"only workers {seen} answered")


def closed_on_every_worker(server: Server, workers: set[int]) -> None:
    """After the acknowledged write every answer is the closure's, until each of ``workers``
    has answered at least once."""
    seen: set[int] = set()
    for _ in range(200):
        probe, response = ask(server)
        assert response.status_code == 200
        assert response.json()["allowed"] is False, response.json()
        seen.add(worker_of(server, probe))
        if seen >= workers:
            return
    raise AssertionError(f"only workers {seen} of {workers} answered")


def create(server: Server, token: str, path: str, body: dict) -> int:
    """POST ``body`` to ``path`` as an editor; the pid of the worker that created it."""
    probe, response = ask(
        server, "POST", path, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return worker_of(server, probe)


def write_closure(server: Server, token: str) -> int:
    return create(server, token, "/v1/checkpoints/medininkai/closures", CLOSURE)


def create_checkpoint(server: Server, token: str) -> None:
    create(server, token, "/v1/checkpoints", CHECKPOINT)


def test_a_write_through_one_worker_is_in_the_next_answer_of_another(app, database_url, tmp_path):
    store = app.extensions["checkpoints.store"]
    token = make_token(store, "alice", "editor")
    with Server(database_url, workers=2, extra_env=LOG) as server:
        server.start(tmp_path / "gunicorn.log")
        create_checkpoint(server, token)
        warmed = warm(server, 2)  # both workers hold the inputs from before the write
        write_pid = write_closure(server, token)
        assert write_pid in warmed
        closed_on_every_worker(server, warmed)


def test_a_write_to_a_checkpoint_whose_inputs_a_worker_let_go_is_in_its_next_answer(
    app, database_url, tmp_path
):
    store = app.extensions["checkpoints.store"]
    token = make_token(store, "alice", "editor")
    held_one = {**LOG, "CHECKPOINTS_HELD_CHECKPOINTS": "1"}
    with Server(database_url, workers=2, extra_env=held_one) as server:
        server.start(tmp_path / "gunicorn.log")
        create_checkpoint(server, token)
        create(server, token, "/v1/checkpoints", {**CHECKPOINT, "id": "other", "name": "Other"})
        warmed = warm(server, 2)
        # Each worker now holds the other checkpoint's inputs in place of medininkai's.
        other = DECISION.replace("medininkai", "other")
        assert warm(server, 2, other) == warmed
        write_closure(server, token)
        closed_on_every_worker(server, warmed)


def test_a_write_through_another_host_is_in_the_next_answer_here(postgres_url, tmp_path):
    store = open_store(postgres_url)
    try:
        token = make_token(store, "alice", "editor")
    finally:
        store.close()
    with (
        Server(postgres_url, workers=2, extra_env=LOG) as a,
        Server(postgres_url, workers=2, extra_env=LOG) as b,
    ):
        a.start(tmp_path / "a.log")
        b.start(tmp_path / "b.log")
        create_checkpoint(a, token)
        warmed_b = warm(b, 2)
        warm(a, 2)
        write_closure(a, token)
        # Both of b's workers held the inputs from before the write on host a.
        closed_on_every_worker(b, warmed_b)


AT = "2025-06-02T12:00:00Z"


def state_of(body: dict) -> str:
    return body["state"]


def first_state(body: dict) -> str:
    return body["items"][0]["state"]


def name_of(body: dict) -> str:
    return body["name"]


def first_name(body: dict) -> str:
    return body["items"][0]["name"]


def rename(server: Server, token: str) -> int:
    path = "/v1/checkpoints/medininkai"
    _, current = ask(server, path=path)
    probe, response = ask(
        server,
        "PATCH",
        path,
        json={"name": "Medininkai (LT)"},
        headers={"Authorization": f"Bearer {token}", "If-Match": current.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    return worker_of(server, probe)


@pytest.mark.parametrize(
    ("path", "read", "before", "write", "after"),
    [
        pytest.param(
            f"/v1/checkpoints/medininkai/status?at={AT}",
            state_of,
            "unknown",
            write_closure,
            "closed",
            id="status",
        ),
        pytest.param(
            f"/v1/status?limit=10&at={AT}",
            first_state,
            "unknown",
            write_closure,
            "closed",
            id="page",
        ),
        pytest.param(
            "/v1/checkpoints/medininkai",
            name_of,
            "Medininkai",
            rename,
            "Medininkai (LT)",
            id="checkpoint",
        ),
        pytest.param(
            "/v1/checkpoints?limit=10",
            first_name,
            "Medininkai",
            rename,
            "Medininkai (LT)",
            id="list",
        ),
    ],
)
def test_a_held_answer_is_not_sent_after_a_write_through_another_worker(
    app, database_url, tmp_path, path, read, before, write, after
):
    store = app.extensions["checkpoints.store"]
    token = make_token(store, "alice", "editor")
    with Server(database_url, workers=2, extra_env=LOG) as server:
        server.start(tmp_path / "gunicorn.log")
        create_checkpoint(server, token)
        answered: dict[int, int] = {}
        for _ in range(200):  # until each worker has answered twice: the answer is held there
            probe, response = ask(server, path=path)
            assert response.status_code == 200 and read(response.json()) == before
            pid = worker_of(server, probe)
            answered[pid] = answered.get(pid, 0) + 1
            if len(answered) == 2 and min(answered.values()) >= 2:
                break
        else:
            raise AssertionError(f"workers answered {answered}")
        assert write(server, token) in answered
        seen: set[int] = set()
        for _ in range(200):
            probe, response = ask(server, path=path)
            assert response.status_code == 200 and read(response.json()) == after
            seen.add(worker_of(server, probe))
            if seen == set(answered):
                return
        raise AssertionError(f"only workers {seen} of {set(answered)} answered")
