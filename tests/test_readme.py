"""The README's walk-through, run as written (twice, as a reader might) against a real
gunicorn serving the example data, so that the documentation cannot drift from the service."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from service.example import load
from tests.conftest import ROOT, Server

pytestmark = pytest.mark.gunicorn

#: Every curl the walk-through runs reports its status on standard error.
PRELUDE = """
curl() { command curl -w '%{stderr}HTTP %{http_code} %{method} %{url_effective}\\n' "$@"; }
"""


def walkthrough() -> str:
    """The shell blocks of the README from "A walk through the API" to the next section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[
        text.index("## A walk through the API") : text.index("\n## ", text.index("## A walk"))
    ]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 3
    return "\n".join(blocks)


def runnable(script: str, url: str) -> str:
    """The walk-through against ``url``; the long-poll waits 1 s, the stream runs for 2 s."""
    assert "API=http://127.0.0.1:8000\n" in script
    script = script.replace("API=http://127.0.0.1:8000\n", f"API={url}\n")
    assert script.count("wait=25") == 1
    script = script.replace("wait=25", "wait=1")
    stream = [line for line in script.splitlines() if "/v1/changes/stream" in line]
    assert len(stream) == 1 and "Ctrl-C" in stream[0]
    return PRELUDE + script.replace(stream[0], "timeout 2 " + stream[0])


@pytest.fixture
def example_server(app, store, database_url, tmp_path):
    load(store)
    with Server(database_url, workers=2) as server:
        server.start(tmp_path / "gunicorn.log")
        yield server


def test_the_walkthrough_runs_twice(example_server, database_url):
    script = runnable(walkthrough(), example_server.url)
    env = {**os.environ, "CHECKPOINTS_DATABASE_URL": database_url}
    for run in (1, 2):
        result = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in result.stderr, result.stderr
        calls = re.findall(r"^HTTP (\d{3}) (\S+) (\S+)$", result.stderr, re.MULTILINE)
        statuses = [
            (int(code), method, url.removeprefix(example_server.url)) for code, method, url in calls
        ]
        where = f"run {run}:\n" + "\n".join(map(str, statuses)) + result.stderr[-2000:]
        by_call = {(method, url): code for code, method, url in statuses}
        # The first run finds nothing to delete; the second deletes what the first made.
        assert by_call[("DELETE", "/v1/checkpoints/kena")] == (404 if run == 1 else 204), where
        assert by_call[("POST", "/v1/checkpoints")] == 201, where
        assert by_call[("PATCH", "/v1/checkpoints/kena")] == 200, where
        assert by_call[("PUT", "/v1/checkpoints/kena")] == 200, where
        assert by_call[("POST", "/v1/checkpoints/kena/rules")] == 201, where
        assert by_call[("POST", "/v1/checkpoints/kena/closures")] == 201, where
        assert by_call[("POST", "/v1/decisions")] == 200, where
        as_of = [code for code, method, url in statuses if "as_of=" in url]
        assert as_of == [200] * 6, where
        # The example as recorded on 2025-10-28: Šalčininkai closed until further notice.
        assert "Closed for security until further notice" in result.stdout, where
        others = [s for s in statuses if s[1] not in {"DELETE"} and s[0] not in {200, 201, 304}]
        assert others == [], where
        assert sum(1 for s in statuses if s[0] == 304) == 1, where
        # Every write was authorised: the token is set on every run.
        assert "401" not in {str(s[0]) for s in statuses}, where
        # The complete decision is answered (not null for want of a fact).
        assert '"allowed":true' in result.stdout or '"allowed": true' in result.stdout, where
        # The last command, the event stream, was still open when `timeout` ended it.
        assert result.returncode == 124, where
        assert len(statuses) >= 20, where
