"""Transport hygiene: nosniff everywhere, a strict CSP, HEAD on every GET route, gzip for
large JSON (and never for a resource whose ETag a write compares, nor for the event stream)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re

import pytest

from schemas.closures import CLOSURE_EXAMPLE
from schemas.rules import RULE_EXAMPLE
from service.api.machinery.hygiene import API_CSP
from tests.conftest import CHECKPOINT

GZIP = {"Accept-Encoding": "gzip"}
#: Query strings for routes that need parameters, or whose answer depends on the time.
AT = "at=2025-01-01T00:00:00Z"
REQUIRED_QUERY = {
    "/v1/decisions": f"?checkpoint_id=medininkai&mode=goods&{AT}",
    "/v1/checkpoints/<checkpoint_id>/status": f"?{AT}",
    "/v1/status": f"?{AT}",
    "/v1/checkpoints/<checkpoint_id>/timeline": "?from=2024-01-01T00:00:00Z"
    "&to=2025-01-01T00:00:00Z",
}


def _directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


@pytest.fixture
def stored(client, editor) -> dict[str, str]:
    """A checkpoint, a rule and a closure; the ids to put in URLs."""
    assert client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).status_code == 201
    rule = client.post("/v1/checkpoints/medininkai/rules", json=RULE_EXAMPLE, headers=editor)
    closure = client.post(
        "/v1/checkpoints/medininkai/closures", json=CLOSURE_EXAMPLE, headers=editor
    )
    return {
        "checkpoint_id": "medininkai",
        "rule_id": rule.get_json()["id"],
        "closure_id": closure.get_json()["id"],
        "number": "1",
        "path": "swagger-ui.css",
        "filename": "nothing-here.txt",
    }


def test_nosniff_on_every_kind_of_response(client, editor, admin, stored):
    etag = client.get("/v1/checkpoints/medininkai").headers["ETag"]
    responses = {
        200: client.get("/v1/checkpoints"),
        201: client.post("/v1/checkpoints", json={**CHECKPOINT, "id": "other"}, headers=editor),
        304: client.get("/v1/checkpoints/medininkai", headers={"If-None-Match": etag}),
        404: client.get("/v1/nothing-here"),
        405: client.post("/v1/status"),
        401: client.delete("/v1/checkpoints/other"),
        204: client.delete("/v1/checkpoints/medininkai", headers={**admin, "If-Match": etag}),
    }
    for status, response in responses.items():
        assert response.status_code == status, status
        assert response.headers["X-Content-Type-Options"] == "nosniff", status
        assert response.headers["Content-Security-Policy"] == API_CSP, status
    assert client.options("/v1/checkpoints").headers["X-Content-Type-Options"] == "nosniff"


def test_the_docs_page_has_a_strict_policy_that_admits_its_own_script(client):
    response = client.get("/docs/", headers={"Host": "elsewhere.example"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    scripts = policy["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["connect-src"][0] == "'self'"
    page = response.get_data(as_text=True)
    inline = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert inline, "the page's init script"
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in scripts
    # Whatever the Host, the page (and so its hash) does not change.
    assert page == client.get("/docs/").get_data(as_text=True)
    assert "validator.swagger.io" not in page


def test_the_docs_page_loads_its_assets_from_itself(client):
    page = client.get("/docs/").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) >= 4
    for asset in assets:
        assert asset.startswith("/docs/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        kind = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
        assert response.mimetype == kind[asset[asset.rindex(".") :]], asset
        response.close()
    assert client.get("/docs").status_code == 308


def _get_routes(app):
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            yield rule


def test_head_answers_on_every_get_route(app, client, stored):
    routes = list(_get_routes(app))
    assert len(routes) >= 20
    for rule in routes:
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", stored[name], url)
        url += REQUIRED_QUERY.get(rule.rule, "")
        got = client.get(url)
        head = client.head(url)
        assert head.status_code == got.status_code, url
        assert head.status_code < 400 or rule.endpoint == "static", url
        assert head.get_data() == b"", url
        assert head.mimetype == got.mimetype, url
        assert head.headers.get("ETag") == got.headers.get("ETag"), url
        got.close()
        head.close()


def _many_checkpoints(client, editor, count=8):
    for index in range(count):
        body = {**CHECKPOINT, "id": f"point-{index}", "name": f"Point {index}"}
        assert client.post("/v1/checkpoints", json=body, headers=editor).status_code == 201


def test_a_large_list_is_gzipped_when_the_client_asks(client, editor):
    _many_checkpoints(client, editor)
    plain = client.get("/v1/checkpoints")
    assert "Content-Encoding" not in plain.headers
    assert "accept-encoding" in plain.headers["Vary"].lower()
    assert len(plain.get_data()) > 1024
    packed = client.get("/v1/checkpoints", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "accept-encoding" in packed.headers["Vary"].lower()
    assert packed.mimetype == "application/json"
    body = packed.get_data()
    assert int(packed.headers["Content-Length"]) == len(body) < len(plain.get_data())
    assert json.loads(gzip.decompress(body)) == plain.get_json()


def test_a_small_list_and_a_resource_are_sent_as_they_are(client, editor):
    small = client.get("/v1/checkpoints", headers=GZIP)
    assert "Content-Encoding" not in small.headers
    names = {language: language * 100 for language in ("lt", "be", "pl", "ru", "en")}
    long_names = {**CHECKPOINT, "id": "long", "local_names": names}
    assert client.post("/v1/checkpoints", json=long_names, headers=editor).status_code == 201
    item = client.get("/v1/checkpoints/long", headers=GZIP)
    assert len(item.get_data()) > 1024
    # Its ETag is what If-Match compares: the representation is never re-encoded.
    assert "Content-Encoding" not in item.headers
    assert item.headers["ETag"] == client.get("/v1/checkpoints/long").headers["ETag"]


def test_the_status_of_all_points_is_gzipped_and_revalidates(client, editor):
    _many_checkpoints(client, editor, count=3)
    at = "at=2024-09-01T10:00:00Z"
    packed = client.get(f"/v1/status?{at}", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    etag = packed.headers["ETag"]
    assert etag != client.get(f"/v1/status?{at}").headers["ETag"]
    again = client.get(f"/v1/status?{at}", headers={**GZIP, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag


def test_the_event_stream_is_neither_compressed_nor_buffered(client):
    response = client.get("/v1/changes/stream", headers=GZIP, buffered=False)
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert "Content-Encoding" not in response.headers
        first = next(iter(response.response))
        assert first.startswith(b"retry:") or first.startswith("retry:")
    finally:
        response.close()
