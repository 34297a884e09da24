"""The project's Blueprint: query arguments reject unknown parameters, and each operation
declares its id, its error responses and whether it needs a token, in one decorator; path
segments and response headers are declared here once."""

from __future__ import annotations

import functools
import http
import types
from collections.abc import Callable
from copy import deepcopy

import flask_smorest
from flask import request
from marshmallow import RAISE, Schema
from webargs.flaskparser import FlaskParser
from werkzeug.routing import UnicodeConverter

from schemas.common import ID_MAX_LENGTH

from . import answers
from .errors import Problem


class BoundedString(UnicodeConverter):
    """The default path converter, with a bound: a segment longer than any id is a 404, and
    the spec states the bound (``maxLength``) of every path parameter."""

    def __init__(self, map, minlength: int = 1, maxlength: int = ID_MAX_LENGTH, length=None):
        super().__init__(map, minlength=minlength, maxlength=maxlength, length=length)


def headers(*names: str) -> dict[str, str]:
    """Response headers by name: each is a component declared once (``service.api.HEADERS``)."""
    return {name: name for name in names}


#: Query strings whose parsed arguments are held, at most (the same questions repeat).
PARSED_QUERIES = 4096
_QUERY_LOCATIONS = ("query", "querystring")


class _StrictParser(FlaskParser):
    # webargs drops unknown query parameters by default; a public API must refuse them.
    DEFAULT_UNKNOWN_BY_LOCATION = dict.fromkeys(FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, RAISE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._parsed_query = functools.lru_cache(maxsize=PARSED_QUERIES)(self._parse_query)

    def parse(
        self, argmap, req=None, *, location=None, validate=None, error_headers=None, **kwargs
    ):
        """webargs' parse. The arguments of a query string that the same schema has accepted
        before are taken from a bounded LRU: they depend on the raw query string alone (a
        validation that depends on the time, such as ``as_of`` not in the future, only ever
        turns a refusal into an acceptance). A query that is refused is never held: it is
        parsed, and answered, anew each time."""
        if (
            location in _QUERY_LOCATIONS
            and isinstance(argmap, Schema)
            and validate is None
            and error_headers is None
            and req is None
        ):
            key = tuple(sorted(kwargs.items()))
            return dict(self._parsed_query(argmap, location, key, request.query_string))
        return super().parse(
            argmap,
            req,
            location=location,
            validate=validate,
            error_headers=error_headers,
            **kwargs,
        )

    def _parse_query(self, argmap, location, options, query_string):
        # Called with the request whose query string is ``query_string``.
        return super().parse(argmap, request, location=location, **dict(options))


#: Errors any operation can answer with (400: a request that is not valid HTTP/1.1).
COMMON_ERRORS = (400, 500, 503)
#: Errors of a write: the body, the token, the size, the media type.
WRITE_ERRORS = (400, 401, 403, 413, 415, 422)
#: Errors of a conditional write (PUT, PATCH, DELETE).
CONDITIONAL_ERRORS = (404, 412, 428)


#: Request headers an operation may read, as OpenAPI header parameters.
REQUEST_HEADERS = {
    "If-Match": {
        "required": True,
        "description": "The ETag of the revision this write is based on (strong comparison; "
        "`*` for any). Missing: `428`; not the current revision: `412`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 1000},
    },
    "If-None-Match": {
        "description": "ETags the client holds (weak comparison): `304` when one matches.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 1000},
    },
    "Idempotency-Key": {
        "description": "A key unique to this create, per token (printable ASCII): a retry with "
        "the same key and body replays the first `201` (with `Idempotent-Replayed: true`) and "
        "writes nothing; the same key with another body is a `422`. The key is stored in the "
        "create's own transaction, so only a create that happened is remembered: a request "
        "that failed or never finished may be retried with the same key. Keys are "
        "remembered for 24 h (`CHECKPOINTS_IDEMPOTENCY_TTL`), then forgotten.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    },
    "Last-Event-ID": {
        "description": "Resume after this `seq` (browsers send it on reconnect).",
        "schema": {"type": "string", "pattern": "^[0-9]{1,16}$", "maxLength": 16},
    },
}


#: Conditional headers are bounded here, before werkzeug parses them, by their declared length.
_BOUNDED_HEADERS = ("If-Match", "If-None-Match")


def check_request_headers() -> None:
    """Refuse (400) a conditional header outside the length the spec declares for it."""
    for name in _BOUNDED_HEADERS:
        value = request.headers.get(name)
        if value is None:
            continue
        schema = REQUEST_HEADERS[name]["schema"]
        if not schema["minLength"] <= len(value) <= schema["maxLength"]:
            raise Problem(
                400,
                f"{name} must be {schema['minLength']} to {schema['maxLength']} characters.",
                kind="bad-header",
            )


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _StrictParser()

    def __init__(self, *args, rate_limited: bool = True, **kwargs):
        """``rate_limited=False``: its operations are exempt from the rate limits (the
        probes) and do not document a 429."""
        super().__init__(*args, **kwargs)
        self.rate_limited = rate_limited

    def arguments(self, schema, *args, **kwargs):
        """flask-smorest's arguments, with a schema class made an instance once here (webargs
        would build one per request)."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def response(self, status_code, schema=None, **kwargs):
        """flask-smorest's response, documenting the schema's answered form (every field
        present: machinery.answers)."""
        return super().response(status_code, answers.answered(schema), **kwargs)

    def alt_response(self, status_code, response=None, *, schema=None, **kwargs):
        """flask-smorest's alt_response, documenting only (see ``_documenting``)."""
        return _documenting(
            super().alt_response(status_code, response, schema=answers.answered(schema), **kwargs)
        )

    @staticmethod
    def doc(**kwargs):
        """flask-smorest's doc, documenting only (see ``_documenting``)."""
        return _documenting(flask_smorest.Blueprint.doc(**kwargs))

    def operation(
        self,
        operation_id: str,
        *,
        errors: tuple[int, ...] = (),
        write: bool = False,
        request_headers: tuple[str, ...] = (),
    ) -> Callable:
        """Document an operation: its id, its problem responses, its security and the
        request headers it reads (a conditional write, one answering 428, reads If-Match)."""
        names = [*request_headers]
        if 428 in errors:
            names.insert(0, "If-Match")
        if names:
            # A malformed request header is a 400.
            errors = (*errors, 400)

        def decorator(func: Callable) -> Callable:
            codes = set(errors) | set(COMMON_ERRORS)
            if self.rate_limited:
                codes.add(429)
            codes = sorted(codes)
            for code in reversed(codes):
                func = self.alt_response(code, http.HTTPStatus(code).name)(func)
            if names:
                # Beside the arguments' own parameters (a plain ``doc(parameters=...)`` would
                # replace them).
                func._apidoc = deepcopy(getattr(func, "_apidoc", {}))
                func._apidoc.setdefault("arguments", {}).setdefault("parameters", []).extend(
                    {"in": "header", "name": name, **deepcopy(REQUEST_HEADERS[name])}
                    for name in names
                )
            doc: dict = {"operationId": operation_id}
            doc["security"] = [{"bearerAuth": []}] if write else []
            return self.doc(**doc)(func)

        return decorator


def _documenting(decorator: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """A flask-smorest decorator that only documents (``alt_response``, ``doc``), made free at
    request time: flask-smorest wraps the view in a function that calls it, one call per
    decorator on every request (an operation has a dozen: one per error it documents). The
    view is given instead as a copy of itself that carries the wrapper's documentation."""

    def decorate(func: Callable) -> Callable:
        wrapper = decorator(func)
        if not isinstance(func, types.FunctionType):
            return wrapper
        copy = types.FunctionType(
            func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__
        )
        copy.__kwdefaults__ = func.__kwdefaults__
        copy.__qualname__ = func.__qualname__
        copy.__doc__ = func.__doc__
        copy.__module__ = func.__module__
        copy.__annotations__ = func.__annotations__
        copy.__dict__.update(wrapper.__dict__)  # the documentation (_apidoc), __wrapped__
        return copy

    return decorate
