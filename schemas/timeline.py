"""A checkpoint's timeline: each mode's answers over a range of instants, as intervals."""

from __future__ import annotations

from datetime import timedelta

from marshmallow import ValidationError, fields, validate, validates_schema

from service.domain import MODES

from .common import ID_MAX_LENGTH, ID_PATTERN, AsOf, StrictSchema, Time
from .decisions import (
    AS_OF_ECHO,
    AS_OF_TEXT,
    MAX_REASONS,
    DecisionSchema,
    FactsSchema,
    ReasonSchema,
)

#: The longest range one timeline covers.
MAX_TIMELINE_DAYS = 3660
#: The most instants per mode at which the answer may change within the range (the walk
#: steps from one `valid_until` to the next; equal neighbours are then merged).
MAX_TIMELINE_STEPS = 1000


class TimelineQuerySchema(FactsSchema):
    start = Time(
        data_key="from", required=True, metadata={"description": "The range's first instant."}
    )
    end = Time(
        data_key="to",
        required=True,
        metadata={
            "description": "The range's end (not included); at most "
            f"{MAX_TIMELINE_DAYS} days after `from`."
        },
    )
    mode = fields.String(
        validate=validate.OneOf(MODES), metadata={"description": "Only this mode; default all."}
    )
    as_of = AsOf(metadata={"description": AS_OF_TEXT})

    @validates_schema
    def _bounded(self, data, **kwargs):
        if "start" not in data or "end" not in data:
            return
        if data["end"] <= data["start"]:
            raise ValidationError("Must be after `from`.", field_name="to")
        if data["end"] - data["start"] > timedelta(days=MAX_TIMELINE_DAYS):
            raise ValidationError(
                f"The range may span at most {MAX_TIMELINE_DAYS} days.", field_name="to"
            )


class IntervalSchema(StrictSchema):
    """One answer and the revisions behind it (its reasons), holding over `[from, until)`."""

    start = Time(data_key="from", attribute="from")
    end = Time(data_key="until", attribute="until", metadata={"description": "Not included."})
    allowed = DecisionSchema._declared_fields["allowed"]
    access = DecisionSchema._declared_fields["access"]
    reasons = fields.List(
        fields.Nested(ReasonSchema),
        validate=validate.Length(1, MAX_REASONS),
        metadata={"description": "Why, naming the rule or closure revisions in force then."},
    )
    conditions_text = DecisionSchema._declared_fields["conditions_text"]
    missing_facts = DecisionSchema._declared_fields["missing_facts"]


class TimelineSchema(StrictSchema):
    checkpoint_id = fields.String(
        validate=validate.Length(2, ID_MAX_LENGTH), metadata={"pattern": ID_PATTERN}
    )
    start = Time(data_key="from")
    end = Time(data_key="to")
    as_of = Time(metadata={"description": AS_OF_ECHO})
    OPTIONAL_IN_ANSWERS = frozenset({"as_of"})
    modes = fields.Dict(
        keys=fields.String(validate=validate.OneOf(MODES)),
        values=fields.List(
            fields.Nested(IntervalSchema), validate=validate.Length(1, MAX_TIMELINE_STEPS)
        ),
        validate=validate.Length(1, len(MODES)),
        metadata={
            "description": "Each mode's intervals, in order; together they cover `[from, to)`."
        },
    )


def _interval(start: str, until: str, closure: tuple[str, int] | None = None) -> dict:
    """An interval of the example: goods allowed by their rule, or shut by a closure."""
    if closure is None:
        code, message, resource = (
            "allowed",
            "Goods crossing is allowed",
            ("rule", "rule-salcininkai-goods-1", 1),
        )
        answer = {"allowed": True, "access": "allowed"}
    else:
        code, message, resource = (
            "closure",
            f"Closed for security until {until}",
            ("closure", *closure),
        )
        answer = {"allowed": False, "access": "prohibited"}
    reason = {
        "code": code,
        "message": message,
        "resource": dict(zip(("type", "id", "revision"), resource, strict=True)),
    }
    return {
        "from": start,
        "until": until,
        **answer,
        "reasons": [reason],
        "conditions_text": [],
        "missing_facts": [],
    }


#: Šalčininkai goods as recorded on 2025-11-01 (the example data): the closure of 2025-10-27
#: then ran to 2025-11-30 (revision 2); it was lifted early only later.
TIMELINE_EXAMPLE = {
    "checkpoint_id": "salcininkai",
    "from": "2025-10-20T00:00:00Z",
    "to": "2025-12-15T00:00:00Z",
    "as_of": "2025-11-01T12:00:00Z",
    "modes": {
        "goods": [
            _interval("2025-10-20T00:00:00Z", "2025-10-22T18:00:00Z"),
            _interval(
                "2025-10-22T18:00:00Z",
                "2025-10-23T04:00:00Z",
                ("closure-salcininkai-2025-10-22", 1),
            ),
            _interval("2025-10-23T04:00:00Z", "2025-10-26T22:00:00Z"),
            _interval(
                "2025-10-26T22:00:00Z",
                "2025-11-30T22:00:00Z",
                ("closure-salcininkai-2025-10-27", 2),
            ),
            _interval("2025-11-30T22:00:00Z", "2025-12-15T00:00:00Z"),
        ]
    },
}
