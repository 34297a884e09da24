"""The committed OpenAPI document is what the code generates, and it is complete."""

from __future__ import annotations

import json

import jsonschema

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


def _validator(spec: dict, schema: dict) -> jsonschema.Draft202012Validator:
    """A validator for ``schema`` whose references resolve in the whole document."""
    return jsonschema.Draft202012Validator(
        {**schema, "components": spec["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def test_every_example_is_valid_against_its_schema():
    spec = json.loads(render_openapi())
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            contents = [operation.get("requestBody", {}).get("content", {})]
            contents += [r.get("content", {}) for r in operation["responses"].values()]
            for content in contents:
                for media_type, media in content.items():
                    if "example" not in media:
                        continue
                    errors = list(_validator(spec, media["schema"]).iter_errors(media["example"]))
                    assert not errors, f"{method} {path} {media_type}: {errors[0].message}"
                    checked += 1
    assert checked >= 20


def _operation_schema(
    spec: dict, path: str, method: str, status: int, media_type: str | None = None
) -> dict:
    """The schema of a response; of its ``media_type`` when it documents several."""
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response["content"]
    if media_type is None:
        (media,) = content.values()
    else:
        media = content[media_type]
    return media["schema"]


def test_real_answers_are_what_the_spec_says(client, editor, admin):
    """Answers of the main operations, errors included, validate against their schemas."""
    from schemas.closures import CLOSURE_EXAMPLE
    from schemas.decisions import BATCH_EXAMPLE
    from schemas.rules import RULE_EXAMPLE
    from tests.conftest import CHECKPOINT

    spec = json.loads(render_openapi())
    created = client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor)
    rule = client.post("/v1/checkpoints/medininkai/rules", json=RULE_EXAMPLE, headers=editor)
    closure = client.post(
        "/v1/checkpoints/medininkai/closures", json=CLOSURE_EXAMPLE, headers=editor
    )
    rule_id, closure_id = rule.get_json()["id"], closure.get_json()["id"]
    etag = client.get("/v1/checkpoints/medininkai").headers["ETag"]
    at = "at=2025-11-01T00:00:00Z"
    GEO, PNG = {"Accept": "application/geo+json"}, {"Accept": "image/png"}
    calls = [
        ("/v1/checkpoints", "post", 201, created),
        ("/v1/checkpoints/{checkpoint_id}/rules", "post", 201, rule),
        ("/v1/checkpoints/{checkpoint_id}/closures", "post", 201, closure),
        ("/v1/checkpoints", "get", 200, client.get("/v1/checkpoints?limit=1")),
        ("/v1/checkpoints/{checkpoint_id}", "get", 200, client.get("/v1/checkpoints/medininkai")),
        ("/v1/rules/{rule_id}", "get", 200, client.get(f"/v1/rules/{rule_id}")),
        ("/v1/closures/{closure_id}", "get", 200, client.get(f"/v1/closures/{closure_id}")),
        ("/v1/closures", "get", 200, client.get("/v1/closures")),
        (
            "/v1/checkpoints/{checkpoint_id}/revisions",
            "get",
            200,
            client.get("/v1/checkpoints/medininkai/revisions"),
        ),
        (
            "/v1/rules/{rule_id}/revisions/{number}",
            "get",
            200,
            client.get(f"/v1/rules/{rule_id}/revisions/1"),
        ),
        (
            "/v1/decisions",
            "get",
            200,
            client.get(f"/v1/decisions?checkpoint_id=medininkai&mode=vehicle&{at}"),
        ),
        ("/v1/decisions", "post", 200, client.post("/v1/decisions", json=BATCH_EXAMPLE)),
        (
            "/v1/checkpoints/{checkpoint_id}/status",
            "get",
            200,
            client.get(f"/v1/checkpoints/medininkai/status?{at}"),
        ),
        ("/v1/status", "get", 200, client.get(f"/v1/status?{at}")),
        ("/v1/status", "get", 200, client.get(f"/v1/status?{at}", headers=GEO)),
        ("/v1/checkpoints", "get", 200, client.get("/v1/checkpoints", headers=GEO)),
        ("/v1/checkpoints", "get", 406, client.get("/v1/checkpoints", headers=PNG)),
        ("/v1/changes", "get", 200, client.get("/v1/changes")),
        ("/v1/snapshot", "get", 200, client.get("/v1/snapshot")),
        ("/v1/checkpoints", "post", 401, client.post("/v1/checkpoints", json=CHECKPOINT)),
        (
            "/v1/checkpoints",
            "post",
            422,
            client.post("/v1/checkpoints", json={"id": "X", "x" * 300: 1}, headers=editor),
        ),
        (
            "/v1/checkpoints/{checkpoint_id}",
            "delete",
            403,
            client.delete("/v1/checkpoints/medininkai", headers={**editor, "If-Match": etag}),
        ),
        (
            "/v1/checkpoints/{checkpoint_id}",
            "delete",
            412,
            client.delete("/v1/checkpoints/medininkai", headers={**admin, "If-Match": '"0-x"'}),
        ),
        (
            "/v1/checkpoints/{checkpoint_id}/rules",
            "post",
            409,
            client.post("/v1/checkpoints/medininkai/rules", json=RULE_EXAMPLE, headers=editor),
        ),
    ]
    for path, method, status, response in calls:
        assert response.status_code == status, (path, method, response.get_json())
        schema = _operation_schema(spec, path, method, status, response.mimetype)
        errors = list(_validator(spec, schema).iter_errors(response.get_json()))
        assert not errors, f"{method} {path} {status}: {errors[0].message}"
        documented = spec["paths"][path][method]["responses"][str(status)]
        if "$ref" in documented:
            documented = spec["components"]["responses"][documented["$ref"].rsplit("/", 1)[-1]]
        # Link only while there is a next page; Retry-After only on some conflicts; CORS on a
        # write only for a listed origin (reads answer every origin, even without Origin).
        sometimes = {"Link", "Retry-After"}
        if method != "get" and path != "/v1/decisions":
            sometimes.add("Access-Control-Allow-Origin")
        for header in documented.get("headers", {}):
            if header not in sometimes:
                assert header in response.headers, (path, status, header)


def test_a_problem_stays_within_its_limits(client, editor):
    from schemas.common import PROBLEM_MAX_ERRORS, PROBLEM_MAX_PATH

    body = {f"unknown_{index}_" + "x" * 500: index for index in range(300)}
    response = client.post("/v1/checkpoints", json=body, headers=editor)
    problem = response.get_json()
    assert response.status_code == 422
    assert len(problem["errors"]) == PROBLEM_MAX_ERRORS
    assert all(len(path) <= PROBLEM_MAX_PATH for path in problem["errors"])
    spec = json.loads(render_openapi())
    errors = list(_validator(spec, {"$ref": "#/components/schemas/Problem"}).iter_errors(problem))
    assert not errors, errors[0].message


def test_request_headers_are_documented_as_parameters():
    spec = json.loads(render_openapi())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
            where = f"{method.upper()} {path}"
            if method in {"put", "patch", "delete"}:
                assert headers["If-Match"]["required"] is True, where
            if method == "post" and path != "/v1/decisions":
                assert "Idempotency-Key" in headers, where
            if "304" in operation["responses"]:
                assert "If-None-Match" in headers, where
    stream = spec["paths"]["/v1/changes/stream"]["get"]["parameters"]
    assert any(p["name"] == "Last-Event-ID" for p in stream)


def _operations(spec: dict) -> dict[str, tuple[list[dict], dict]]:
    """Each operation by its id: its parameters (its path's included), and itself."""
    return {
        operation["operationId"]: (
            item.get("parameters", []) + operation.get("parameters", []),
            operation,
        )
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def _keys(node) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {key for value in node.values() for key in _keys(value)}
    if isinstance(node, list):
        return {key for value in node for key in _keys(value)}
    return set()


def test_an_items_answers_link_to_its_operations_with_its_etag():
    spec = json.loads(render_openapi())
    operations = _operations(spec)
    for kind in ("Checkpoint", "Rule", "Closure"):
        for source, status in ((f"create{kind}", "201"), (f"get{kind}", "200")):
            links = operations[source][1]["responses"][status]["links"]
            assert set(links) == {
                f"get{kind}",
                f"replace{kind}",
                f"patch{kind}",
                f"delete{kind}",
                f"list{kind}Revisions",
            }, source
            for name, link in links.items():
                parameters, _ = operations[link["operationId"]]
                in_path = {f"path.{p['name']}" for p in parameters if p["in"] == "path"}
                assert in_path <= link["parameters"].keys(), (source, name)
                assert link["parameters"][next(iter(in_path))] == "$response.body#/id"
                if name.startswith(("replace", "patch", "delete")):
                    assert link["parameters"]["header.If-Match"] == "$response.header.ETag"


def test_merge_patch_bodies_have_no_defaults_and_admit_null_for_optional_fields():
    spec = json.loads(render_openapi())
    schemas = spec["components"]["schemas"]
    for kind in ("Checkpoint", "Rule", "Closure"):
        _, operation = _operations(spec)[f"patch{kind}"]
        (media_type,) = operation["requestBody"]["content"]
        assert media_type == "application/merge-patch+json"
        patch = schemas[f"{kind}Patch"]
        assert "default" not in _keys(patch), kind
        assert "null" in patch["description"] and "absent" in patch["description"].lower()
        required = set(schemas[f"{kind}Input"]["required"])
        for name, field in patch["properties"].items():
            if name in required or field.get("readOnly"):
                continue
            types = field.get("type", [])
            admits_null = "null" in types or {"type": "null"} in field.get("anyOf", [])
            assert admits_null, f"{kind}Patch.{name}"
    # With defaults, a generated patch would send them: a rename would reset the hours.
    assert schemas["CheckpointInput"]["properties"]["opening_hours"]["default"] == "24/7"


def test_the_server_is_where_the_document_was_read():
    spec = json.loads(render_openapi())
    assert [server["url"] for server in spec["servers"]] == ["/"]


def _calls(view):
    """The functions a call of ``view`` goes through, outermost first (by ``__wrapped__``)."""
    seen = []
    while view is not None and len(seen) < 100:
        seen.append(view)
        view = getattr(view, "__wrapped__", None)
    return seen


def test_what_only_documents_an_operation_costs_no_call_when_it_is_served(app):
    """flask-smorest's alt_response and doc only document: the view served is the operation's
    own function (behind the decorators that do work), not a call through a wrapper per
    documented error."""
    documenting = ("ResponseMixin.alt_response.", "Blueprint.doc.")
    checked = 0
    for view in app.view_functions.values():
        view_class = getattr(view, "view_class", None)
        for method in getattr(view_class, "methods", None) or ():
            for function in _calls(getattr(view_class, method.lower())):
                name = function.__code__.co_qualname
                assert not name.startswith(documenting), f"{view_class.__name__}.{method}: {name}"
            checked += 1
    assert checked > 20
