"""A damaged database under a real gunicorn: refused at worker start, and refused for
writes and readiness when the damage appears while serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, Server, make_token
from tests.storage.test_faults import (
    checkpoint_wal,
    damage_header,
    damage_pages,
    filled_database,
    point,
)

pytestmark = pytest.mark.gunicorn


@pytest.mark.parametrize("damage", ["pages", "header"])
def test_gunicorn_refuses_to_serve_a_damaged_database(database_url, tmp_path, damage):
    path = filled_database(database_url)
    if damage == "pages":
        damage_pages(path, "checkpoints")
    else:
        damage_header(path)
    env = Server(database_url, workers=2).env
    with open(tmp_path / "gunicorn.log", "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    log = (tmp_path / "gunicorn.log").read_text()
    assert code != 0, log
    assert "Traceback" not in log
    refusals = [line for line in log.splitlines() if "refusing to serve" in line]
    assert refusals and all(str(path) in line for line in refusals), log
    assert "Booting worker" not in log  # refused before any worker started


def test_damage_met_while_serving_is_503_and_logged_once(database_url, tmp_path):
    path = filled_database(database_url)
    from service.storage import open_store

    store = open_store(database_url)
    editor = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    store.close()
    checkpoint_wal(path)
    server = Server(database_url, workers=1)
    try:
        server.start(tmp_path / "gunicorn.log")
        damage_pages(path, "checkpoints")
        for i in range(3):
            response = requests.post(
                f"{server.url}/v1/checkpoints", json=point(100 + i), headers=editor, timeout=30
            )
            assert response.status_code == 503, response.text
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["type"].endswith(":storage-corrupt")
        ready = requests.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 503 and "damaged" in ready.json()["detail"]
    finally:
        server.stop()
    log = (tmp_path / "gunicorn.log").read_text()
    assert log.count("DATABASE DAMAGED") == 1, log
    assert "Traceback" not in log
