"""Fields, validators and schemas shared by every resource."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from zoneinfo import available_timezones

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate

from service.domain.facts import country_codes, validate_country_code
from service.domain.model import TIME_RANGE_TEXT, format_time, in_time_range

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
#: The longest id (ID_PATTERN): checkpoint slugs, and the server's rule and closure ids.
ID_MAX_LENGTH = 63
# RFC 3339 date-time: a date, "T", a time with optional fraction, and a mandatory offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
#: The longest time _RFC3339 admits: 19 characters, a 10-character fraction, a 6-character offset.
TIME_MAX_LENGTH = 35
#: The spec's pattern: _RFC3339 with the years of the supported range and each field held to
#: its values (so that a generator drawing from it mostly draws real times). The exact bounds
#: are instants in UTC (model.TIME_MIN, TIME_END), which a pattern cannot state near the ends.
_RFC3339_IN_RANGE = (
    r"^(19\d{2}|2\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)
_TIME_RANGE_SENTENCE = TIME_RANGE_TEXT[0].upper() + TIME_RANGE_TEXT[1:] + "."
#: The largest revision or feed position: the largest integer every JSON parser reads exactly.
MAX_INTEGER = 2**53 - 1
#: Items per list page at most (the ``limit`` parameter's maximum).
MAX_PAGE = 500
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"
CURSOR_MAX_LENGTH = 200


class StrictSchema(Schema):
    """A schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE


class Time(fields.AwareDateTime):
    """An RFC 3339 time. Any offset is accepted; a time without one is refused; a time outside
    the supported range (model.TIME_MIN to TIME_END) is refused; times are returned in UTC
    with ``Z``. Every time a request carries, in a body or a query, is read by this field."""

    default_error_messages = {
        "invalid": "Not an RFC 3339 time (e.g. 2024-03-01T00:00:00Z).",
        "invalid_awareness": "The time has no offset; add Z or ±HH:MM.",
        "out_of_range": f"Must be {TIME_RANGE_TEXT}.",
    }

    def __init__(self, **kwargs):
        # The limits _deserialize enforces, stated in the spec (a validator would see a datetime).
        metadata = {
            "pattern": _RFC3339_IN_RANGE,
            "maxLength": TIME_MAX_LENGTH,
            **kwargs.pop("metadata", {}),
        }
        if not kwargs.get("dump_only"):
            described = metadata.get("description")
            metadata["description"] = " ".join(filter(None, [described, _TIME_RANGE_SENTENCE]))
        super().__init__(format="iso", default_timezone=None, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _RFC3339.match(value):
            if (
                isinstance(value, str)
                and re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value)
                and not re.search(r"([Zz]|[+-]\d{2}:?\d{2})$", value)
            ):
                raise self.make_error("invalid_awareness")
            raise self.make_error("invalid")
        fraction = re.search(r"\.(\d+)", value)
        if fraction and len(fraction.group(1)) > 6:
            value = value.replace(fraction.group(0), "." + fraction.group(1)[:6])
        if not "1900" <= value[:4] <= "2999":
            raise self.make_error("out_of_range")
        try:
            parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        moment = parsed.astimezone(UTC)
        if not in_time_range(moment):
            raise self.make_error("out_of_range")
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return format_time(value)


#: How long after a time an answer ``as_of`` it is settled: a write still in progress then
#: (or a host's clock a little behind) can no longer be recorded at or before it.
AS_OF_SETTLED_SECONDS = 60


