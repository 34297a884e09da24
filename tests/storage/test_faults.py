"""Storage under faults, on real files: a process killed inside a write, damaged pages and
headers, read-only files, folders and filesystems, a full disk, and backups while writing."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from service import create_app
from service.config import Config
from service.storage.times import now_stamp
from tests.conftest import CHECKPOINT, ROOT, assert_problem, make_token

CHECKPOINTS = str(Path(sys.executable).parent / "checkpoints")


def point(i: int) -> dict:
    return {**CHECKPOINT, "id": f"point-{i:04d}", "name": f"Point {i} " + "x" * 150}


def checkpoint_wal(path: Path) -> None:
    """Move every committed page into the main file (nothing left in the WAL)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def damage_pages(path: Path, table: str) -> None:
    """Overwrite the root pages of a table and of its indexes with garbage, as a failing
    disk or a stray write would."""
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        roots = [
            row[0]
            for row in conn.execute(
                "SELECT rootpage FROM sqlite_master WHERE tbl_name = ?", [table]
            )
        ]
    finally:
        conn.close()
    assert roots and 1 not in roots
    with open(path, "r+b") as file:
        for root in roots:
            file.seek((root - 1) * page_size)
            file.write(b"\xa5" * page_size)


def damage_header(path: Path) -> None:
    with open(path, "r+b") as file:
        file.write(b"\x00garbage" * 12 + b"\x00" * 4)  # the 100-byte header


def filled_database(database_url: str, count: int = 60) -> Path:
    """A migrated database with ``count`` checkpoints, every page in the main file."""
    app = create_app(Config(database_url=database_url))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    for i in range(count):
        store.create(
            resource_type="checkpoint", resource_id=f"point-{i:04d}", data=point(i), actor="alice"
        )
    store.close()
    path = Path(database_url.removeprefix("sqlite:///"))
    checkpoint_wal(path)
    return path


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHECKPOINTS, *args],
        cwd=ROOT,
        env={**os.environ, "CHECKPOINTS_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- idempotency: nothing outlives a transaction that did not commit -------------------------

_KILLED_INSIDE_A_CREATE = """
import os, signal, sqlite3, sys

connect = sqlite3.connect

def connect_and_die_inside_a_create(*args, **kwargs):
    conn = connect(*args, **kwargs)

    def trace(statement):
        # The feed row is written inside the create's transaction, after the resource:
        # the process dies there, as a SIGKILLed worker would, before the commit.
        if statement.startswith("INSERT INTO changes"):
            os.kill(os.getpid(), signal.SIGKILL)

    conn.set_trace_callback(trace)
    return conn

sqlite3.connect = connect_and_die_inside_a_create

from service import create_app
from service.config import Config
from tests.conftest import CHECKPOINT

app = create_app(Config(database_url=sys.argv[1]))
app.test_client().post(
    "/v1/checkpoints",
    json=CHECKPOINT,
    headers={"Authorization": "Bearer " + os.environ["TOKEN"], "Idempotency-Key": "k-1"},
)
sys.exit("the create was not interrupted")
"""


def test_a_create_killed_inside_its_transaction_leaves_no_key_behind(database_url, store, client):
    secret = make_token(store, "alice", "editor")
    store.close()
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_INSIDE_A_CREATE, database_url],
        cwd=ROOT,
        env={**os.environ, "TOKEN": secret},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert store.feed_position() == 0  # the killed create wrote nothing
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "k-1"}
    retry = client.post("/v1/checkpoints", json=CHECKPOINT, headers=headers)
    assert retry.status_code == 201, retry.get_data(as_text=True)
    assert "Idempotent-Replayed" not in retry.headers
    again = client.post("/v1/checkpoints", json=CHECKPOINT, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == retry.get_json()
    assert store.feed_position() == 1  # written once


def test_expired_idempotency_keys_are_purged_a_batch_at_a_time(app, store, client, editor):
    path = Path(store.path)
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO idempotency_keys (actor, key, fingerprint, state, created_at) "
            "VALUES ('alice', ?, 'f', 'done', '2000-01-01T00:00:00.000000Z')",
            [(f"old-{i}",) for i in range(250)],
        )
    for i in range(3):
        response = client.post(
            "/v1/checkpoints", json=point(i), headers={**editor, "Idempotency-Key": f"new-{i}"}
        )
        assert response.status_code == 201
    keys = [row[0] for row in conn.execute("SELECT key FROM idempotency_keys ORDER BY key")]
    conn.close()
    assert keys == ["new-0", "new-1", "new-2"]


