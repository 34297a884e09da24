"""One error shape: every failure leaves as RFC 9457 problem+json, written here once.

Views raise ``Problem`` (or a storage exception, or call ``abort``); the handlers below
translate. Nothing a client sees ever carries a traceback or SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, json
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

import schemas.common as limits
from service import storage

from .tags import etag_for, quoted

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_PREFIX = "urn:checkpoints:problem:"


class Problem(Exception):
    """An error to answer with; ``kind`` names its problem type."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": _TYPE_PREFIX + self.kind if self.kind else "about:blank",
            "title": self.title or HTTP_STATUS_CODES.get(self.status, "Error"),
            "status": self.status,
            "detail": _trim(self.detail, limits.PROBLEM_MAX_DETAIL),
        }
        if self.errors:
            body["errors"] = _bounded_errors(self.errors)
        body.update(self.extra)
        return body

    def response(self) -> Response:
        response = Response(json.dumps(self.body()), self.status, mimetype=PROBLEM_JSON)
        for name, value in self.headers.items():
            response.headers[name] = value
        return response


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bounded_errors(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The first paths and messages, within the limits the spec states (a body of unknown
    fields can name thousands, and a field name can be long)."""
    bounded: dict[str, list[str]] = {}
    for path, messages in errors.items():
        if len(bounded) == limits.PROBLEM_MAX_ERRORS:
            break
        key = _trim(path, limits.PROBLEM_MAX_PATH)
        kept = bounded.setdefault(key, [])
        for message in messages:
            if len(kept) < limits.PROBLEM_MAX_MESSAGES:
                kept.append(_trim(str(message), limits.PROBLEM_MAX_MESSAGE))
    return bounded


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"location.lat": [...], "countries.0": [...]}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            path = str(key) if key != "_schema" else ""
            full = f"{prefix}.{path}" if prefix and path else (prefix or path)
            for sub_path, sub_messages in flatten_errors(value, full).items():
                flat.setdefault(sub_path, []).extend(sub_messages)
        return flat
    if isinstance(messages, list | tuple) and all(isinstance(m, str) for m in messages):
        return {prefix or "body": list(messages)}
    if isinstance(messages, list | tuple):
        # A validator that raised a dict of paths sits in a list beside plain messages:
        # its keys continue the path, they are not list indexes.
        flat = {}
        for value in messages:
            for path, texts in flatten_errors(value, prefix).items():
                flat.setdefault(path, []).extend(texts)
        return flat
    return {prefix or "body": [str(messages)]}


def validation_problem(messages: Any, detail: str = "The request is not valid.") -> Problem:
    return Problem(422, detail, kind="validation", errors=flatten_errors(messages))


def _from_http_exception(error: HTTPException) -> Problem:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    # Keep headers the exception carries itself (Allow on 405, WWW-Authenticate on 401).
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            headers[name] = value
    messages = data.get("errors") or data.get("messages")
    if status == 422 and messages:
        # webargs nests errors under the location ("json", "query"): drop that level.
        if isinstance(messages, Mapping) and set(messages) <= {"json", "query", "headers", "form"}:
            merged: dict[str, Any] = {}
            for part in messages.values():
                merged.update(part)
            messages = merged
        problem = validation_problem(messages)
        problem.headers.update(headers)
        return problem
    if status >= 500:
        detail = "The server could not complete the request."
    elif status == 404:
        detail = "There is nothing at this URL."
    elif status == 405:
        detail = "This URL does not accept that method; see the Allow header."
    else:
        detail = data.get("message") or error.description or HTTP_STATUS_CODES.get(status, "")
    return Problem(status, detail, headers=headers)


def _from_storage(error: storage.StorageError) -> Problem:
    if isinstance(error, storage.NotFound):
        return Problem(404, str(error), kind="not-found")
    if isinstance(error, storage.AlreadyExists):
        return Problem(409, str(error), kind="already-exists")
    if isinstance(error, storage.RevisionMismatch):
        return Problem(
            412,
            f"{error}: read it again and retry with its ETag in If-Match.",
            kind="precondition-failed",
            headers={
                "ETag": quoted(
                    etag_for(error.resource_type, error.resource_id, error.current_revision)
                )
            },
        )
    if isinstance(error, storage.FeedGone):
        return Problem(
            410,
            f"Events before seq {error.first_seq} are no longer retained: read GET /v1/snapshot "
            "and follow the feed from its seq.",
            kind="feed-gone",
            extra={"first_seq": error.first_seq},
        )
    if isinstance(error, storage.FeedAhead):
        return Problem(
            409,
            f"The feed ends at seq {error.last_seq}; a position beyond it comes from another or "
            "a restored deployment: read GET /v1/snapshot and follow the feed from its seq.",
            kind="feed-position-ahead",
            extra={"last_seq": error.last_seq},
        )
    if isinstance(error, storage.IdempotencyMismatch):
        return Problem(
            422,
            "This Idempotency-Key was first sent with another request; use a new key.",
            kind="idempotency-key-reused",
        )
    if isinstance(error, storage.Conflict):
        return Problem(
            409,
            str(error),
            kind="conflict",
            extra={"conflicting": error.other} if error.other else None,
        )
    if isinstance(error, storage.Corrupt):
        # Logged once per process, loudly, by the store.
        return Problem(
            503,
            "The database is damaged; nothing can be written until an operator restores it.",
            kind="storage-corrupt",
            headers={"Retry-After": "60"},
        )
    if isinstance(error, storage.ReadOnly | storage.StorageFull):
        log.warning("storage refuses writes: %s", error)
        read_only = isinstance(error, storage.ReadOnly)
        return Problem(
            503,
            "Storage is read-only right now; retry later."
            if read_only
            else "Storage is full right now; retry later.",
            kind="storage-read-only" if read_only else "storage-full",
            headers={"Retry-After": "5"},
        )
    if isinstance(error, storage.Unavailable | storage.SchemaNotReady):
        log.warning("storage unavailable: %s", error)
        return Problem(
            503,
            "Storage is not available right now; retry shortly.",
            kind="unavailable",
            headers={"Retry-After": "1"},
        )
    log.error("unexpected storage error", exc_info=error)
    return Problem(500, "The server could not complete the request.")


def init_app(app: Flask) -> None:
    """Register the handlers that render every error as problem+json."""

    @app.errorhandler(Problem)
    def _problem(error: Problem):
        return error.response()

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError):
        return validation_problem(error.messages).response()

    @app.errorhandler(storage.StorageError)
    def _storage(error: storage.StorageError):
        return _from_storage(error).response()

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return handle_http_exception(error)
        log.exception("unhandled error")
        return Problem(500, "The server could not complete the request.").response()


def handle_http_exception(error: HTTPException) -> Response:
    """The problem+json rendering of an HTTPException (404, 405, 413, webargs' 422...)."""
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        log.error("unhandled error", exc_info=error.original_exception)
    return _from_http_exception(error).response()
