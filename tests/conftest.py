"""Fixtures: an application on a real SQLite file, tokens, and a real gunicorn."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

import tests.properties  # noqa: F401  (a capped run loads its Hypothesis profile first)
from service import create_app
from service.bearer_tokens import hash_secret, new_secret
from service.config import Config

ROOT = Path(__file__).resolve().parents[1]

CHECKPOINT = {
    "id": "medininkai",
    "name": "Medininkai",
    "local_names": {"lt": "Medininkai", "be": "Каменны Лог"},
    "countries": ["LT", "BY"],
    "counterpart": "Kamenny Log",
    "kind": "road",
    "location": {"lat": 54.538, "lon": 25.655},
    "timezone": "Europe/Vilnius",
    "opening_hours": "24/7",
}


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'checkpoints.db'}"


@pytest.fixture
def app(database_url):
    app = create_app(Config(database_url=database_url))
    app.extensions["checkpoints.store"].migrate()
    yield app
    app.extensions["checkpoints.store"].close()


@pytest.fixture
def store(app):
    return app.extensions["checkpoints.store"]


@pytest.fixture
def client(app):
    return app.test_client()


def make_token(store, name: str, role: str) -> str:
    secret = new_secret()
    store.create_token(name=name, role=role, secret_hash=hash_secret(secret))
    return secret


@pytest.fixture
def editor(store) -> dict[str, str]:
    """Headers of an editor token named ``alice``."""
    return {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}


@pytest.fixture
def admin(store) -> dict[str, str]:
    """Headers of an admin token named ``root``."""
    return {"Authorization": f"Bearer {make_token(store, 'root', 'admin')}"}


def assert_problem(response, status: int) -> dict:
    """The response is an RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "sqlite" not in text.lower() and "SELECT" not in text
    return body


#: The flags every headless Chromium here needs: no sandbox as root, no GPU, and nothing that
#: reaches out to the network on its own (its connections would be refused, many at a time).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def needed_for_this_test(missing: list[str]) -> None:
    """Nothing when ``missing`` is empty; else the test fails in CI (CI=true), where every
    tool must be there, and is skipped elsewhere."""
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing for this test: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")


def chromium() -> str:
    """The Chromium the browser tests drive: ``CHECKPOINTS_CHROMIUM`` (a path or a command
    name) if set, else ``chromium`` or ``chromium-browser`` on PATH. Missing, the test fails
    in CI and is skipped elsewhere."""
    wanted = os.environ.get("CHECKPOINTS_CHROMIUM")
    names = [wanted] if wanted else ["chromium", "chromium-browser"]
    for name in names:
        if found := shutil.which(name):
            return found
    needed_for_this_test([f"Chromium ({' or '.join(names)})"])
    raise AssertionError("unreachable")  # needed_for_this_test failed or skipped


def node_tools(target: str) -> Path:
    """The npm tools a Makefile target installs under var/ (``browser-tools``,
    ``spec-tools``), installed when missing; returns their directory. Without node or npm
    the test fails in CI and is skipped elsewhere."""
    needed_for_this_test([name for name in ("node", "npm") if shutil.which(name) is None])
    tools = ROOT / "var" / target
    if not (tools / "node_modules" / ".installed").exists():
        subprocess.run(["make", "-s", target], cwd=ROOT, check=True, timeout=600)
    return tools


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The access-log line of a server started with ``log_worker_pids``: which worker process
#: answered which request.
WORKER_PID_LOG_FORMAT = "served pid=%(p)s method=%(m)s path=%(U)s status=%(s)s"
_WORKER_PID_LOG = re.compile(r"served pid=<(\d+)> method=(\S+) path=(\S+) status=\d+")

#: Every Server started in this test session; any still running at its end is killed.
_LIVE: set[Server] = set()


def wait_until_ready(url: str, *, deadline: float, alive=lambda: True, probe_timeout=5.0) -> None:
    """Poll ``url`` until it answers 200. Any transient error (refused connection, reset,
    read timeout, a 503 while workers boot) is retried until ``deadline`` (a monotonic time);
    ``alive()`` returning False ends the wait at once."""
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the server exited before it was ready")
        try:
            status = requests.get(url, timeout=probe_timeout).status_code
            if status == 200:
                return
            last = f"HTTP {status}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready before the deadline (last: {last})")