def test_an_expired_key_is_a_new_request(database_url, store):
    app = create_app(Config(database_url=database_url, idempotency_ttl=1))
    client = app.test_client()
    headers = {
        "Authorization": f"Bearer {make_token(store, 'alice', 'editor')}",
        "Idempotency-Key": "k",
    }
    assert client.post("/v1/checkpoints", json=point(1), headers=headers).status_code == 201
    deadline = time.monotonic() + 10
    while now_stamp() < _stamp_after(store, seconds=1) and time.monotonic() < deadline:
        time.sleep(0.1)
    second = client.post("/v1/checkpoints", json=point(2), headers=headers)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    app.extensions["checkpoints.store"].close()


def _stamp_after(store, *, seconds: int) -> str:
    from datetime import timedelta

    from service.storage.times import parse_stamp, to_stamp

    conn = sqlite3.connect(store.path)
    created = conn.execute("SELECT max(created_at) FROM idempotency_keys").fetchone()[0]
    conn.close()
    return to_stamp(parse_stamp(created) + timedelta(seconds=seconds, milliseconds=100))


# --- a damaged database ------------------------------------------------------------------------


def test_init_db_refuses_damaged_pages_with_one_line(database_url):
    path = filled_database(database_url)
    damage_pages(path, "checkpoints")
    result = run_cli(database_url, "init-db")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_init_db_refuses_a_damaged_header_with_one_line(database_url):
    path = filled_database(database_url)
    damage_header(path)
    result = run_cli(database_url, "init-db")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not an SQLite database" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_damaged_header_is_a_503_not_a_traceback(database_url, caplog):
    path = filled_database(database_url)
    damage_header(path)
    client = create_app(Config(database_url=database_url)).test_client()
    assert_problem(client.get("/v1/checkpoints/point-0001"), 503)
    assert_problem(client.get("/readyz"), 503)


def test_damage_met_while_serving_refuses_writes_and_readiness_and_is_logged_once(
    database_url, caplog
):
    path = filled_database(database_url)
    app = create_app(Config(database_url=database_url))
    store = app.extensions["checkpoints.store"]
    client = app.test_client()
    editor = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    assert client.get("/readyz").status_code == 200
    store.close()
    checkpoint_wal(path)
    damage_pages(path, "checkpoints")
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            body = assert_problem(
                client.post("/v1/checkpoints", json=point(100 + i), headers=editor), 503
            )
            assert body["type"].endswith(":storage-corrupt")
        assert_problem(client.get("/readyz"), 503)
        # Writes that would not touch the damaged pages are refused too.
        body = assert_problem(client.post("/v1/checkpoints", json=point(200), headers=editor), 503)
        assert body["type"].endswith(":storage-corrupt")
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(loud) == 1 and "DATABASE DAMAGED" in loud[0].getMessage(), loud
    store.close()


# --- backups -----------------------------------------------------------------------------------

_WRITER = """
import sys, time
from service.storage import open_store

store = open_store(sys.argv[1])
deadline = time.monotonic() + 20
i = 0
while time.monotonic() < deadline and i < 3000:
    store.create(resource_type="checkpoint", resource_id=f"w-{i}",
                 data={"id": f"w-{i}", "name": "w", "countries": ["LT", "BY"], "kind": "road",
                       "timezone": "Europe/Vilnius"}, actor="writer")
    if i % 2:
        store.update(resource_type="checkpoint", resource_id=f"w-{i}",
                     data={"id": f"w-{i}", "name": "v", "countries": ["LT", "BY"],
                           "kind": "road", "timezone": "Europe/Vilnius"},
                     expected_revision=1, actor="writer")
    i += 1
"""


def test_backup_while_a_writer_writes_is_consistent(database_url, store, tmp_path):
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, database_url], cwd=ROOT, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while store.feed_position() < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.poll() is None, "the writer stopped early"
        seqs = []
        for n in range(3):
            target = tmp_path / f"backup-{n}.db"
            result = run_cli(database_url, "backup", str(target))
            assert result.returncode == 0, result.stderr
            conn = sqlite3.connect(target)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                last_seq = conn.execute("SELECT last_seq FROM feed_state").fetchone()[0]
                assert last_seq == conn.execute("SELECT max(seq) FROM changes").fetchone()[0]
                assert last_seq == conn.execute("SELECT count(*) FROM changes").fetchone()[0]
                orphans = conn.execute(
                    "SELECT count(*) FROM changes c LEFT JOIN revisions r ON "
                    "r.resource_type = c.resource_type AND r.resource_id = c.resource_id "
                    "AND r.revision = c.revision WHERE r.revision IS NULL"
                ).fetchone()[0]
                assert orphans == 0
            finally:
                conn.close()
            seqs.append(last_seq)
        assert seqs == sorted(seqs) and seqs[-1] > seqs[0], seqs  # taken while writing
        refused = run_cli(database_url, "backup", str(tmp_path / "backup-0.db"))
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    finally:
        writer.kill()
        writer.wait()
        writer.stderr.close()


