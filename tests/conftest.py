"""Fixtures: an application on a real SQLite file, tokens, and a real gunicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from service import create_app
from service.api.auth import hash_secret, new_secret
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real gunicorn serving the app from ``gunicorn.conf.py``."""

    def __init__(self, database_url: str, *, workers: int = 3, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "CHECKPOINTS_DATABASE_URL": database_url,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            **(extra_env or {}),
        }
        self.log = None
        self.process = None

    def start(self, log_path: Path) -> None:
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log:
            self.log.close()


@pytest.fixture
def server(app, database_url, tmp_path):
    """A migrated database served by gunicorn with three worker processes."""
    server = Server(database_url)
    server.start(tmp_path / "gunicorn.log")
    yield server
    server.stop()
