"""HTTP: the flask-smorest Api, its blueprints, the error shape and the interactive docs."""

from __future__ import annotations

import http

import flask_smorest
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter, resolver
from apispec.ext.marshmallow.field_converter import make_type_list
from flask import Flask, redirect
from flask_smorest.utils import prepare_response
from flask_swagger_ui import get_swaggerui_blueprint
from marshmallow import fields

from schemas.common import AS_OF_SETTLED_SECONDS, COUNTRY_CODE_SCHEMA, ProblemSchema
from service.domain.model import TIME_RANGE_TEXT

from .machinery import answers, bodies, cors, errors, hygiene, ratelimit
from .machinery.blueprint import BoundedString, check_request_headers
from .machinery.bodies import MAX_JSON_DEPTH
from .machinery.errors import PROBLEM_JSON
from .machinery.history import IMMUTABLE
from .machinery.spec import COUNTED_ANSWER, EVERY_ANSWER, Spec

API_DESCRIPTION = f"""\
The state of border crossing points: checkpoints, what each mode of travel (pedestrian,
cyclist, vehicle, goods) may do there over time, and closures. Every resource is versioned:
each write is a new revision, every past revision stays readable, and writes are
conditional on the revision the writer read (`If-Match`).

Reads are public. Writes need `Authorization: Bearer <token>`. Every error is
`application/problem+json` (RFC 9457). Times are RFC 3339 and come back in UTC with `Z`.
Every time sent, in a body or a query, must be
{TIME_RANGE_TEXT} (else `422`); a `valid_until` that would
fall at or after that end is null. A JSON body may nest arrays and objects at most
{MAX_JSON_DEPTH} levels deep (else `400`).

Browsers: reads (`GET`, `HEAD`, the event stream and `POST /v1/decisions`) answer every origin
(CORS, `Access-Control-Allow-Origin: *`); writes answer only the origins the operator lists.
No cookies are read, so no credentials mode is needed. JSON answers of 1 KiB or more to
reads are gzip-compressed when the request has `Accept-Encoding: gzip` (their `ETag` then
names the compressed form); a checkpoint, rule or closure itself is never re-encoded, so its
`ETag` is always the one `If-Match` compares.

Any request may also be refused, as a problem, before it reaches an operation: `414` for a
request line over 8190 bytes (path and query string included), `431` for more than 100 header
fields or one over 8190 bytes, `400` for a request line or header that is not valid HTTP/1.1;
the connection is then closed. Credentials belong in the `Authorization` header: a token in
the query string is never read, and is redacted from the server's logs.

Rate limits: writes count against their token (by its name); every other request counts
against the client's address: reads, the event stream and long-polls once per request,
`POST /v1/decisions` as many times as it has queries, and a write without a valid token.
The probes (`/healthz`, `/readyz`) are never limited. Beyond a limit the answer is `429`
with `Retry-After`. Counted answers carry `RateLimit-Policy` (the policy, `"read"` or
`"write"`, its quota `q` and window `w` in seconds) and `RateLimit` (what remains, `r`, and
the seconds until the window resets, `t`), as in draft-ietf-httpapi-ratelimit-headers. The
defaults are 3000 a minute per address and 120 writes a minute per token; a deployment may
set its own, and counts either in each server process or across all of them.
"""


