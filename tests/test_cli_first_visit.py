"""A first visit with the console script: mistakes get one line saying what to do, tokens can
be made again under the same name, and a following mirror stops at once on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, Server

CHECKPOINTS = str(Path(sys.executable).parent / "checkpoints")


def run(*args, cwd=ROOT, database_url: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "CHECKPOINTS_DATABASE_URL"}
    if database_url:
        env["CHECKPOINTS_DATABASE_URL"] = database_url
    return subprocess.run(
        [CHECKPOINTS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _one_line_saying_what_to_do(result) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "checkpoints init-db" in lines[0]
    assert "CHECKPOINTS_DATABASE_URL" in lines[0]


@pytest.mark.parametrize(
    "args", [("token", "list"), ("token", "create", "alice"), ("load-example",)]
)
def test_a_command_run_from_another_folder_says_what_to_do(tmp_path, args):
    _one_line_saying_what_to_do(run(*args, cwd=tmp_path))


def test_a_command_run_before_init_db_says_what_to_do(tmp_path):
    database = tmp_path / "new.db"
    database.touch()
    url = f"sqlite:///{database}"
    for args in (
        ("token", "list"),
        ("load-example", "--if-empty"),
        ("feed", "compact", "--before", "1"),
    ):
        _one_line_saying_what_to_do(run(*args, database_url=url))
    assert run("init-db", database_url=url).returncode == 0
    assert run("token", "list", database_url=url).returncode == 0


def test_token_create_replace_gives_a_name_a_new_secret(database_url):
    assert run("init-db", database_url=database_url).returncode == 0
    first = run("token", "create", "alice", database_url=database_url)
    again = run("token", "create", "alice", database_url=database_url)
    assert again.returncode == 1 and "exists" in again.stderr
    replaced = run(
        "token", "create", "alice", "--role", "admin", "--replace", database_url=database_url
    )
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.split()[-1] != first.stdout.split()[-1]
    listed = run("token", "list", database_url=database_url).stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["alice", "admin"]]
    assert listed[0].endswith("active")


@pytest.mark.gunicorn
def test_sync_follow_stops_within_a_second_of_sigterm(app, database_url, tmp_path):
    mirror_url = f"sqlite:///{tmp_path / 'mirror.db'}"
    with Server(database_url, workers=1) as server:
        server.start(tmp_path / "gunicorn.log")
        process = subprocess.Popen(
            [CHECKPOINTS, "sync", server.url, "--into", mirror_url, "--follow"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        try:
            lines = [process.stdout.readline() for _ in range(2)]
            assert "mirror at seq" in lines[-1], lines
            time.sleep(1.5)  # now inside the long-poll (it waits up to 25 s)
            assert process.poll() is None
            sent = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            process.stdout.close()
        assert took < 1.0, f"stopped {took:.1f} s after SIGTERM"
        assert process.returncode == 0