class Server:
    """A real gunicorn serving the app from ``gunicorn.conf.py``, in a process group of its
    own. ``stop()`` ends the whole group, and a failed ``start()`` stops what it started, so
    no server outlives its test; use it as a context manager or from a fixture."""

    #: How long gunicorn may take to answer /readyz with 200 (a loaded CI machine is slow).
    READY_SECONDS = 60.0

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 3,
        extra_env: dict | None = None,
        log_worker_pids: bool = False,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "CHECKPOINTS_DATABASE_URL": database_url,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            **(extra_env or {}),
        }
        if log_worker_pids:
            # gunicorn reads GUNICORN_CMD_ARGS after gunicorn.conf.py: it overrides the format.
            self.env["GUNICORN_CMD_ARGS"] = f"--access-logformat '{WORKER_PID_LOG_FORMAT}'"
        self.log = None
        self.log_path: Path | None = None
        self.process = None

    def start(self, log_path: Path, *, ready_seconds: float | None = None) -> Server:
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends workers too
        )
        _LIVE.add(self)
        try:
            wait_until_ready(
                f"{self.url}/readyz",
                deadline=time.monotonic() + (ready_seconds or self.READY_SECONDS),
                alive=lambda: self.process.poll() is None,
            )
        except BaseException as exc:
            self.stop()
            raise RuntimeError(f"gunicorn did not start: {exc}\n{self.log_tail()}") from exc
        return self

    def served_by(self, method: str, path: str) -> Counter:
        """Requests ``method path`` answered, per worker pid, from the access log (a server
        started with ``log_worker_pids``): the proof that several processes took part."""
        if self.log_path is None or not self.log_path.exists():
            return Counter()
        return Counter(
            pid
            for pid, logged_method, logged_path in _WORKER_PID_LOG.findall(
                self.log_path.read_text(errors="replace")
            )
            if logged_method == method and logged_path == path
        )

    def log_tail(self, size: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-size:].decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the process group, then SIGKILL to whatever is left of it."""
        process = self.process
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
            # Workers of a master that died (or was killed) may linger in the group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if self.log is not None:
            self.log.close()
            self.log = None
        _LIVE.discard(self)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def pytest_sessionfinish(session, exitstatus):
    """A last guard: no server started by a test outlives the test session."""
    for server in list(_LIVE):
        server.stop()


@pytest.fixture
def server(app, database_url, tmp_path):
    """A migrated database served by gunicorn with three worker processes."""
    with Server(database_url) as server:
        server.start(tmp_path / "gunicorn.log")
        yield server


#: The Redis server the shared rate-limit store is tested against.
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own in the Redis at REDIS_URL; its keys are deleted after.
    A Redis that does not answer fails the test (it is never skipped)."""
    import uuid

    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as exc:
        connection.close()
        pytest.fail(
            f"no Redis at {REDIS_URL} ({exc}); start one: redis-server --port 6379 --save ''"
        )
    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    for key in connection.scan_iter(match=f"*{prefix}*", count=1000):
        connection.delete(key)
    connection.close()


@pytest.fixture(autouse=True)
def _generous_rate_limits_for_servers(monkeypatch):
    """Servers a test starts (and apps built from the environment) count requests, but
    refuse none: load, concurrency and crash tests send from one address and one token
    faster than the production defaults allow. Apps built from ``Config(...)`` keep those
    defaults, and the rate-limit tests set their own."""
    monkeypatch.setenv("CHECKPOINTS_RATELIMIT_READ", "1000000/minute")
    monkeypatch.setenv("CHECKPOINTS_RATELIMIT_WRITE", "1000000/minute")


# --- PostgreSQL ------------------------------------------------------------------------------
#: The server the PostgreSQL tests use; each test run creates (and drops) a database of its
#: own on it. Point it elsewhere with CHECKPOINTS_TEST_POSTGRES_URL.
POSTGRES_URL = os.environ.get(
    "CHECKPOINTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_database():
    """A fresh, migrated database for this test run, dropped at its end. Without a server
    the PostgreSQL tests skip, except in CI (CI=true), where they fail."""
    import secrets

    psycopg = pytest.importorskip("psycopg")
    from urllib.parse import urlsplit, urlunsplit

    name = f"checkpoints_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is needed in CI: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    from service.storage import open_store

    store = open_store(url)
    store.migrate()
    store.close()
    yield url
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database) -> str:
    """The test run's PostgreSQL database, emptied for this test."""
    import psycopg

    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE checkpoints, rules, closures, revisions, changes, tokens, "
            "idempotency_keys, sync_state"
        )
        conn.execute("UPDATE feed_state SET last_seq = 0, last_recorded_at = '', first_seq = 1")
    return postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def any_database_url(request, tmp_path) -> str:
    """A fresh database on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'checkpoints.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def backend(any_database_url):
    """A migrated store on each backend in turn, closed afterwards."""
    from service.storage import open_store

    store = open_store(any_database_url)
    store.migrate()
    yield store
    store.close()