#: Response headers, declared once; operations refer to them by name (blueprint.headers).
HEADERS = {
    "ETag": {
        "description": "The strong entity tag of what was answered: for a checkpoint, rule or "
        "closure, of its revision (send it back in `If-Match` to write, in `If-None-Match` to "
        "revalidate).",
        "schema": {"type": "string", "maxLength": 100, "example": '"3-5f2a9c1e"'},
    },
    "Location": {
        "description": "The URL of the resource just created.",
        "schema": {"type": "string", "format": "uri-reference", "maxLength": 2000},
    },
    "Link": {
        "description": 'While there is a next page: `<URL of the next page>; rel="next"`.',
        "schema": {"type": "string", "maxLength": 16384},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0, "maximum": 86400, "example": 1},
    },
    "RateLimit-Policy": {
        "description": "The rate limit this request counted against: its name (`read`, per "
        "client address, or `write`, per token), its quota `q` and its window `w` in seconds "
        "(draft-ietf-httpapi-ratelimit-headers).",
        "schema": {"type": "string", "maxLength": 100, "example": '"read";q=3000;w=60'},
    },
    "RateLimit": {
        "description": "What remains of that quota (`r`) and the seconds until its window "
        "resets (`t`).",
        "schema": {"type": "string", "maxLength": 100, "example": '"read";r=0;t=42'},
    },
    "Cache-Control": {
        "description": "`public, max-age=N`: N is bounded by the answer's `valid_until` (for "
        "answers about now) and by the server's ceiling. An answer `as_of` a time at least "
        f"{AS_OF_SETTLED_SECONDS} s in the past never changes: `{IMMUTABLE}`.",
        "schema": {"type": "string", "maxLength": 100, "example": "public, max-age=60"},
    },
    "Access-Control-Allow-Origin": {
        "description": "CORS, when the request has `Origin`: `*` on reads (and on every read "
        "answer, whatever the request); on a write, the origin itself when the operator lists "
        "it (`CHECKPOINTS_CORS_WRITE_ORIGINS`), else absent.",
        "schema": {"type": "string", "maxLength": 200, "example": "*"},
    },
    "WWW-Authenticate": {
        "description": "The `Bearer` challenge (RFC 6750).",
        "schema": {"type": "string", "maxLength": 200, "example": 'Bearer realm="checkpoints"'},
    },
}
#: The headers each response component carries (errors: besides their problem body).
_RESPONSE_HEADERS = {
    http.HTTPStatus.NOT_MODIFIED: ("ETag",),
    http.HTTPStatus.UNAUTHORIZED: ("WWW-Authenticate",),
    http.HTTPStatus.PRECONDITION_FAILED: ("ETag",),
    http.HTTPStatus.TOO_MANY_REQUESTS: ("Retry-After", "RateLimit", "RateLimit-Policy"),
    http.HTTPStatus.SERVICE_UNAVAILABLE: ("Retry-After",),
}
_RESPONSE_DESCRIPTIONS = {
    http.HTTPStatus.NOT_MODIFIED: "`If-None-Match` matches: what the client has is current.",
    http.HTTPStatus.BAD_REQUEST: "The request is not valid HTTP/1.1, or the body is not valid "
    f"JSON, or nests arrays and objects more than {MAX_JSON_DEPTH} levels deep, or a request "
    "header is malformed: `If-Match` or "
    "`If-None-Match` empty or longer than 1000 characters, `Idempotency-Key` not 1 to 255 "
    "printable ASCII characters, `Last-Event-ID` not a seq.",
    http.HTTPStatus.UNAUTHORIZED: "No token, or the token is unknown or revoked.",
    http.HTTPStatus.FORBIDDEN: "The token's role does not allow this write.",
    http.HTTPStatus.CONFLICT: "The write collides with the stored state (an id that exists, an "
    "overlapping rule); on the change feed, a position beyond its newest event (`last_seq` "
    "says where the feed ends).",
    http.HTTPStatus.NOT_ACCEPTABLE: "The `Accept` header allows none of the operation's "
    "representations; `available` lists them.",
    http.HTTPStatus.PRECONDITION_FAILED: "`If-Match` does not match the current revision; the "
    "current `ETag` is sent.",
    http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "The body is larger than the server accepts "
    "(1 MiB unless configured otherwise).",
    http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "The body is not JSON.",
    http.HTTPStatus.UNPROCESSABLE_ENTITY: "A parameter or a field is not valid; `errors` names "
    "each by its dotted path.",
    http.HTTPStatus.PRECONDITION_REQUIRED: "This write needs `If-Match`.",
    http.HTTPStatus.TOO_MANY_REQUESTS: "A rate limit is spent (`RateLimit-Policy` names it): "
    "retry after `Retry-After` seconds.",
    http.HTTPStatus.SERVICE_UNAVAILABLE: "Storage is unavailable, and the problem's `type` "
    "says why (`unavailable`: busy; `storage-read-only`; `storage-full`: the disk is full; "
    "`storage-corrupt`: the database is damaged and needs an operator), or the server holds "
    "as many waiting requests as it can; retry after `Retry-After` seconds.",
}


def _dict_length(converter, field, ret, **kwargs) -> dict:
    """A Length validator on a Dict bounds its number of keys: min/maxProperties, not
    min/maxLength (which apispec writes for any field that is not a list)."""
    if isinstance(field, fields.Dict):
        for length, properties in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
            if length in ret:
                ret[properties] = ret.pop(length)
    return {}


def _country_code(converter, field, ret, **kwargs) -> dict:
    """A country field (schemas.common.country_field) refers to the one list of codes."""
    if ret.pop("x-country-code", False):
        for key in ("type", "minLength", "maxLength"):
            ret.pop(key, None)
        ret["$ref"] = "#/components/schemas/CountryCode"
    return {}


def _merge_patch_member(converter, field, ret, **kwargs) -> dict:
    """In a merge-patch form (a partial schema), an absent member leaves the field as it is,
    so no member has a default; ``null`` removes an optional field, so each is nullable."""
    if getattr(field.parent, "partial", None) is not True:
        return {}
    ret.pop("default", None)
    if field.required or field.dump_only or field.allow_none:
        return {}
    if "$ref" in ret:
        ret["anyOf"] = [{"$ref": ret.pop("$ref")}, {"type": "null"}]
    elif "type" in ret:
        ret["type"] = [*make_type_list(ret["type"]), "null"]
    if "enum" in ret and None not in ret["enum"]:
        ret["enum"] = [*ret["enum"], None]
    return {}


#: The description of every merge-patch body (RFC 7396).
MERGE_PATCH_DESCRIPTION = (
    "A JSON merge patch (RFC 7396): only the members sent change. An absent member leaves "
    "its field as it is (no member has a default here); `null` removes an optional field, "
    "which then takes the value it takes when a create leaves it out (for example "
    "`opening_hours` becomes `24/7`); a required field cannot be removed (`422`); an object "
    "member is merged member by member. Read-only fields may be sent only with their stored "
    "values."
)


