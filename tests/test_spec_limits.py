"""The generated spec states every limit and every response: a generated client or a gateway
can validate before it sends, and knows each answer it can get."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from service.cli import render_openapi

WRITES = {"post", "put", "patch", "delete"}
METHODS = {"get", "head", "post", "put", "patch", "delete"}
#: A read that carries a body: public, no token.
PUBLIC_POSTS = {"/v1/decisions"}
#: Never rate-limited.
PROBES = {"/healthz", "/readyz"}
_UNBOUNDED = re.compile(r"(?<!\\)[*+]|\{\d+,\}")


@cache
def spec() -> dict[str, Any]:
    return json.loads(render_openapi())


def _types(schema: dict) -> set[str]:
    kind = schema.get("type")
    if kind is None:
        return set()
    return {kind} if isinstance(kind, str) else set(kind)


def _children(where: str, schema: dict) -> Iterator[tuple[str, dict]]:
    for name, sub in (schema.get("properties") or {}).items():
        yield f"{where}.{name}", sub
    for key in ("items", "additionalProperties", "not", "propertyNames"):
        if isinstance(schema.get(key), dict):
            yield f"{where}[{key}]", schema[key]
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for index, sub in enumerate(schema.get(key) or ()):
            yield f"{where}[{key}.{index}]", sub


def walk(where: str, schema: dict) -> Iterator[tuple[str, dict]]:
    """Every schema node under ``schema`` (references are walked where they are defined)."""
    if "$ref" in schema:
        return
    yield where, schema
    for child_where, child in _children(where, schema):
        yield from walk(child_where, child)


def _media_schemas(where: str, content: dict) -> Iterator[tuple[str, dict]]:
    for media_type, media in (content or {}).items():
        if "schema" in media:
            yield f"{where} {media_type}", media["schema"]


def every_schema() -> Iterator[tuple[str, dict]]:
    """Every schema in the document: components, parameters, bodies, responses, headers."""
    components = spec()["components"]
    roots: list[tuple[str, dict]] = []
    for name, schema in components.get("schemas", {}).items():
        roots.append((f"#/components/schemas/{name}", schema))
    for name, header in components.get("headers", {}).items():
        roots.append((f"#/components/headers/{name}", header["schema"]))
    for name, parameter in components.get("parameters", {}).items():
        roots.append((f"#/components/parameters/{name}", parameter["schema"]))
    for name, response in components.get("responses", {}).items():
        roots.extend(_media_schemas(f"#/components/responses/{name}", response.get("content")))
        for header_name, header in (response.get("headers") or {}).items():
            if "schema" in header:
                roots.append((f"#/components/responses/{name} {header_name}", header["schema"]))
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []) + item.get("parameters", []):
                if "schema" in parameter:
                    roots.append((f"{where} {parameter['name']}", parameter["schema"]))
            body = operation.get("requestBody", {})
            roots.extend(_media_schemas(f"{where} body", body.get("content")))
            for status, response in operation["responses"].items():
                roots.extend(_media_schemas(f"{where} {status}", response.get("content")))
                for header_name, header in (response.get("headers") or {}).items():
                    if "schema" in header:
                        roots.append((f"{where} {status} {header_name}", header["schema"]))
    for where, root in roots:
        yield from walk(where, root)


def _bounded_pattern(pattern: str) -> bool:
    return pattern.startswith("^") and pattern.endswith("$") and not _UNBOUNDED.search(pattern)


def limit_problems(where: str, schema: dict) -> list[str]:
    """What a schema node lacks; empty when every value it admits is bounded."""
    problems = []
    types = _types(schema)
    constrained = "enum" in schema or "const" in schema
    if "string" in types and not constrained and "maxLength" not in schema:
        problems.append(f"{where}: a string without maxLength")
    pattern = schema.get("pattern")
    if pattern and "maxLength" not in schema and not constrained and not _bounded_pattern(pattern):
        problems.append(f"{where}: an unbounded pattern without maxLength")
    for kind in ("integer", "number"):
        if kind in types and not constrained:
            low = "minimum" in schema or "exclusiveMinimum" in schema
            high = "maximum" in schema or "exclusiveMaximum" in schema
            if not (low and high):
                problems.append(f"{where}: an {kind} without minimum and maximum")
    if "array" in types and "maxItems" not in schema:
        problems.append(f"{where}: an array without maxItems")
    is_open = schema.get("additionalProperties", True) is not False
    if "object" in types and is_open and "maxProperties" not in schema:
        problems.append(f"{where}: an open object without maxProperties")
    return problems


def test_the_walker_sees_every_kind_of_schema():
    places = [where for where, _ in every_schema()]
    assert any(w.startswith("#/components/schemas/Checkpoint.") for w in places)
    assert any(w.startswith("#/components/headers/") for w in places)
    assert any(w.startswith("GET /v1/checkpoints limit") for w in places)
    assert any(w.startswith("GET /v1/checkpoints/{checkpoint_id} checkpoint_id") for w in places)
    assert len(places) > 200


def test_every_value_in_the_spec_is_bounded():
    problems = [p for where, schema in every_schema() for p in limit_problems(where, schema)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param({"type": "string"}, 1, id="bare-string"),
        pytest.param({"type": ["string", "null"], "maxLength": 3}, 0, id="nullable-string"),
        pytest.param({"type": "string", "enum": ["a"]}, 0, id="enum"),
        pytest.param({"type": "string", "pattern": "^a+$", "maxLength": 9}, 0, id="long-pattern"),
        pytest.param({"type": "integer", "minimum": 0}, 1, id="no-maximum"),
        pytest.param({"type": "number", "minimum": 0, "maximum": 1}, 0, id="number"),
        pytest.param({"type": "array", "items": {}}, 1, id="array"),
        pytest.param({"type": "object", "additionalProperties": {}}, 1, id="open-object"),
        pytest.param({"type": "object", "properties": {}}, 1, id="implicitly-open"),
        pytest.param({"type": "object", "additionalProperties": False}, 0, id="closed"),
        pytest.param({"type": "object", "maxProperties": 4}, 0, id="bounded-object"),
    ],
)
def test_the_limit_check_itself(schema, expected):
    assert len(limit_problems("x", schema)) == expected


def _operations() -> Iterator[tuple[str, str, dict]]:
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _ref_name(response: dict) -> str | None:
    ref = response.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def _response(response: dict) -> dict:
    """A response object with its component reference resolved."""
    name = _ref_name(response)
    return spec()["components"]["responses"][name] if name else response


def _headers(response: dict) -> set[str]:
    return {name.lower() for name in (_response(response).get("headers") or {})}


def _success_schema(operation: dict) -> dict:
    for status in ("200", "201"):
        content = _response(operation["responses"].get(status, {})).get("content", {})
        if "application/json" in content:
            schema = content["application/json"]["schema"]
            if "$ref" in schema:
                return spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            return schema
    return {}


def test_every_operation_documents_the_errors_it_can_answer():
    problems = []
    for path, method, operation in _operations():
        where = f"{method.upper()} {path}"
        codes = set(operation["responses"])
        need = {"500", "503"}
        query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        has_body = "requestBody" in operation
        if query or has_body:
            need |= {"422"}
        if has_body:
            need |= {"400", "413", "415"}
        write = method in WRITES and path not in PUBLIC_POSTS
        if write:
            need |= {"401", "403"}
        if method in {"put", "patch", "delete"}:
            need |= {"404", "412", "428"}
        if "{" in path:
            need |= {"404"}
        probe = path in PROBES
        if not probe:
            need |= {"429"}
        missing = need - codes
        if missing:
            problems.append(f"{where}: {sorted(missing)} not documented")
        if probe and "429" in codes:
            problems.append(f"{where}: 429 documented, but the probes are never limited")
    assert not problems, "\n".join(problems)


def test_every_error_is_a_problem_with_the_headers_it_carries():
    responses = spec()["components"]["responses"]
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert _ref_name(response) in responses, f"{method} {path} {status}"
                assert list(_response(response)["content"]) == ["application/problem+json"]
    assert "www-authenticate" in _headers({"$ref": "#/x/UNAUTHORIZED"})
    assert "retry-after" in _headers({"$ref": "#/x/SERVICE_UNAVAILABLE"})
    assert {"retry-after", "ratelimit", "ratelimit-policy"} <= _headers(
        {"$ref": "#/x/TOO_MANY_REQUESTS"}
    )
    assert "etag" in _headers({"$ref": "#/x/PRECONDITION_FAILED"})


def test_success_responses_document_the_headers_they_set():
    problems = []
    for path, method, operation in _operations():
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        if "201" in responses and not {"etag", "location"} <= _headers(responses["201"]):
            problems.append(f"{where}: 201 without ETag and Location")
        if "200" not in responses:
            continue
        headers = _headers(responses["200"])
        schema = _success_schema(operation)
        if "next_cursor" in schema.get("properties", {}) and "link" not in headers:
            problems.append(f"{where}: a list without its Link header")
        if method in {"put", "patch"} and "etag" not in headers:
            problems.append(f"{where}: an update without its ETag")
        if "304" in responses and "etag" not in headers:
            problems.append(f"{where}: a conditional GET without its ETag")
        decision = "/status" in path or path == "/v1/decisions"
        if decision and method == "get" and "cache-control" not in headers:
            problems.append(f"{where}: a decision without its Cache-Control")
    assert not problems, "\n".join(problems)


def test_reusable_headers_are_declared_once():
    headers = spec()["components"]["headers"]
    for name in (
        "ETag",
        "Location",
        "Link",
        "Retry-After",
        "Cache-Control",
        "WWW-Authenticate",
        "RateLimit",
        "RateLimit-Policy",
    ):
        assert name in headers, name
        assert headers[name].get("description"), name


def test_writes_need_a_token_and_reads_are_public():
    schemes = spec()["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    for path, method, operation in _operations():
        write = method in WRITES and path not in PUBLIC_POSTS
        assert operation["security"] == ([{"bearerAuth": []}] if write else []), (method, path)


def test_metadata_tags_and_examples():
    document = spec()
    info = document["info"]
    assert info["description"] and info["contact"] and info["license"]["name"]
    assert document["servers"] and all(server["url"] for server in document["servers"])
    tags = {tag["name"]: tag for tag in document["tags"]}
    for path, method, operation in _operations():
        where = f"{method.upper()} {path}"
        for tag in operation["tags"]:
            assert tags[tag].get("description"), tag
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            assert "example" in media or "examples" in media, f"{where} {media_type}"


@pytest.mark.parametrize(
    "operation_id",
    [
        "listCheckpoints",
        "getCheckpoint",
        "createCheckpoint",
        "listRules",
        "getRule",
        "createRule",
        "listClosures",
        "getClosure",
        "createClosure",
        "getDecision",
        "decideMany",
        "getCheckpointStatus",
        "listStatus",
    ],
)
def test_main_responses_have_examples(operation_id):
    operations = {op["operationId"]: op for _, _, op in _operations()}
    operation = operations[operation_id]
    status = "201" if "201" in operation["responses"] else "200"
    media = operation["responses"][status]["content"]["application/json"]
    assert "example" in media or "examples" in media, operation_id
