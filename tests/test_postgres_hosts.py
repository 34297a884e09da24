"""Several hosts on one PostgreSQL database: real gunicorns on their own ports."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from service.storage import open_store
from tests.conftest import CHECKPOINT, ROOT, Server, make_token

pytestmark = pytest.mark.gunicorn


@pytest.fixture
def pg_store(postgres_url):
    store = open_store(postgres_url)
    yield store
    store.close()


@pytest.fixture
def hosts(postgres_url, pg_store, tmp_path):
    """Two "hosts": two gunicorns with two workers each, on different ports. Their poll
    interval is long, so a prompt wake-up can only come from a commit notification."""
    env = {"CHECKPOINTS_FEED_POLL_INTERVAL": "5"}
    with (
        Server(postgres_url, workers=2, extra_env=env) as a,
        Server(postgres_url, workers=2, extra_env=env) as b,
    ):
        a.start(tmp_path / "a.log")
        b.start(tmp_path / "b.log")
        yield a, b


def _token(store) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}


def test_of_writers_on_two_hosts_holding_one_etag_exactly_one_wins(hosts, pg_store):
    a, b = hosts
    token = _token(pg_store)
    created = requests.post(f"{a.url}/v1/checkpoints", json=CHECKPOINT, headers=token, timeout=30)
    assert created.status_code == 201
    etag = created.headers["ETag"]
    barrier = threading.Barrier(12)

    def patch(i: int) -> int:
        host = (a, b)[i % 2]
        barrier.wait()
        return requests.patch(
            f"{host.url}/v1/checkpoints/medininkai",
            json={"name": f"Writer {i}"},
            headers={**token, "If-Match": etag},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(patch, range(12)))
    assert sorted(statuses) == [200] + [412] * 11, statuses
    assert requests.get(f"{b.url}/v1/checkpoints/medininkai", timeout=10).json()["revision"] == 2


def test_a_consumer_on_one_host_sees_every_write_made_on_the_other_once_in_order(hosts, pg_store):
    a, b = hosts
    token = _token(pg_store)
    count = 40

    def write(i: int) -> int:
        body = {**CHECKPOINT, "id": f"point-{i:02d}"}
        return requests.post(
            f"{b.url}/v1/checkpoints", json=body, headers=token, timeout=30
        ).status_code

    seen: list[dict] = []
    deadline = time.monotonic() + 60

    def consume() -> None:
        after = 0
        while len(seen) < count and time.monotonic() < deadline:
            page = requests.get(
                f"{a.url}/v1/changes", params={"after": after, "wait": 5}, timeout=30
            ).json()
            seen.extend(page["changes"])
            after = page["last_seq"]

    consumer = threading.Thread(target=consume)
    consumer.start()
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(write, range(count))) == [201] * count
    consumer.join(timeout=90)
    assert [e["seq"] for e in seen] == list(range(1, count + 1))
    assert sorted(e["resource_id"] for e in seen) == [f"point-{i:02d}" for i in range(count)]


def test_a_long_poll_on_one_host_wakes_within_a_second_of_a_write_on_the_other(hosts, pg_store):
    a, b = hosts
    token = _token(pg_store)
    for attempt in range(3):  # three wake-ups, each on a fresh long-poll
        result: dict = {}

        def poll(after=attempt, result=result) -> None:
            response = requests.get(
                f"{a.url}/v1/changes", params={"after": after, "wait": 20}, timeout=30
            )
            result["at"] = time.monotonic()
            result["body"] = response.json()

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)  # the long-poll is waiting on host A
        body = {**CHECKPOINT, "id": f"wake-{attempt}"}
        assert (
            requests.post(f"{b.url}/v1/checkpoints", json=body, headers=token, timeout=30)
        ).status_code == 201
        committed = time.monotonic()
        poller.join(timeout=25)
        assert [e["resource_id"] for e in result["body"]["changes"]] == [f"wake-{attempt}"]
        assert result["at"] - committed < 1.0, result["at"] - committed


def test_a_write_waiting_for_a_lock_does_not_stall_its_worker(postgres_url, pg_store, tmp_path):
    """One gevent worker: a write blocked inside PostgreSQL (the test holds the writers'
    lock) leaves the worker's other greenlets free to answer reads."""
    import psycopg

    token = _token(pg_store)
    with Server(postgres_url, workers=1) as server:
        server.start(tmp_path / "one.log")
        url = server.url
        assert requests.post(f"{url}/v1/checkpoints", json=CHECKPOINT, headers=token, timeout=30).ok
        with psycopg.connect(postgres_url) as holder:
            holder.execute("SELECT 1 FROM feed_state WHERE id = 1 FOR UPDATE")
            result: dict = {}

            def write() -> None:
                body = {**CHECKPOINT, "id": "blocked"}
                result["status"] = requests.post(
                    f"{url}/v1/checkpoints", json=body, headers=token, timeout=30
                ).status_code

            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(0.5)  # the write is now waiting for the lock inside the worker
            assert "status" not in result
            started = time.monotonic()
            read = requests.get(f"{url}/v1/checkpoints/medininkai", timeout=10)
            took = time.monotonic() - started
            time.sleep(1.0)
            holder.rollback()
        writer.join(timeout=30)
    assert read.status_code == 200
    assert took < 0.5, took
    assert result["status"] == 201