class _Converter(OpenAPIConverter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_attribute_function(_dict_length)
        self.add_attribute_function(_country_code)
        self.add_attribute_function(_merge_patch_member)

    def schema2jsonschema(self, schema):
        jsonschema = super().schema2jsonschema(schema)
        if answers.is_answered(schema):
            # An answer carries every field it dumps (machinery.answers).
            jsonschema["required"] = answers.required_names(schema)
        if getattr(schema, "partial", None) is True:
            jsonschema["description"] = MERGE_PATCH_DESCRIPTION
        return jsonschema


class _MarshmallowPlugin(MarshmallowPlugin):
    Converter = _Converter

    def __init__(self):
        super().__init__(schema_name_resolver=_schema_name)


def _schema_name(schema) -> str:
    """``Checkpoint`` for CheckpointSchema as answered; ``CheckpointInput`` for its request
    form, ``CheckpointPatch`` for its merge-patch form (every field optional)."""
    if getattr(schema, "partial", None) is True:
        return resolver(schema) + "Patch"
    if not answers.is_answered(schema) and answers.has_answered_form(schema):
        return resolver(schema) + "Input"
    return resolver(schema)


class Api(flask_smorest.Api):
    """flask-smorest's Api, answering and documenting errors as problem+json."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _init_spec(self, *args, **kwargs):
        super()._init_spec(*args, **kwargs)
        # Finished as a whole when rendered (machinery.spec).
        self.spec.__class__ = Spec

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)

    def _register_responses(self):
        for name, header in HEADERS.items():
            self.spec.components.header(name, header)
        # A problem may carry extension members (RFC 9457): open, but bounded.
        problem = answers.answered(ProblemSchema)
        self.spec.components.schema("Problem", {"maxProperties": 16}, schema=problem)
        self.spec.components.schema("CountryCode", COUNTRY_CODE_SCHEMA)
        for status in http.HTTPStatus:
            response = {"description": _RESPONSE_DESCRIPTIONS.get(status, status.phrase)}
            if status >= 400:
                response["schema"] = problem
                prepare_response(response, self.spec, PROBLEM_JSON)
            names = [*_RESPONSE_HEADERS.get(status, ()), *EVERY_ANSWER]
            if 400 <= status < 500:
                # Counted (but for a probe's 400: the probes are never limited).
                names += [n for n in COUNTED_ANSWER if n not in names]
            response["headers"] = {name: name for name in names}
            self.spec.components.response(status.name, response, lazy=True)

    def _register_pagination_header(self):
        # Lists page by cursor with a Link header; flask-smorest's X-Pagination is not used.
        pass


def init_app(app: Flask) -> Api:
    """Wire the API into ``app``: configuration, blueprints, error handlers and docs."""
    from . import board, checkpoints, closures, decisions, feed, health, rules, timeline
    from .machinery import metrics, waiting

    app.config.update(
        API_TITLE="Checkpoints API",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": API_DESCRIPTION,
                "license": {"name": "MIT", "identifier": "MIT"},
                "contact": {
                    "name": "The operators of this deployment",
                    "url": app.config["CHECKPOINTS"].public_url,
                },
            },
            # Relative: the server that served this document, whatever its port or public
            # address (a generated client is given its base URL).
            "servers": [
                {
                    "url": "/",
                    "description": "This production deployment: where this document was read.",
                    "x-internal": False,
                }
            ],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A token made by `checkpoints token create`.",
                    }
                }
            },
        },
    )
    # Path segments are bounded (every id is at most 63 characters): longer ones are a 404.
    app.url_map.converters["default"] = app.url_map.converters["string"] = BoundedString
    api = Api(app, spec_kwargs={"marshmallow_plugin": _MarshmallowPlugin()})
    cors.init_app(app)
    errors.init_app(app)
    bodies.init_app(app)
    ratelimit.init_app(app)
    app.before_request(check_request_headers)
    api.register_blueprint(health.blp)
    api.register_blueprint(checkpoints.blp)
    api.register_blueprint(rules.blp)
    api.register_blueprint(closures.blp)
    api.register_blueprint(decisions.blp)
    api.register_blueprint(timeline.blp)
    api.register_blueprint(feed.blp)
    api.register_blueprint(board.blp)
    board.init_app(app)
    waiting.init_app(app)

    docs = get_swaggerui_blueprint(
        "/docs",
        "/openapi.json",
        # Nothing in the page depends on the request (its inline script has one hash for the
        # Content-Security-Policy), and nothing is fetched from elsewhere (no validator badge).
        config={
            "app_name": "Checkpoints API",
            "oauth2RedirectUrl": "/docs/oauth2-redirect.html",
            "validatorUrl": None,
        },
    )
    app.register_blueprint(docs, url_prefix="/docs")
    app.add_url_rule("/docs", "docs_redirect", lambda: redirect("/docs/", 308), strict_slashes=True)
    hygiene.init_app(app)
    metrics.init_app(app)
    return api