# --- read-only files, folders and filesystems; a full disk --------------------------------------


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


@pytest.fixture
def immutable(request):
    """Make paths immutable (read-only even for root, unlike permissions); undone after."""
    marked: list[Path] = []

    def mark(path: Path) -> None:
        _chattr("+i", path)
        marked.append(path)

    yield mark
    for path in reversed(marked):
        with suppress(subprocess.CalledProcessError):
            _chattr("-i", path)


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs mounted for the test, unmounted whatever happens."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            check=True,
            capture_output=True,
        )
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def _serving(database_url: str):
    app = create_app(Config(database_url=database_url))
    store = app.extensions["checkpoints.store"]
    editor = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    store.close()
    return app, app.test_client(), editor


def _assert_read_only(client, editor) -> None:
    assert client.get("/v1/checkpoints/point-0001").status_code == 200
    assert client.get("/v1/checkpoints?limit=5").status_code == 200
    body = assert_problem(client.post("/v1/checkpoints", json=point(900), headers=editor), 503)
    assert body["type"].endswith(":storage-read-only")
    body = assert_problem(client.get("/readyz"), 503)


def test_a_read_only_file_reads_answers_503_on_writes_and_recovers(database_url, immutable):
    path = filled_database(database_url)
    app, client, editor = _serving(database_url)
    immutable(path)
    _assert_read_only(client, editor)
    _chattr("-i", path)
    assert client.post("/v1/checkpoints", json=point(900), headers=editor).status_code == 201
    assert client.get("/readyz").status_code == 200
    app.extensions["checkpoints.store"].close()


def test_a_read_only_folder_reads_and_answers_503_on_writes(database_url, immutable):
    path = filled_database(database_url)
    app, client, editor = _serving(database_url)
    assert not Path(f"{path}-wal").exists()  # -wal and -shm must be made, and cannot be
    immutable(path.parent)
    _assert_read_only(client, editor)
    app.extensions["checkpoints.store"].close()


def test_a_read_only_filesystem_reads_and_answers_503_on_writes(tmpfs):
    where = tmpfs("8m")
    database_url = f"sqlite:///{where / 'checkpoints.db'}"
    filled_database(database_url)
    app, client, editor = _serving(database_url)
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)
    _assert_read_only(client, editor)
    app.extensions["checkpoints.store"].close()


def test_a_full_disk_answers_503_and_recovers_when_space_returns(tmpfs):
    where = tmpfs("2m")
    database_url = f"sqlite:///{where / 'checkpoints.db'}"
    filled_database(database_url, count=5)
    app, client, editor = _serving(database_url)
    assert client.post("/v1/checkpoints", json=point(500), headers=editor).status_code == 201
    filler = where / "filler"
    with open(filler, "wb", buffering=0) as file, suppress(OSError):
        for _ in range(10_000):  # bounded: 2 MB in 4 KiB blocks is 512
            file.write(b"\0" * 4096)
    statuses = []
    for i in range(20):
        response = client.post("/v1/checkpoints", json=point(600 + i), headers=editor)
        statuses.append(response.status_code)
        if response.status_code != 201:
            body = assert_problem(response, 503)
            assert body["type"].endswith(":storage-full"), body
            assert response.headers["Retry-After"]
            break
    assert statuses[-1] == 503, statuses
    assert_problem(client.get("/readyz"), 503)
    assert client.get("/v1/checkpoints/point-0001").status_code == 200
    filler.unlink()
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/checkpoints", json=point(700), headers=editor).status_code == 201
    app.extensions["checkpoints.store"].close()


@pytest.mark.parametrize(
    ("env", "waits_ms"),
    [
        pytest.param({}, 20, id="default-slice"),
        pytest.param({"CHECKPOINTS_SQLITE_BUSY_SLICE_MS": "15000"}, 15000, id="sqlite-waits"),
        pytest.param(
            {
                "CHECKPOINTS_SQLITE_BUSY_SLICE_MS": "15000",
                "CHECKPOINTS_SQLITE_BUSY_TIMEOUT_MS": "500",
            },
            500,
            id="never-beyond-the-timeout",
        ),
    ],
)
def test_a_server_connection_lets_sqlite_wait_at_most_the_busy_slice(tmp_path, env, waits_ms):
    url = f"sqlite:///{tmp_path / 'checkpoints.db'}"
    app = create_app(Config.from_env({"CHECKPOINTS_DATABASE_URL": url, **env}))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    try:
        assert store._conn().execute("PRAGMA busy_timeout").fetchone()[0] == waits_ms
    finally:
        store.close()
