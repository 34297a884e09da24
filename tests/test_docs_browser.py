"""The interactive docs on a port other than the default: Swagger UI's "Try it out" calls the
server that served the page (the spec's server is relative), under the docs page's
Content-Security-Policy."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import CHROMIUM_FLAGS, ROOT, Server, chromium, node_tools

SCRIPT = ROOT / "tests" / "browser" / "docs.cjs"

pytestmark = pytest.mark.browser


def test_try_it_out_calls_the_server_that_served_the_docs(app, database_url, tmp_path):
    browser = chromium()
    tools = node_tools("browser-tools")
    with Server(database_url, workers=1) as server:
        server.start(tmp_path / "gunicorn.log")
        assert not server.url.endswith(":8000")
        job = {
            "tools": str(tools),
            "chromium": browser,
            "args": CHROMIUM_FLAGS,
            "base": server.url,
            "tag": "health",
            "operation": "getHealth",
        }
        result = subprocess.run(
            ["node", str(SCRIPT), json.dumps(job)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-3000:] + server.log_tail()
    seen = json.loads(result.stdout)
    assert seen["status"] == "200", seen
    assert json.loads(seen["body"]) == {"status": "ok"}
    assert f"{server.url}/healthz" in seen["requested"]
    assert not seen["problems"], seen["problems"]
