"""The committed OpenAPI document is what the code generates, and it is complete."""

from __future__ import annotations

import json

from service.cli import render_openapi
from tests.conftest import ROOT


def test_committed_spec_matches_the_code():
    committed = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert committed == render_openapi(), (
        "openapi/openapi.json is stale: run `checkpoints openapi openapi/openapi.json`"
    )


def test_every_operation_has_an_id_a_summary_and_its_error_responses():
    spec = json.loads(render_openapi())
    assert spec["openapi"] == "3.1.0"
    seen = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            assert operation["operationId"] not in seen, where
            seen.add(operation["operationId"])
            assert operation.get("summary"), where
            responses = operation["responses"]
            assert {"500", "503"} <= responses.keys(), where
            # Every write needs a token; POST /v1/decisions is a read with a body.
            if method in {"post", "put", "patch", "delete"} and path != "/v1/decisions":
                assert {"401", "403"} <= responses.keys(), where
                assert operation["security"] == [{"bearerAuth": []}], where
            else:
                assert operation["security"] == [], where
            if method in {"put", "patch", "delete"}:
                assert {"404", "412", "428"} <= responses.keys(), where
            if method in {"post", "put", "patch"}:
                assert {"400", "413", "415", "422"} <= responses.keys(), where
                assert operation["requestBody"]["content"], where


def test_problem_responses_are_problem_json():
    spec = json.loads(render_openapi())
    for name, response in spec["components"]["responses"].items():
        if "content" in response:
            assert list(response["content"]) == ["application/problem+json"], name