def _cli(*args: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "checkpoints"), *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CHECKPOINTS_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_init_db_on_several_hosts_at_once_migrates_once(postgres_database):
    # The session's database is migrated already; a fresh schema shows the race.
    import psycopg

    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS racing")
    url = f"{postgres_database}?options=-csearch_path%3Dracing"
    try:
        runs = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "checkpoints"), "init-db"],
                cwd=ROOT,
                env={"PATH": "/usr/bin:/bin", "CHECKPOINTS_DATABASE_URL": url},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], outputs
        with psycopg.connect(postgres_database, autocommit=True) as conn:
            applied = conn.execute("SELECT count(*) FROM racing.schema_migrations").fetchone()
        assert applied[0] == 1
    finally:
        with psycopg.connect(postgres_database, autocommit=True) as conn:
            conn.execute("DROP SCHEMA racing CASCADE")


def test_sync_mirrors_sqlite_into_postgresql_and_back(postgres_url, tmp_path):
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    assert _cli("init-db", url=source_url).returncode == 0
    source = open_store(source_url)
    token = {"Authorization": f"Bearer {make_token(source, 'root', 'admin')}"}
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    with Server(source_url, workers=1) as origin:
        origin.start(tmp_path / "origin.log")
        for i in range(3):
            body = {**CHECKPOINT, "id": f"point-{i}"}
            assert requests.post(
                f"{origin.url}/v1/checkpoints", json=body, headers=token, timeout=30
            ).ok
        etag = requests.get(f"{origin.url}/v1/checkpoints/point-1", timeout=10).headers["ETag"]
        deleted = requests.delete(
            f"{origin.url}/v1/checkpoints/point-1",
            headers={**token, "If-Match": etag},
            timeout=30,
        )
        assert deleted.status_code == 204
        sync = _cli("sync", origin.url, "--into", postgres_url, url=postgres_url)
        assert sync.returncode == 0, sync.stdout + sync.stderr
    with Server(postgres_url, workers=1) as mirror:
        mirror.start(tmp_path / "mirror.log")
        sync = _cli("sync", mirror.url, "--into", back_url, url=back_url)
        assert sync.returncode == 0, sync.stdout + sync.stderr
    stores = [source, open_store(postgres_url), open_store(back_url)]
    try:
        snapshots = [store.snapshot() for store in stores]
        assert snapshots[0]["seq"] == 4
        assert snapshots[0] == snapshots[1] == snapshots[2]
        assert [c["id"] for c in snapshots[2]["checkpoints"]] == ["point-0", "point-2"]
    finally:
        for store in stores:
            store.close()


def test_an_event_stream_on_one_host_gets_a_write_on_the_other_within_a_second(hosts, pg_store):
    a, b = hosts
    token = _token(pg_store)
    got: dict = {}

    def follow() -> None:
        with requests.get(f"{a.url}/v1/changes/stream", stream=True, timeout=30) as r:
            got["open"] = True
            for line in r.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    got["id"], got["at"] = line, time.monotonic()
                    return

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.7)  # the stream is open and waiting on host A
    assert got.get("open")
    posted = requests.post(f"{b.url}/v1/checkpoints", json=CHECKPOINT, headers=token, timeout=30)
    assert posted.status_code == 201
    committed = time.monotonic()
    follower.join(timeout=25)
    assert got["id"] == "id: 1"
    assert got["at"] - committed < 1.0, got["at"] - committed
