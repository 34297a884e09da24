"""Fields, validators and schemas shared by every resource."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from zoneinfo import available_timezones

import pycountry
from marshmallow import RAISE, Schema, ValidationError, fields, validate

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
# RFC 3339 date-time: a date, "T", a time with optional fraction, and a mandatory offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


class StrictSchema(Schema):
    """A schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; a fraction only when there is one."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Time(fields.AwareDateTime):
    """An RFC 3339 time. Any offset is accepted; a time without one is refused; times are
    returned in UTC with ``Z``."""

    default_error_messages = {
        "invalid": "Not an RFC 3339 time (e.g. 2024-03-01T00:00:00Z).",
        "invalid_awareness": "The time has no offset; add Z or ±HH:MM.",
    }

    def __init__(self, **kwargs):
        super().__init__(format="iso", default_timezone=None, **kwargs)

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
        try:
            parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        return parsed.astimezone(UTC)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return format_time(value)


@cache
def _country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


def validate_country(code: str) -> None:
    """Raise unless ``code`` is an ISO 3166-1 alpha-2 code."""
    if code not in _country_codes():
        raise ValidationError("Not an ISO 3166-1 alpha-2 country code (e.g. LT).")


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> None:
    """Raise unless ``name`` is an IANA time zone."""
    if name not in _zones():
        raise ValidationError("Not an IANA time zone (e.g. Europe/Vilnius).")


def country_field(**kwargs) -> fields.String:
    return fields.String(
        validate=[validate.Length(equal=2), validate_country],
        metadata={"pattern": "^[A-Z]{2}$", "example": "LT", **kwargs.pop("metadata", {})},
        **kwargs,
    )


class ProblemSchema(Schema):
    """An RFC 9457 problem."""

    type = fields.String(metadata={"description": "A URI identifying the problem type."})
    title = fields.String(metadata={"description": "A short summary of the problem type."})
    status = fields.Integer(metadata={"description": "The HTTP status code."})
    detail = fields.String(metadata={"description": "What went wrong in this occurrence."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={
            "description": "For validation errors: each offending field's dotted path "
            "(e.g. `location.lat`, `countries.0`) and its messages."
        },
    )


class PaginationQuerySchema(StrictSchema):
    """Cursor pagination parameters."""

    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(1, 500),
        metadata={"description": "Items per page (1–500)."},
    )
    cursor = fields.String(
        validate=validate.Length(1, 200),
        metadata={
            "description": "The `next_cursor` of the previous page (opaque).",
            "pattern": "^[A-Za-z0-9_-]+$",
        },
    )


class RevisionSchema(Schema):
    """One revision of a resource's history."""

    revision = fields.Integer(metadata={"description": "1 on creation, +1 on every write."})
    action = fields.String(validate=validate.OneOf(["created", "updated", "deleted"]))
    recorded_at = Time(metadata={"description": "When the write was committed."})
    actor = fields.String(metadata={"description": "The name of the token that wrote it."})
    data = fields.Dict(
        allow_none=True,
        metadata={"description": "The whole resource as of this revision; null for a deletion."},
    )


class RevisionPageSchema(Schema):
    items = fields.List(fields.Nested(RevisionSchema))
    next_cursor = fields.String(allow_none=True)


class AsOfQuerySchema(StrictSchema):
    as_of = Time(
        metadata={"description": "Give the resource as it was recorded at this time (RFC 3339)."}
    )
