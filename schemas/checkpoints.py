"""Checkpoint: a border crossing point."""

from __future__ import annotations

import re
from functools import cache, lru_cache

import pycountry
from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from service.domain import STATES
from service.domain.hours import validate_opening_hours

from .common import (
    ID_MAX_LENGTH,
    ID_PATTERN,
    MAX_PAGE,
    AsOf,
    PaginationQuerySchema,
    StrictSchema,
    Time,
    country_field,
    cursor_field,
    revision_field,
    validate_timezone,
)

KINDS = ("road", "rail", "pedestrian", "river", "sea", "air")
_LANGUAGE_TAG = re.compile(r"^([a-z]{2,3})(-[A-Za-z0-9]{2,8})*$")


@cache
def _languages() -> frozenset[str]:
    codes = set()
    for language in pycountry.languages:
        codes.add(language.alpha_3)
        if hasattr(language, "alpha_2"):
            codes.add(language.alpha_2)
    return frozenset(codes)


def validate_language_tag(tag: str) -> None:
    match = _LANGUAGE_TAG.match(tag)
    if not match or match.group(1) not in _languages():
        raise ValidationError("Not a language code (ISO 639, optionally with subtags: lt, be).")


def validate_hours(text: str) -> None:
    message = _hours_message(text)
    if message:
        raise ValidationError(f"Not OpenStreetMap opening_hours syntax: {message}")


@lru_cache(maxsize=4096)
def _hours_message(text: str) -> str | None:
    """The verdict on an opening_hours text, parsed once: a write sends the stored hours back
    (a merge patch, a PUT of what was read), and many points share the same hours."""
    return validate_opening_hours(text)


class LocationSchema(StrictSchema):
    lat = fields.Float(
        required=True,
        allow_nan=False,
        validate=validate.Range(-90, 90),
        metadata={"description": "Latitude, WGS 84.", "example": 54.538},
    )
    lon = fields.Float(
        required=True,
        allow_nan=False,
        validate=validate.Range(-180, 180),
        metadata={"description": "Longitude, WGS 84.", "example": 25.655},
    )


class CheckpointSchema(StrictSchema):
    """A border crossing point."""

    id = fields.String(
        required=True,
        validate=[
            validate.Length(2, ID_MAX_LENGTH),
            validate.Regexp(ID_PATTERN, error="Must match {regex}."),
        ],
        metadata={"description": "Client-chosen slug, immutable.", "example": "medininkai"},
    )
    name = fields.String(
        required=True, validate=validate.Length(1, 200), metadata={"example": "Medininkai"}
    )
    local_names = fields.Dict(
        keys=fields.String(validate=[validate.Length(2, 35), validate_language_tag]),
        values=fields.String(validate=validate.Length(1, 200)),
        load_default=dict,
        dump_default=dict,
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={
            "description": "Language code (ISO 639, optionally with subtags) → the point's name "
            "in that language; at most 50.",
            "example": {"lt": "Medininkai", "be": "Каменны Лог"},
        },
    )
    countries = fields.List(
        country_field(required=True),
        required=True,
        validate=validate.Length(equal=2),
        metadata={
            "description": "The operating country first, then the neighbour (ISO 3166-1); "
            "two different codes.",
            "example": ["LT", "BY"],
            "uniqueItems": True,
        },
    )
    counterpart = fields.String(
        allow_none=True,
        dump_default=None,
        validate=validate.Length(1, 200),
        metadata={"description": "The crossing point on the other side.", "example": "Kamenny Log"},
    )
    kind = fields.String(
        required=True, validate=validate.OneOf(KINDS), metadata={"example": "road"}
    )
    location = fields.Nested(
        LocationSchema,
        allow_none=True,
        dump_default=None,
        metadata={"description": "WGS 84 coordinates."},
    )
    timezone = fields.String(
        required=True,
        validate=[validate.Length(1, 64), validate_timezone],
        metadata={
            "description": "IANA zone; opening hours are read in it.",
            "example": "Europe/Vilnius",
        },
    )
    opening_hours = fields.String(
        load_default="24/7",
        validate=[validate.Length(1, 1000), validate_hours],
        metadata={"description": "OpenStreetMap `opening_hours` syntax.", "example": "24/7"},
    )
    revision = revision_field(dump_only=True)
    created_at = Time(dump_only=True)
    updated_at = Time(dump_only=True)

    @post_load
    def _no_null_local_names(self, data, **kwargs):
        if data.get("local_names") is None:
            data["local_names"] = {}
        return data

    @validates_schema
    def _distinct_countries(self, data, **kwargs):
        countries = data.get("countries") or []
        if len(countries) == 2 and countries[0] == countries[1]:
            raise ValidationError("The two countries must differ.", "countries")


CHECKPOINT_EXAMPLE = {
    "id": "medininkai",
    "name": "Medininkai",
    "local_names": {"lt": "Medininkai", "be": "Каменны Лог"},
    "countries": ["LT", "BY"],
    "counterpart": "Kamenny Log",
    "kind": "road",
    "location": {"lat": 54.538, "lon": 25.655},
    "timezone": "Europe/Vilnius",
    "opening_hours": "24/7",
}


class CheckpointPageSchema(StrictSchema):
    items = fields.List(fields.Nested(CheckpointSchema), validate=validate.Length(max=MAX_PAGE))
    next_cursor = cursor_field(
        allow_none=True, metadata={"description": "Pass as `cursor` for the next page."}
    )


class CheckpointListQuerySchema(PaginationQuerySchema):
    country = country_field(metadata={"description": "Either of the two countries."})
    kind = fields.String(validate=validate.OneOf(KINDS))
    q = fields.String(
        validate=validate.Length(1, 200),
        metadata={"description": "Name search, ignoring case and diacritics."},
    )
    state = fields.String(
        validate=validate.OneOf(STATES),
        metadata={"description": "Only checkpoints in this derived state now."},
    )


class CheckpointItemQuerySchema(StrictSchema):
    as_of = AsOf(
        metadata={
            "description": "Give the checkpoint as it was recorded at this time (RFC 3339); "
            "not in the future."
        }
    )


#: A checkpoint as the API answers it.
CHECKPOINT_READ_EXAMPLE = {
    **CHECKPOINT_EXAMPLE,
    "revision": 3,
    "created_at": "2024-01-05T09:12:44Z",
    "updated_at": "2025-10-27T06:00:03Z",
}
CHECKPOINT_PAGE_EXAMPLE = {"items": [CHECKPOINT_READ_EXAMPLE], "next_cursor": "Im1lZGluaW5rYWki"}
