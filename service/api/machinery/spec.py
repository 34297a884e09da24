"""Finishing passes over the generated OpenAPI document, so that every operation gets them
without declaring them: links between an item's operations, the headers every answer may
carry, and the size of every integer."""

from __future__ import annotations

from typing import Any

import apispec

#: Headers of every answer; of every 2xx and 4xx answer of a rate-limited operation.
EVERY_ANSWER = ("Access-Control-Allow-Origin",)
COUNTED_ANSWER = ("RateLimit", "RateLimit-Policy")
INT32_MAX = 2**31 - 1


class Spec(apispec.APISpec):
    """The document as served and committed: apispec's, finished by the passes below."""

    def to_dict(self) -> dict[str, Any]:
        document = super().to_dict()
        add_item_links(document["paths"])
        add_answer_headers(document["paths"])
        add_integer_formats(document)
        return document


#: The verbs of the operations that answer one resource (``createRule``, ``getRule``...).
_ITEM_VERBS = {"create": "201", "get": "200", "replace": "200", "patch": "200"}


def add_item_links(paths: dict) -> None:
    """Give the answer of each operation that answers one resource (``createRule``,
    ``getRule``, ``replaceRule``, ``patchRule``) OpenAPI links to that resource's operations,
    found by the same naming: its id from the body, and for a write its ETag as ``If-Match``."""
    operations = {
        operation["operationId"]: operation
        for item in paths.values()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for operation_id, operation in operations.items():
        verb = next((v for v in _ITEM_VERBS if operation_id.startswith(v)), "")
        kind = operation_id[len(verb) :]
        if not verb or f"get{kind}" not in operations or f"delete{kind}" not in operations:
            continue
        item = {f"path.{kind.lower()}_id": "$response.body#/id"}
        conditional = {**item, "header.If-Match": "$response.header.ETag"}
        targets = {
            f"get{kind}": item,
            f"replace{kind}": conditional,
            f"patch{kind}": conditional,
            f"delete{kind}": conditional,
            f"list{kind}Revisions": item,
        }
        operation["responses"][_ITEM_VERBS[verb]]["links"] = {
            target: {"operationId": target, "parameters": parameters}
            for target, parameters in targets.items()
            if target in operations
        }


def _operations(paths: dict):
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                yield operation


def add_answer_headers(paths: dict) -> None:
    """Every answer an operation declares in place may carry CORS's
    ``Access-Control-Allow-Origin``; those of a rate-limited operation (one that answers
    ``429``), 2xx and 4xx, carry ``RateLimit`` and ``RateLimit-Policy``. (The shared error
    responses declare theirs once, in ``service.api``.)"""
    for operation in _operations(paths):
        limited = "429" in operation["responses"]
        for status, response in operation["responses"].items():
            if "$ref" in response:
                continue
            names = [*EVERY_ANSWER]
            if limited and status[0] in "24":
                names += COUNTED_ANSWER
            headers = response.setdefault("headers", {})
            for name in names:
                headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})


def add_integer_formats(node: Any) -> None:
    """Every integer states its size (``int32`` when its bounds fit, else ``int64``)."""
    if isinstance(node, dict):
        types = node.get("type")
        if (types == "integer" or (isinstance(types, list) and "integer" in types)) and (
            "format" not in node
        ):
            low, high = node.get("minimum", 0), node.get("maximum", INT32_MAX + 1)
            fits = low >= -INT32_MAX - 1 and high <= INT32_MAX
            node["format"] = "int32" if fits else "int64"
        for value in node.values():
            add_integer_formats(value)
    elif isinstance(node, list):
        for value in node:
            add_integer_formats(value)
