"""Decisions and statuses: may this mode cross here at this time, and why."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from service.domain import MODES, REASON_CODES, STATES, TIME_END, format_time
from service.domain.facts import (
    DIRECTIONS,
    FACTS,
    TRAVELLER_CATEGORY_PATTERN,
    VEHICLE_CATEGORIES,
)

from .common import (
    AS_OF_SETTLED_SECONDS,
    ID_MAX_LENGTH,
    ID_PATTERN,
    MAX_PAGE,
    AsOf,
    PaginationQuerySchema,
    ResourceRefSchema,
    StrictSchema,
    Time,
    country_field,
    cursor_field,
    id_field,
)

MAX_BATCH = 1000
#: Reasons in one decision at most: one per closure in effect, and closures may overlap.
MAX_REASONS = 1000
#: A reason's message may quote a rule's condition in words, which is shorter than the
#: condition's JSON, itself within a request body (1 MiB).
MAX_REASON_MESSAGE = 1_100_000


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


AS_OF_TEXT = (
    "Transaction time: answer as the service would have answered had it been asked at this "
    "time, from the rules and closures as they were recorded then (not in the future). An "
    "answer with an `as_of` at least "
    f"{AS_OF_SETTLED_SECONDS} s in the past never changes: it is served with "
    "`Cache-Control: public, max-age=31536000, immutable`."
)
AS_OF_ECHO = "The `as_of` the answer was given for (present only when one was asked)."


class StatusQuerySchema(FactsSchema):
    at = Time(
        metadata={"description": "The instant to decide for (valid time); default `as_of`, or now."}
    )
    as_of = AsOf(metadata={"description": f"{AS_OF_TEXT} `at` defaults to it."})


class DecisionQuerySchema(StatusQuerySchema):
    checkpoint_id = id_field(required=True, metadata={"example": "medininkai"})
    mode = fields.String(required=True, validate=validate.OneOf(MODES))


class AllStatusQuerySchema(PaginationQuerySchema, StatusQuerySchema):
    country = country_field(metadata={"description": "Only checkpoints of this country."})


class BatchItemSchema(StrictSchema):
    """One query of a batch."""

    checkpoint_id = id_field(required=True, metadata={"example": "medininkai"})
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    at = Time(metadata={"description": "Default this query's `as_of`, or now."})
    as_of = AsOf(
        metadata={"description": "This query's transaction time; default the batch's `as_of`."}
    )
    facts = fields.Nested(FactsSchema, load_default=dict)


def _items_are_objects(items) -> None:
    if not all(isinstance(item, dict) for item in items):
        raise ValidationError("Each query must be an object.")


class BatchSchema(StrictSchema):
    """The batch as read: each query is checked on its own, so that a bad one is answered
    with a problem in its place and the others still are."""

    queries = fields.List(
        fields.Raw(),
        required=True,
        validate=[validate.Length(1, MAX_BATCH), _items_are_objects],
    )
    as_of = AsOf()


class BatchRequestSchema(StrictSchema):
    """Up to 1,000 crossings to decide at once."""

    queries = fields.List(
        fields.Nested(BatchItemSchema),
        required=True,
        validate=validate.Length(1, MAX_BATCH),
        metadata={
            "description": f"1 to {MAX_BATCH} queries; answered in the same order. A query "
            "that is not valid is answered with a problem in its place."
        },
    )
    as_of = AsOf(
        metadata={
            "description": "Every query's transaction time unless it gives its own (its `at` "
            f"defaults to it). {AS_OF_TEXT}"
        }
    )


class ReasonSchema(StrictSchema):
    code = fields.String(validate=validate.OneOf(REASON_CODES))
    message = fields.String(
        validate=validate.Length(1, MAX_REASON_MESSAGE),
        metadata={"example": "Closed for security until further notice"},
    )
    resource = fields.Nested(ResourceRefSchema, allow_none=True)


class DecisionSchema(StrictSchema):
    checkpoint_id = fields.String(
        validate=validate.Length(2, ID_MAX_LENGTH), metadata={"pattern": ID_PATTERN}
    )
    mode = fields.String(validate=validate.OneOf(MODES))
    at = Time()
    allowed = fields.Boolean(allow_none=True, metadata={"description": "null = unknown."})
    access = fields.String(
        validate=validate.OneOf(["allowed", "restricted", "prohibited", "unknown"])
    )
    reasons = fields.List(
        fields.Nested(ReasonSchema),
        validate=validate.Length(1, MAX_REASONS),
        metadata={"description": "Why; one per closure when closures shut the mode."},
    )
    conditions_text = fields.List(
        fields.String(validate=validate.Length(1, 1000)),
        validate=validate.Length(max=50),
        metadata={"description": "The rule's conditions in words."},
    )
    missing_facts = fields.List(
        fields.String(validate=validate.OneOf(FACTS)),
        validate=validate.Length(max=len(FACTS)),
        metadata={"description": "With `allowed: null`: the facts that would decide."},
    )
    valid_until = Time(
        allow_none=True,
        metadata={
            "description": "The answer holds from `at` up to (not including) this instant; "
            "null if it can never change given the stored data, or changes only at or after "
            f"{format_time(TIME_END)} (the end of the supported range)."
        },
    )
    as_of = Time(metadata={"description": AS_OF_ECHO})
    OPTIONAL_IN_ANSWERS = frozenset({"as_of"})


class StatusSchema(StrictSchema):
    checkpoint_id = fields.String(
        validate=validate.Length(2, ID_MAX_LENGTH), metadata={"pattern": ID_PATTERN}
    )
    at = Time()
    state = fields.String(validate=validate.OneOf(STATES))
    modes = fields.Dict(
        keys=fields.String(validate=validate.OneOf(MODES)),
        values=fields.Nested(DecisionSchema),
        validate=validate.Length(equal=len(MODES)),
        metadata={"description": "The decision for each of the four modes."},
    )
    valid_until = Time(allow_none=True, metadata={"description": "The earliest of the four."})
    as_of = Time(metadata={"description": AS_OF_ECHO})
    OPTIONAL_IN_ANSWERS = frozenset({"as_of"})


class StatusPageSchema(StrictSchema):
    at = Time()
    as_of = Time(metadata={"description": AS_OF_ECHO})
    OPTIONAL_IN_ANSWERS = frozenset({"as_of"})
    items = fields.List(fields.Nested(StatusSchema), validate=validate.Length(max=MAX_PAGE))
    next_cursor = cursor_field(
        allow_none=True, metadata={"description": "Pass as `cursor` for the next page."}
    )


class BatchResultSchema(StrictSchema):
    results = fields.List(
        fields.Raw(
            metadata={
                # Disjoint: a decision has none of a problem's required members.
                "oneOf": [
                    {"$ref": "#/components/schemas/Decision"},
                    {"$ref": "#/components/schemas/Problem"},
                ]
            }
        ),
        validate=validate.Length(1, MAX_BATCH),
        metadata={
            "description": "One per query, in order: a decision, or a problem object "
            "(with its `type`, `title`, `status` and `detail`, which no decision has) for a "
            "query that could not be answered."
        },
    )


def _decision_example(mode: str, **changes) -> dict:
    decision = {
        "checkpoint_id": "medininkai",
        "mode": mode,
        "at": "2024-09-01T10:00:00Z",
        "allowed": True,
        "access": "allowed",
        "reasons": [
            {
                "code": "allowed",
                "message": f"{mode.capitalize()} crossing is allowed",
                "resource": {"type": "rule", "id": f"rule-medininkai-{mode}-2", "revision": 1},
            }
        ],
        "conditions_text": [],
        "missing_facts": [],
        "valid_until": None,
    }
    return {**decision, **changes}


DECISION_EXAMPLE = _decision_example(
    "vehicle",
    allowed=None,
    access="restricted",
    reasons=[
        {
            "code": "facts_needed",
            "message": "Facts needed (vehicle_registration) for the condition: not (direction is "
            "entry and vehicle_registration is BY)",
            "resource": {"type": "rule", "id": "rule-medininkai-vehicle-2", "revision": 2},
        }
    ],
    conditions_text=["Cars registered in Belarus may not enter Lithuania."],
    missing_facts=["vehicle_registration"],
    valid_until="2025-04-16T21:00:00Z",
)
STATUS_EXAMPLE = {
    "checkpoint_id": "medininkai",
    "at": "2024-09-01T10:00:00Z",
    "state": "restricted",
    "modes": {
        "pedestrian": _decision_example(
            "pedestrian",
            allowed=False,
            access="prohibited",
            reasons=[
                {
                    "code": "rule",
                    "message": "Pedestrian crossing is prohibited",
                    "resource": {
                        "type": "rule",
                        "id": "rule-medininkai-pedestrian-2",
                        "revision": 1,
                    },
                }
            ],
        ),
        "cyclist": _decision_example(
            "cyclist",
            allowed=False,
            access="prohibited",
            reasons=[
                {
                    "code": "rule",
                    "message": "Cyclist crossing is prohibited",
                    "resource": {"type": "rule", "id": "rule-medininkai-cyclist-2", "revision": 1},
                }
            ],
        ),
        "vehicle": DECISION_EXAMPLE,
        "goods": _decision_example("goods"),
    },
    "valid_until": "2025-04-16T21:00:00Z",
}
STATUS_PAGE_EXAMPLE = {
    "at": "2024-09-01T10:00:00Z",
    "items": [STATUS_EXAMPLE],
    "next_cursor": "Im1lZGluaW5rYWki",
}
BATCH_EXAMPLE = {
    "queries": [
        {
            "checkpoint_id": "medininkai",
            "mode": "vehicle",
            "at": "2024-09-01T10:00:00Z",
            "facts": {"direction": "entry", "vehicle_registration": "BY"},
        },
        {"checkpoint_id": "nowhere", "mode": "goods"},
        {
            "checkpoint_id": "salcininkai",
            "mode": "goods",
            "at": "2025-11-25T12:00:00Z",
            "as_of": "2025-10-28T12:00:00Z",
        },
    ]
}
BATCH_RESULT_EXAMPLE = {
    "results": [
        {
            **DECISION_EXAMPLE,
            "allowed": False,
            "reasons": [
                {
                    "code": "condition_not_met",
                    "message": "The condition is not met: not (direction is entry and "
                    "vehicle_registration is BY)",
                    "resource": {"type": "rule", "id": "rule-medininkai-vehicle-2", "revision": 2},
                }
            ],
            "missing_facts": [],
        },
        {
            "type": "urn:checkpoints:problem:not-found",
            "title": "Not Found",
            "status": 404,
            "detail": "checkpoint 'nowhere' does not exist",
        },
        {
            # Šalčininkai's closure as first announced (until further notice), as recorded
            # on 2025-10-28; extended on 2025-10-29, lifted early from 2025-11-20.
            "checkpoint_id": "salcininkai",
            "mode": "goods",
            "at": "2025-11-25T12:00:00Z",
            "allowed": False,
            "access": "prohibited",
            "reasons": [
                {
                    "code": "closure",
                    "message": "Closed for security until further notice",
                    "resource": {
                        "type": "closure",
                        "id": "closure-salcininkai-2025-10-27",
                        "revision": 1,
                    },
                }
            ],
            "conditions_text": [],
            "missing_facts": [],
            "valid_until": None,
            "as_of": "2025-10-28T12:00:00Z",
        },
    ]
}
