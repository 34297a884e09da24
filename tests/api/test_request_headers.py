"""Request headers outside the bounds the spec declares are refused, as the spec says."""

from __future__ import annotations

import json

import pytest

from tests.api.test_checkpoints import create
from tests.conftest import ROOT, assert_problem

SPEC = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))


def _declared(path: str, method: str, name: str) -> dict:
    parameters = SPEC["paths"][path][method]["parameters"]
    return next(p for p in parameters if p["in"] == "header" and p["name"] == name)


@pytest.mark.parametrize("value", ["", "0" * 1001], ids=["empty", "1001-characters"])
@pytest.mark.parametrize(
    "url",
    [
        "/v1/decisions?checkpoint_id=medininkai&mode=pedestrian&at=2024-09-01T10:00:00Z",
        "/v1/checkpoints/medininkai/status?at=2024-09-01T10:00:00Z",
        "/v1/checkpoints/medininkai",
        "/v1/status",
    ],
)
def test_an_if_none_match_outside_its_declared_length_is_400(client, editor, url, value):
    create(client, editor)
    response = client.get(url, headers={"If-None-Match": value})
    body = assert_problem(response, 400)
    assert "If-None-Match" in body["detail"]
    schema = _declared("/v1/decisions", "get", "If-None-Match")["schema"]
    assert not schema["minLength"] <= len(value) <= schema["maxLength"]


def test_an_if_none_match_of_the_declared_length_is_read(client, editor):
    etag = create(client, editor).headers["ETag"]
    padded = f"{etag}, " + "x" * (1000 - len(etag) - 2)
    assert len(padded) == 1000
    response = client.get("/v1/checkpoints/medininkai", headers={"If-None-Match": padded})
    assert response.status_code == 304


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_an_over_long_if_match_is_400_and_writes_nothing(client, editor, admin, method):
    created = create(client, editor)
    headers = {**(admin if method == "delete" else editor), "If-Match": "0" * 1001}
    body = {"name": "Renamed"} if method == "patch" else None
    if method == "put":
        body = {**created.get_json(), "name": "Renamed"}
    response = getattr(client, method)("/v1/checkpoints/medininkai", json=body, headers=headers)
    assert_problem(response, 400)
    after = client.get("/v1/checkpoints/medininkai").get_json()
    assert after["revision"] == 1 and after["name"] == created.get_json()["name"]


def test_operations_reading_a_request_header_document_400():
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
            if headers:
                assert "400" in operation["responses"], f"{method.upper()} {path}"
