"""Decisions and statuses: may this mode cross here at this time, and why."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from service.domain import MODES, STATES
from service.domain.facts import DIRECTIONS, TRAVELLER_CATEGORY_PATTERN, VEHICLE_CATEGORIES

from .common import ID_PATTERN, PaginationQuerySchema, StrictSchema, Time, country_field

MAX_BATCH = 1000


def _pattern(regex: str, message: str):
    return validate.Regexp(regex, error=message)


class FactsSchema(StrictSchema):
    """What the traveller states about themselves; every fact is optional."""

    direction = fields.String(
        validate=validate.OneOf(DIRECTIONS),
        metadata={"description": "Into (`entry`) or out of (`exit`) the operating country."},
    )
    nationality = country_field(metadata={"description": "ISO 3166-1 alpha-2."})
    vehicle_registration = country_field(metadata={"description": "ISO 3166-1 alpha-2."})
    vehicle_category = fields.String(validate=validate.OneOf(VEHICLE_CATEGORIES))
    traveller_category = fields.String(
        validate=[
            validate.Length(1, 63),
            _pattern(TRAVELLER_CATEGORY_PATTERN, "Must be a slug such as diplomat."),
        ],
        metadata={
            "description": "An open vocabulary of slugs (`diplomat`, `kaliningrad_transit`).",
            "pattern": TRAVELLER_CATEGORY_PATTERN,
        },
    )


class StatusQuerySchema(FactsSchema):
    at = Time(metadata={"description": "The instant to decide for; default now."})


class DecisionQuerySchema(StatusQuerySchema):
    checkpoint_id = fields.String(
        required=True,
        validate=validate.Length(2, 63),
        metadata={"pattern": ID_PATTERN, "example": "medininkai"},
    )
    mode = fields.String(required=True, validate=validate.OneOf(MODES))


class AllStatusQuerySchema(PaginationQuerySchema, StatusQuerySchema):
    country = country_field(metadata={"description": "Only checkpoints of this country."})


class BatchItemSchema(StrictSchema):
    checkpoint_id = fields.String(
        required=True, validate=validate.Length(2, 63), metadata={"pattern": ID_PATTERN}
    )
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    at = Time(metadata={"description": "Default now."})
    facts = fields.Nested(FactsSchema, load_default=dict)


def _items_are_objects(items) -> None:
    if not all(isinstance(item, dict) for item in items):
        raise ValidationError("Each query must be an object.")


class BatchSchema(StrictSchema):
    queries = fields.List(
        fields.Raw(metadata={"type": "object"}),
        required=True,
        validate=[validate.Length(1, MAX_BATCH), _items_are_objects],
        metadata={
            "description": f"1 to {MAX_BATCH} queries, each "
            "`{checkpoint_id, mode, at?, facts?}`; answered in the same order."
        },
    )


class ResourceRefSchema(StrictSchema):
    type = fields.String(validate=validate.OneOf(["checkpoint", "rule", "closure"]))
    id = fields.String()
    revision = fields.Integer()


class ReasonSchema(StrictSchema):
    code = fields.String(
        metadata={
            "description": "closure, no_rule, rule, outside_hours, hours_unknown, allowed, "
            "condition_met, condition_not_met, facts_needed."
        }
    )
    message = fields.String()
    resource = fields.Nested(ResourceRefSchema, allow_none=True)


class DecisionSchema(StrictSchema):
    checkpoint_id = fields.String()
    mode = fields.String(validate=validate.OneOf(MODES))
    at = Time()
    allowed = fields.Boolean(allow_none=True, metadata={"description": "null = unknown."})
    access = fields.String(
        validate=validate.OneOf(["allowed", "restricted", "prohibited", "unknown"])
    )
    reasons = fields.List(fields.Nested(ReasonSchema))
    conditions_text = fields.List(fields.String())
    missing_facts = fields.List(fields.String())
    valid_until = Time(
        allow_none=True,
        metadata={
            "description": "The answer holds from `at` up to (not including) this instant; "
            "null if it can never change given the stored data."
        },
    )


class StatusSchema(StrictSchema):
    checkpoint_id = fields.String()
    at = Time()
    state = fields.String(validate=validate.OneOf(STATES))
    modes = fields.Dict(
        keys=fields.String(validate=validate.OneOf(MODES)), values=fields.Nested(DecisionSchema)
    )
    valid_until = Time(allow_none=True)


class StatusPageSchema(StrictSchema):
    at = Time()
    items = fields.List(fields.Nested(StatusSchema))
    next_cursor = fields.String(allow_none=True)


class BatchResultSchema(StrictSchema):
    results = fields.List(
        fields.Dict(),
        metadata={
            "description": "One per query, in order: a decision, or a problem object "
            "(with its `status`) for a query that could not be answered."
        },
    )