class AsOf(Time):
    """A transaction time: the service's records as they stood at this instant. A Time that
    is not in the future."""

    default_error_messages = {
        "future": "Must not be in the future: as_of asks what had been recorded by then."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment > datetime.now(UTC):
            raise self.make_error("future")
        return moment


def validate_country(code: str) -> None:
    """Raise unless ``code`` is an ISO 3166-1 alpha-2 code (the domain's rule)."""
    message = validate_country_code(code)
    if message:
        raise ValidationError(message)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> None:
    """Raise unless ``name`` is an IANA time zone."""
    if name not in _zones():
        raise ValidationError("Not an IANA time zone (e.g. Europe/Vilnius).")


#: Every country code, once in the spec (components/schemas/CountryCode).
COUNTRY_CODE_SCHEMA = {
    "type": "string",
    "description": "An ISO 3166-1 alpha-2 country code.",
    "enum": sorted(country_codes()),
}


def country_field(**kwargs) -> fields.String:
    """An ISO 3166-1 alpha-2 code; in the spec, a reference to the list of them
    (``COUNTRY_CODE_SCHEMA``)."""
    return fields.String(
        validate=[validate.Length(equal=2), validate_country],
        metadata={
            "x-country-code": True,
            "example": "LT",
            **kwargs.pop("metadata", {}),
        },
        **kwargs,
    )


def id_field(**kwargs) -> fields.String:
    """An id: a slug of 2 to 63 characters (ID_PATTERN)."""
    return fields.String(
        validate=[
            validate.Length(2, ID_MAX_LENGTH),
            validate.Regexp(ID_PATTERN, error="Must match {regex}."),
        ],
        **kwargs,
    )


def owned_ids(resource_type: str) -> tuple[fields.String, fields.String]:
    """The read-only ``id`` and ``checkpoint_id`` of a rule or closure."""
    return (
        fields.String(
            dump_only=True,
            validate=validate.Length(2, ID_MAX_LENGTH),
            metadata={
                "description": "Server-assigned, opaque.",
                "example": f"{resource_type}-3f9a1c2b7d4e5a60",
            },
        ),
        fields.String(
            dump_only=True,
            validate=validate.Length(2, ID_MAX_LENGTH),
            metadata={"description": "Read-only.", "example": "medininkai"},
        ),
    )


def revision_field(**kwargs) -> fields.Integer:
    """A revision number: 1 on creation, +1 on every write."""
    metadata = {"description": "1 on creation, +1 on every write.", **kwargs.pop("metadata", {})}
    return fields.Integer(validate=validate.Range(1, MAX_INTEGER), metadata=metadata, **kwargs)


def cursor_field(**kwargs) -> fields.String:
    """An opaque, URL-safe page cursor."""
    return fields.String(
        validate=[
            validate.Length(1, CURSOR_MAX_LENGTH),
            validate.Regexp(CURSOR_PATTERN, error="Not a cursor issued by this API."),
        ],
        **kwargs,
    )


#: Limits of a problem body: the renderer (service.api.machinery.errors) trims what it sends
#: to them.
PROBLEM_MAX_DETAIL = 2000
PROBLEM_MAX_ERRORS = 100
PROBLEM_MAX_PATH = 200
PROBLEM_MAX_MESSAGES = 20
PROBLEM_MAX_MESSAGE = 1000


class ResourceRefSchema(StrictSchema):
    """A revision of a stored resource."""

    type = fields.String(validate=validate.OneOf(["checkpoint", "rule", "closure"]))
    id = fields.String(validate=validate.Length(2, ID_MAX_LENGTH))
    revision = revision_field()


class ProblemSchema(Schema):
    """An RFC 9457 problem.

    Beside the members below, a problem may carry further extension members; clients ignore
    those they do not know.
    """

    class Meta:
        unknown = INCLUDE

    #: Members only some problems carry (service.api.machinery.answers).
    OPTIONAL_IN_ANSWERS = frozenset({"errors", "conflicting", "first_seq"})

    type = fields.String(
        validate=validate.Length(1, 200),
        metadata={
            "description": "A URI identifying the problem type.",
            "example": "urn:checkpoints:problem:validation",
        },
    )
    title = fields.String(
        validate=validate.Length(1, 200),
        metadata={"description": "A short summary of the problem type."},
    )
    status = fields.Integer(
        validate=validate.Range(400, 599), metadata={"description": "The HTTP status code."}
    )
    detail = fields.String(
        validate=validate.Length(0, PROBLEM_MAX_DETAIL),
        metadata={"description": "What went wrong in this occurrence."},
    )
    errors = fields.Dict(
        keys=fields.String(validate=validate.Length(0, PROBLEM_MAX_PATH)),
        values=fields.List(
            fields.String(validate=validate.Length(0, PROBLEM_MAX_MESSAGE)),
            validate=validate.Length(1, PROBLEM_MAX_MESSAGES),
        ),
        validate=validate.Length(max=PROBLEM_MAX_ERRORS),
        metadata={
            "description": "For validation errors: each offending field's dotted path "
            f"(e.g. `location.lat`, `countries.0`) and its messages; at most "
            f"{PROBLEM_MAX_ERRORS} paths."
        },
    )
    conflicting = fields.Nested(
        ResourceRefSchema,
        metadata={"description": "On a `409` overlap: the rule the write would collide with."},
    )
    first_seq = fields.Integer(
        validate=validate.Range(0, MAX_INTEGER),
        metadata={"description": "On a `410` from the change feed: the oldest retained `seq`."},
    )


class PaginationQuerySchema(StrictSchema):
    """Cursor pagination parameters."""

    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(1, MAX_PAGE),
        metadata={"description": "Items per page (1–500)."},
    )
    cursor = cursor_field(
        metadata={"description": "The `next_cursor` of the previous page (opaque)."}
    )


#: The longest token name (``checkpoints token create NAME``): the actor of a write.
ACTOR_MAX_LENGTH = 63


class RevisionSchema(Schema):
    """One revision of a resource's history."""

    revision = revision_field()
    action = fields.String(validate=validate.OneOf(["created", "updated", "deleted"]))
    recorded_at = Time(metadata={"description": "When the write was committed."})
    actor = fields.String(
        validate=validate.Length(1, ACTOR_MAX_LENGTH),
        metadata={"description": "The name of the token that wrote it."},
    )
    data = fields.Raw(
        allow_none=True,
        metadata={
            "description": "The whole resource as of this revision; null for a deletion.",
            "anyOf": [
                {"$ref": "#/components/schemas/Checkpoint"},
                {"$ref": "#/components/schemas/Rule"},
                {"$ref": "#/components/schemas/Closure"},
                {"type": "null"},
            ],
        },
    )


class RevisionPageSchema(Schema):
    items = fields.List(fields.Nested(RevisionSchema), validate=validate.Length(max=MAX_PAGE))
    next_cursor = cursor_field(allow_none=True)
