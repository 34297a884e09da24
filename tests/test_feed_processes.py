"""The feed under concurrent writers and consumers, against a real gunicorn."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from service.storage import NotFound, open_store
from tests.conftest import CHECKPOINT, ROOT, Server, make_token

pytestmark = pytest.mark.gunicorn

WRITERS = 6
WRITES_EACH = 15
CONSUMERS = 4


def _writer(url: str, token: dict, index: int) -> None:
    with requests.Session() as session:
        for j in range(WRITES_EACH):
            body = {**CHECKPOINT, "id": f"w{index}-{j}"}
            response = session.post(f"{url}/v1/checkpoints", json=body, headers=token, timeout=30)
            assert response.status_code == 201
            if j % 3 == 0:
                patch = session.patch(
                    f"{url}/v1/checkpoints/w{index}-{j}",
                    json={"name": f"renamed {j}"},
                    headers={**token, "If-Match": response.headers["ETag"]},
                    timeout=30,
                )
                assert patch.status_code == 200


def _consumer(url: str, done: threading.Event, seed: int) -> list[int]:
    """Long-polls with small pages and drops its connection at random, resuming each time
    from the last seq it kept."""
    rng = random.Random(seed)
    seen: list[int] = []
    after = 0
    while True:
        with requests.Session() as session:
            for _ in range(rng.randint(1, 4)):
                response = session.get(
                    f"{url}/v1/changes",
                    params={"after": after, "limit": rng.randint(1, 7), "wait": 1},
                    timeout=30,
                )
                assert response.status_code == 200
                body = response.json()
                seen += [c["seq"] for c in body["changes"]]
                after = body["last_seq"]
                if done.is_set() and not body["changes"] and not body["has_more"]:
                    return seen


def _sse_consumer(url: str, done: threading.Event) -> list[int]:
    """Follows the stream, hanging up now and then and resuming with Last-Event-ID."""
    seen: list[int] = []
    last_id = None
    while True:
        headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
        with requests.get(
            f"{url}/v1/changes/stream", headers=headers, stream=True, timeout=30
        ) as r:
            assert r.status_code == 200
            taken = 0
            for line in r.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    last_id = int(line[4:])
                    seen.append(last_id)
                    taken += 1
                if taken >= 11:
                    break  # hang up mid-stream
                if line.startswith(":") and done.is_set():
                    return seen  # a heartbeat after the writers finished: caught up
            else:
                continue


def test_every_consumer_sees_every_committed_event_once_in_order(database_url, app, tmp_path):
    store = app.extensions["checkpoints.store"]
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    server = Server(database_url, workers=3, extra_env={"CHECKPOINTS_STREAM_HEARTBEAT": "0.5"})
    server.start(tmp_path / "gunicorn.log")
    try:
        done = threading.Event()
        with ThreadPoolExecutor(WRITERS + CONSUMERS + 1) as pool:
            consumers = [
                pool.submit(_consumer, server.url, done, seed) for seed in range(CONSUMERS)
            ]
            stream = pool.submit(_sse_consumer, server.url, done)
            writers = [pool.submit(_writer, server.url, token, i) for i in range(WRITERS)]
            for writer in writers:
                writer.result()
            done.set()
            results = [c.result(timeout=60) for c in consumers] + [stream.result(timeout=60)]
        committed = [e["seq"] for e in store.changes(after=0, limit=10_000)]
        assert len(committed) == WRITERS * WRITES_EACH + WRITERS * ((WRITES_EACH + 2) // 3)
        assert committed == list(range(1, len(committed) + 1))
        for seen in results:
            assert seen == committed
    finally:
        server.stop()


def test_a_long_poll_wakes_on_a_commit_from_another_process(server, store):
    def poll():
        started = time.monotonic()
        response = requests.get(
            f"{server.url}/v1/changes", params={"after": 0, "wait": 20}, timeout=30
        )
        return time.monotonic() - started, response.json()

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(poll)
        time.sleep(1.0)
        committed_at = time.monotonic()
        # This test process is not one of gunicorn's workers: a commit from elsewhere.
        store.create(
            resource_type="checkpoint", resource_id="medininkai", data=CHECKPOINT, actor="x"
        )
        elapsed, body = waiting.result()
    assert [c["resource_id"] for c in body["changes"]] == ["medininkai"]
    assert time.monotonic() - committed_at < 1.5
    assert elapsed < 3


def test_sse_resumes_from_last_event_id_and_sends_heartbeats(database_url, app, tmp_path):
    store = app.extensions["checkpoints.store"]
    for i in range(5):
        store.create(
            resource_type="checkpoint",
            resource_id=f"p{i}x",
            data={**CHECKPOINT, "id": f"p{i}x"},
            actor="x",
        )
    server = Server(database_url, workers=2, extra_env={"CHECKPOINTS_STREAM_HEARTBEAT": "0.3"})
    server.start(tmp_path / "gunicorn.log")
    try:
        with requests.get(
            f"{server.url}/v1/changes/stream",
            headers={"Last-Event-ID": "2"},
            stream=True,
            timeout=10,
        ) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            lines = []
            for line in r.iter_lines(decode_unicode=True):
                lines.append(line)
                if line.startswith(": heartbeat"):
                    break
        ids = [int(line[4:]) for line in lines if line.startswith("id: ")]
        assert ids == [3, 4, 5]
        data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
        assert [d["resource_id"] for d in data] == ["p2x", "p3x", "p4x"]
        assert lines.count("event: change") == 3
        with requests.get(f"{server.url}/v1/changes/stream?after=4", stream=True, timeout=10) as r:
            first_id = next(
                line for line in r.iter_lines(decode_unicode=True) if line.startswith("id: ")
            )
        assert first_id == "id: 5"
    finally:
        server.stop()


def _checkpoints(*args, env_url):
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "checkpoints"), *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CHECKPOINTS_DATABASE_URL": env_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _content(url: str) -> dict:
    store = open_store(url)
    try:
        return store.snapshot()
    finally:
        store.close()


def test_sync_survives_being_killed_and_resnapshots_after_410(database_url, app, tmp_path, server):
    store = app.extensions["checkpoints.store"]
    token = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    mirror_url = f"sqlite:///{tmp_path / 'mirror.db'}"
    stop = threading.Event()

    def keep_writing():
        with requests.Session() as session:
            i = 0
            while not stop.is_set():
                body = {**CHECKPOINT, "id": f"s-{i}"}
                assert (
                    session.post(
                        f"{server.url}/v1/checkpoints", json=body, headers=token, timeout=30
                    ).status_code
                    == 201
                )
                i += 1

    for i in range(30):
        store.create(
            resource_type="checkpoint",
            resource_id=f"early-{i}",
            data={**CHECKPOINT, "id": f"early-{i}"},
            actor="x",
        )
    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        follower = _checkpoints(
            "sync", server.url, "--into", mirror_url, "--follow", env_url=mirror_url
        )
        time.sleep(2.0)
        follower.send_signal(signal.SIGKILL)  # no chance to tidy up
        follower.wait(timeout=10)
        follower.stdout.close()
        mirror = open_store(mirror_url)
        killed_at = mirror.sync_position(source=server.url)
        mirror.close()
        assert killed_at and killed_at >= 30
        time.sleep(0.5)
    finally:
        stop.set()
        writer.join()
    resumed = _checkpoints("sync", server.url, "--into", mirror_url, env_url=mirror_url)
    output, _ = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, output
    assert _content(mirror_url) == _content(database_url)
    mirror = open_store(mirror_url)
    assert [e["seq"] for e in mirror.changes(after=killed_at, limit=100_000)] == list(
        range(killed_at + 1, store.feed_position() + 1)
    )
    mirror.close()

    # Events the mirror has not seen are compacted away at the source: 410, re-snapshot.
    store.create(
        resource_type="checkpoint", resource_id="late", data={**CHECKPOINT, "id": "late"}, actor="x"
    )
    etag_target = store.get(resource_type="checkpoint", resource_id="early-0")
    store.delete(
        resource_type="checkpoint",
        resource_id="early-0",
        expected_revision=etag_target.revision,
        actor="x",
    )
    store.compact_feed(before_seq=store.feed_position())
    again = _checkpoints("sync", server.url, "--into", mirror_url, env_url=mirror_url)
    output, _ = again.communicate(timeout=60)
    assert again.returncode == 0, output
    assert _content(mirror_url) == _content(database_url)


def test_a_stream_whose_client_left_frees_its_slot(database_url, app, tmp_path):
    server = Server(
        database_url,
        workers=1,
        extra_env={"CHECKPOINTS_STREAM_HEARTBEAT": "0.2", "CHECKPOINTS_MAX_HELD_REQUESTS": "2"},
    )
    server.start(tmp_path / "gunicorn.log")
    try:
        streams = [
            requests.get(f"{server.url}/v1/changes/stream", stream=True, timeout=10)
            for _ in range(2)
        ]
        assert [s.status_code for s in streams] == [200, 200]
        refused = requests.get(f"{server.url}/v1/changes/stream", timeout=10)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        for stream in streams:
            stream.close()
        deadline = time.monotonic() + 5
        while True:
            again = requests.get(f"{server.url}/v1/changes/stream", stream=True, timeout=10)
            status = again.status_code
            again.close()
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 200, "the departed clients' slots were never freed"
    finally:
        server.stop()


def _fill(url: str, count: int, prefix: str) -> None:
    store = open_store(url)
    try:
        store.migrate()
        for i in range(count):
            body = {**CHECKPOINT, "id": f"{prefix}-{i}", "name": f"{prefix} {i}"}
            store.create(resource_type="checkpoint", resource_id=body["id"], data=body, actor="x")
    finally:
        store.close()


def test_sync_resnapshots_when_the_source_was_reset_behind_its_position(tmp_path):
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("first.db", "second.db"))
    mirror_url = f"sqlite:///{tmp_path / 'mirror.db'}"
    _fill(first, 6, "old")
    _fill(second, 3, "new")  # the source restored from an older, different database
    with Server(first, workers=2) as source:
        source.start(tmp_path / "first.log")
        for batch in ("old", "older"):  # a snapshot, then six events from the feed
            if batch == "older":
                _fill(first, 6, batch)
            synced = _checkpoints("sync", source.url, "--into", mirror_url, env_url=mirror_url)
            output, _ = synced.communicate(timeout=60)
            assert synced.returncode == 0, output
        url, port = source.url, source.port
    mirror = open_store(mirror_url)
    try:
        assert mirror.revision(resource_type="checkpoint", resource_id="older-0", number=1)
    finally:
        mirror.close()
    assert _content(mirror_url) == _content(first)
    with Server(second, workers=2) as reset:
        # The same address as before: to the mirror, its source went back in time.
        reset.port, reset.url, reset.env["PORT"] = port, url, str(port)
        reset.start(tmp_path / "second.log")
        ahead = requests.get(f"{url}/v1/changes", params={"after": 12}, timeout=10)
        assert ahead.status_code == 409 and ahead.json()["last_seq"] == 3
        again = _checkpoints("sync", url, "--into", mirror_url, env_url=mirror_url)
        output, _ = again.communicate(timeout=60)
        assert again.returncode == 0, output
        assert "re-snapshotting" in output
    assert _content(mirror_url) == _content(second)
    mirror = open_store(mirror_url)
    try:
        assert mirror.sync_position(source=url) == 3
        # Nothing of the old source's history is served as the new one's.
        with pytest.raises(NotFound):
            mirror.revision(resource_type="checkpoint", resource_id="older-0", number=1)
    finally:
        mirror.close()
