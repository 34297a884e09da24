"""A real browser on another origin: headless Chromium loads a page from one port and calls
the API (a real gunicorn) on another with fetch(), as a map or a dashboard would."""

from __future__ import annotations

import html
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.conftest import CHECKPOINT, CHROMIUM_FLAGS, Server, chromium, make_token

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _chromium_is_there() -> None:
    """Before any server starts: a missing Chromium skips, or fails in CI."""
    chromium()


#: The page's script: each step's outcome goes into <pre id="result"> for --dump-dom.
SCRIPT = """
const api = %(api)s, token = %(token)s, out = {};
async function step(name, run) {
  try { out[name] = await run(); } catch (error) { out[name] = {error: String(error)}; }
}
async function main() {
  await step("read", async () => {
    const response = await fetch(api + "/v1/checkpoints/medininkai");
    return {status: response.status, etag: response.headers.get("ETag"),
            name: (await response.json()).name};
  });
  await step("revalidate", async () => {
    const response = await fetch(api + "/v1/checkpoints/medininkai",
                                 {headers: {"If-None-Match": out.read.etag}, cache: "no-store"});
    return {status: response.status, etag: response.headers.get("ETag")};
  });
  await step("create", async () => {
    const response = await fetch(api + "/v1/checkpoints", {
      method: "POST",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json",
                "Idempotency-Key": "browser-create-1"},
      body: JSON.stringify(%(body)s),
    });
    return {status: response.status, etag: response.headers.get("ETag"),
            location: response.headers.get("Location")};
  });
  await step("patch", async () => {
    const response = await fetch(api + "/v1/checkpoints/kena", {
      method: "PATCH",
      headers: {"Authorization": "Bearer " + token, "Content-Type": "application/merge-patch+json",
                "If-Match": out.create.etag},
      body: JSON.stringify({opening_hours: "Mo-Fr 08:00-20:00"}),
    });
    return {status: response.status, etag: response.headers.get("ETag")};
  });
  await step("list", async () => {
    const response = await fetch(api + "/v1/checkpoints?limit=1");
    return {status: response.status, link: response.headers.get("Link")};
  });
  document.getElementById("result").textContent = JSON.stringify(out);
}
main();
"""


class _Pages(BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self):
        body = self.pages.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def page_servers() -> Iterator[list[str]]:
    """Two page servers on other ports (two other origins); their base URLs."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Pages) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{server.server_address[1]}" for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api(app, store, database_url, page_servers, tmp_path) -> Iterator[tuple[Server, str]]:
    """gunicorn, with the first page origin allowed to write; an editor token's secret."""
    secret = make_token(store, "dash", "editor")
    with Server(
        database_url,
        workers=2,
        extra_env={"CHECKPOINTS_CORS_WRITE_ORIGINS": page_servers[0]},
    ) as server:
        server.start(tmp_path / "gunicorn.log")
        response = requests.post(
            f"{server.url}/v1/checkpoints",
            json=CHECKPOINT,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=10,
        )
        assert response.status_code == 201
        yield server, secret


def chromium_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` once its scripts and their fetches are done."""
    result = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            # Virtual time waits for the page's fetches before the DOM is dumped.
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def run_page(origin: str, api_url: str, token: str, tmp_path: Path) -> dict:
    """Load a page from ``origin`` in headless Chromium; what its script wrote."""
    body = {
        "id": "kena",
        "name": "Kena",
        "countries": ["LT", "BY"],
        "kind": "rail",
        "timezone": "Europe/Vilnius",
    }
    script = SCRIPT % {
        "api": json.dumps(api_url),
        "token": json.dumps(token),
        "body": json.dumps(body),
    }
    _Pages.pages["/page.html"] = (
        f'<!DOCTYPE html><html><body><pre id="result"></pre><script>{script}</script></body></html>'
    )
    dom = chromium_dom(f"{origin}/page.html", tmp_path / f"chromium-{origin.rsplit(':', 1)[1]}")
    match = re.search(r'<pre id="result">(.*?)</pre>', dom, re.DOTALL)
    assert match and match.group(1), dom[-2000:]
    return json.loads(html.unescape(match.group(1)))


def test_a_page_on_an_allowed_origin_reads_and_writes(api, page_servers, tmp_path):
    server, token = api
    out = run_page(page_servers[0], server.url, token, tmp_path)
    assert out["read"]["status"] == 200
    assert re.fullmatch(r'"1-[0-9a-f]{8}"', out["read"]["etag"]), out
    assert out["read"]["name"] == "Medininkai"
    # If-None-Match needs a preflight; the 304 and its ETag reach the script.
    assert out["revalidate"] == {"status": 304, "etag": out["read"]["etag"]}
    assert out["create"]["status"] == 201, out
    assert out["create"]["location"].endswith("/v1/checkpoints/kena")
    assert out["patch"]["status"] == 200, out
    assert out["patch"]["etag"] != out["create"]["etag"]
    # Two checkpoints now, one per page: the Link header is readable.
    assert out["list"]["status"] == 200
    assert 'rel="next"' in out["list"]["link"], out
    stored = requests.get(f"{server.url}/v1/checkpoints/kena", timeout=10).json()
    assert stored["opening_hours"] == "Mo-Fr 08:00-20:00"


def test_a_page_on_another_origin_reads_but_cannot_write(api, page_servers, tmp_path):
    server, token = api
    out = run_page(page_servers[1], server.url, token, tmp_path)
    assert out["read"]["status"] == 200
    assert out["revalidate"]["status"] == 304
    # The browser refuses the preflight's answer: the write is never sent.
    assert "error" in out["create"], out
    assert requests.get(f"{server.url}/v1/checkpoints/kena", timeout=10).status_code == 404


def test_the_docs_page_renders_under_its_content_security_policy(api, tmp_path):
    server, _ = api
    assert "Content-Security-Policy" in requests.get(f"{server.url}/docs/", timeout=10).headers
    dom = chromium_dom(f"{server.url}/docs/", tmp_path / "chromium-docs")
    # Swagger UI ran (its scripts and inline init were allowed) and fetched the spec.
    assert "Checkpoints API" in dom
    assert "/v1/checkpoints/{checkpoint_id}/rules" in dom
    assert "listCheckpoints" in dom or "List checkpoints." in dom
