"""Rule: what one mode may do at one checkpoint over a period."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from service.domain import ACCESS, MODES, validate_condition

from .checkpoints import validate_hours
from .common import (
    MAX_PAGE,
    PaginationQuerySchema,
    StrictSchema,
    Time,
    cursor_field,
    owned_ids,
    revision_field,
)

CONDITION_DESCRIPTION = """\
A condition over the traveller's facts, for `restricted` rules. One of:
`{"fact": F, "in": [...]}`, `{"fact": F, "not_in": [...]}`, `{"all": [...]}`,
`{"any": [...]}`, `{"not": {...}}`. Facts: `direction` (entry, exit), `nationality` and
`vehicle_registration` (ISO 3166-1 alpha-2), `vehicle_category` (car, motorcycle, moped, bus,
van, truck, other), `traveller_category` (any slug). Evaluated in three-valued logic: a fact
the client did not state is unknown. At most 16 levels deep and 200 nodes."""


class SourceSchema(StrictSchema):
    """Where the rule or closure was published; each member only as given."""

    #: Answered as written: a member never given is absent (service.api.machinery.answers).
    OPTIONAL_IN_ANSWERS = frozenset({"authority", "reference", "url"})

    authority = fields.String(
        allow_none=True,
        validate=validate.Length(1, 200),
        metadata={"example": "Government of the Republic of Lithuania"},
    )
    reference = fields.String(
        allow_none=True,
        validate=validate.Length(1, 500),
        metadata={"example": "Resolution No. 517 of 2021-07-02, as amended"},
    )
    url = fields.Url(
        allow_none=True,
        schemes={"http", "https"},
        validate=validate.Length(1, 2000),
        metadata={"example": "https://lrv.lt/"},
    )


def validate_condition_field(value) -> None:
    errors = validate_condition(value)
    if errors:
        # Keys are paths inside the condition; "" is the condition itself.
        raise ValidationError({path or "_schema": messages for path, messages in errors.items()})


class RuleSchema(StrictSchema):
    """What one mode may do at one checkpoint over a period."""

    id, checkpoint_id = owned_ids("rule")
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    access = fields.String(
        required=True,
        validate=validate.OneOf(ACCESS),
        metadata={"description": "`restricted`: allowed when `condition` holds."},
    )
    condition = fields.Dict(
        allow_none=True,
        load_default=None,
        dump_default=None,
        validate=validate_condition_field,
        metadata={
            "description": CONDITION_DESCRIPTION,
            "maxProperties": 2,
            "example": {
                "not": {
                    "all": [
                        {"fact": "direction", "in": ["entry"]},
                        {"fact": "vehicle_registration", "in": ["BY"]},
                    ]
                }
            },
        },
    )
    conditions_text = fields.List(
        fields.String(validate=validate.Length(1, 1000)),
        load_default=list,
        dump_default=list,
        validate=validate.Length(max=50),
        metadata={"description": "The conditions in words, as the authority published them."},
    )
    opening_hours = fields.String(
        allow_none=True,
        load_default=None,
        dump_default=None,
        validate=[validate.Length(1, 1000), validate_hours],
        metadata={
            "description": "Hours for this mode (OpenStreetMap syntax), overriding the "
            "checkpoint's."
        },
    )
    valid_from = Time(required=True, metadata={"description": "Inclusive."})
    valid_until = Time(
        allow_none=True,
        load_default=None,
        dump_default=None,
        metadata={"description": "Exclusive; null = until further notice."},
    )
    note = fields.String(
        allow_none=True, load_default=None, dump_default=None, validate=validate.Length(max=4000)
    )
    source = fields.Nested(SourceSchema, allow_none=True, load_default=None, dump_default=None)
    revision = revision_field(dump_only=True)
    created_at = Time(dump_only=True)
    updated_at = Time(dump_only=True)

    @validates_schema
    def _consistent(self, data, **kwargs):
        errors = {}
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end <= start:
            errors["valid_until"] = ["Must be after valid_from."]
        if data.get("condition") is not None and data.get("access") != "restricted":
            errors["condition"] = ["Only a restricted rule has a condition."]
        if errors:
            raise ValidationError(errors)


RULE_EXAMPLE = {
    "mode": "vehicle",
    "access": "restricted",
    "condition": {
        "not": {
            "all": [
                {"fact": "direction", "in": ["entry"]},
                {"fact": "vehicle_registration", "in": ["BY"]},
            ]
        }
    },
    "conditions_text": ["Cars registered in Belarus may not enter Lithuania."],
    "valid_from": "2024-08-16T00:00:00+03:00",
    "valid_until": None,
    "source": {"authority": "Government of the Republic of Lithuania"},
}


class RulePageSchema(StrictSchema):
    items = fields.List(fields.Nested(RuleSchema), validate=validate.Length(max=MAX_PAGE))
    next_cursor = cursor_field(
        allow_none=True, metadata={"description": "Pass as `cursor` for the next page."}
    )


class RuleListQuerySchema(PaginationQuerySchema):
    mode = fields.String(validate=validate.OneOf(MODES))
    at = Time(metadata={"description": "Only rules in force at this time (RFC 3339)."})


#: A rule as the API answers it (times in UTC).
RULE_READ_EXAMPLE = {
    "id": "rule-3f9a1c2b7d4e5a60",
    "checkpoint_id": "medininkai",
    **RULE_EXAMPLE,
    "opening_hours": None,
    "valid_from": "2024-08-15T21:00:00Z",
    "note": None,
    "source": {
        "authority": "Government of the Republic of Lithuania",
        "reference": None,
        "url": None,
    },
    "revision": 1,
    "created_at": "2024-08-14T12:00:00Z",
    "updated_at": "2024-08-14T12:00:00Z",
}
RULE_PAGE_EXAMPLE = {"items": [RULE_READ_EXAMPLE], "next_cursor": None}
