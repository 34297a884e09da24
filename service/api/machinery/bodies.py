"""Request bodies: size limit, media type and JSON parsing, checked before any view runs."""

from __future__ import annotations

import json as stdlib_json
import re
from itertools import accumulate
from typing import Any

from flask import Flask, current_app, g, json, request

from .errors import Problem

#: RFC 7396's media type, which a PATCH documents (and reads as it reads application/json).
MERGE_PATCH = "application/merge-patch+json"
JSON_TYPES = ("application/json", MERGE_PATCH)
_DRAIN_LIMIT = 64 * 1024 * 1024
_CHUNK = 64 * 1024

#: The deepest nesting of arrays and objects a body may have. The deepest legal body, a rule
#: whose condition nests the most levels of ``all`` a condition may have (conditions.MAX_DEPTH,
#: 16), is 33 deep: the rule, 16 condition objects, 15 ``all`` lists and the innermost ``in``.
MAX_JSON_DEPTH = 64
# A JSON string (its brackets do not count); possessive, so a long string costs no backtracking.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# An opening bracket becomes +1 and a closing one -1 (as signed bytes).
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def _is_json(mimetype: str) -> bool:
    return mimetype in JSON_TYPES or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _drain(limit: int) -> None:
    """Read and discard the body (up to a cap) so the client can read our 413 answer."""
    stream = request.environ.get("wsgi.input")
    remaining = min(request.content_length or _DRAIN_LIMIT, _DRAIN_LIMIT)
    while stream is not None and remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)


def _check_body() -> None:
    if request.method not in {"POST", "PUT", "PATCH"}:
        return
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        _drain(limit)
        raise Problem(
            413,
            f"The request body is larger than {limit} bytes.",
            kind="payload-too-large",
            headers={"Connection": "close"},
        )
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if has_body and not _is_json(request.mimetype):
        raise Problem(
            415,
            f"The body must be JSON (application/json), not {request.mimetype or 'untyped'}.",
            kind="unsupported-media-type",
            headers={"Accept-Post": "application/json", "Accept-Patch": ", ".join(JSON_TYPES)},
        )


def nests_too_deep(utf8: bytes) -> bool:
    """True when arrays and objects nest more than MAX_JSON_DEPTH levels deep in the UTF-8 JSON
    text, found without parsing it (the parser recurses once per level). Up to the first
    syntax error it counts exactly the levels the parser would open."""
    if utf8.count(b"[") + utf8.count(b"{") <= MAX_JSON_DEPTH:
        return False  # too few to nest that deep: most bodies
    brackets = _STRING.sub(b"", utf8).translate(None, _NOT_BRACKETS)
    return max(accumulate(memoryview(brackets.translate(_STEPS)).cast("b"))) > MAX_JSON_DEPTH


def read_json() -> Any:
    """The request's JSON body; 400 when it is missing, cannot be parsed, or nests arrays and
    objects deeper than MAX_JSON_DEPTH. Parsed once per request: the rate limit's weight,
    the idempotency fingerprint and the view all read it from here."""
    if "json_body" not in g:
        g.json_body = _parse_json()
    return g.json_body


def _parse_json() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise Problem(400, "A JSON body is required.", kind="malformed-body")
    try:
        encoding = stdlib_json.detect_encoding(raw)
        if not encoding.startswith("utf-8"):  # as the parser does, read UTF-16 and UTF-32 too
            raw = raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except ValueError as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}", kind="malformed-body") from exc
    if nests_too_deep(raw):
        raise Problem(
            400,
            f"The body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.",
            kind="malformed-body",
        )
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}", kind="malformed-body") from exc


def read_json_object() -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    body = read_json()
    if not isinstance(body, dict):
        raise Problem(
            422,
            "The body must be a JSON object.",
            kind="validation",
            errors={"body": ["Must be a JSON object."]},
        )
    return body


def init_app(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or 1024 * 1024
    app.before_request(_check_body)
