"""The project's Blueprint: query arguments reject unknown parameters, and each operation
declares its id, its error responses and whether it needs a token, in one decorator; path
segments and response headers are declared here once."""

from __future__ import annotations

import http
from collections.abc import Callable

import flask_smorest
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser
from werkzeug.routing import UnicodeConverter

from schemas.common import ID_MAX_LENGTH


class BoundedString(UnicodeConverter):
    """The default path converter, with a bound: a segment longer than any id is a 404, and
    the spec states the bound (``maxLength``) of every path parameter."""

    def __init__(self, map, minlength: int = 1, maxlength: int = ID_MAX_LENGTH, length=None):
        super().__init__(map, minlength=minlength, maxlength=maxlength, length=length)


def headers(*names: str) -> dict[str, str]:
    """Response headers by name: each is a component declared once (``service.api.HEADERS``)."""
    return {name: name for name in names}


class _StrictParser(FlaskParser):
    # webargs drops unknown query parameters by default; a public API must refuse them.
    DEFAULT_UNKNOWN_BY_LOCATION = dict.fromkeys(FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, RAISE)


#: Errors any operation can answer with.
COMMON_ERRORS = (500, 503)
#: Errors of a write: the body, the token, the size, the media type.
WRITE_ERRORS = (400, 401, 403, 413, 415, 422)
#: Errors of a conditional write (PUT, PATCH, DELETE).
CONDITIONAL_ERRORS = (404, 412, 428)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _StrictParser()

    def operation(
        self, operation_id: str, *, errors: tuple[int, ...] = (), write: bool = False
    ) -> Callable:
        """Document an operation: its id, its problem responses and its security."""

        def decorator(func: Callable) -> Callable:
            codes = sorted(set(errors) | set(COMMON_ERRORS))
            for code in reversed(codes):
                func = self.alt_response(code, http.HTTPStatus(code).name)(func)
            doc: dict = {"operationId": operation_id}
            doc["security"] = [{"bearerAuth": []}] if write else []
            return self.doc(**doc)(func)

        return decorator
