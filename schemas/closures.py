"""Closure: a period in which a checkpoint (or some of its modes) is shut."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from service.domain import CLOSURE_REASONS, MODES

from .common import (
    MAX_PAGE,
    PaginationQuerySchema,
    StrictSchema,
    Time,
    country_field,
    cursor_field,
    owned_ids,
    revision_field,
)
from .rules import SourceSchema


class ClosureSchema(StrictSchema):
    """A period in which a checkpoint, or some of its modes, is shut."""

    id, checkpoint_id = owned_ids("closure")
    modes = fields.List(
        fields.String(validate=validate.OneOf(MODES)),
        load_default=lambda: list(MODES),
        validate=validate.Length(1, len(MODES)),
        metadata={"description": "The modes it shuts; default all four.", "uniqueItems": True},
    )
    starts_at = Time(required=True, metadata={"description": "Inclusive."})
    ends_at = Time(
        allow_none=True,
        load_default=None,
        dump_default=None,
        metadata={"description": "Exclusive; null = until further notice."},
    )
    reason = fields.String(required=True, validate=validate.OneOf(CLOSURE_REASONS))
    description = fields.String(
        allow_none=True, load_default=None, dump_default=None, validate=validate.Length(max=4000)
    )
    source = fields.Nested(SourceSchema, allow_none=True, load_default=None, dump_default=None)
    announced_at = Time(allow_none=True, load_default=None, dump_default=None)
    revision = revision_field(dump_only=True)
    created_at = Time(dump_only=True)
    updated_at = Time(dump_only=True)

    @validates_schema
    def _consistent(self, data, **kwargs):
        errors = {}
        start, end = data.get("starts_at"), data.get("ends_at")
        if start and end and end <= start:
            errors["ends_at"] = ["Must be after starts_at."]
        modes = data.get("modes") or []
        if len(set(modes)) != len(modes):
            errors["modes"] = ["Each mode at most once."]
        if errors:
            raise ValidationError(errors)


CLOSURE_EXAMPLE = {
    "modes": ["pedestrian", "cyclist", "vehicle", "goods"],
    "starts_at": "2025-10-27T00:00:00+02:00",
    "ends_at": None,
    "reason": "security",
    "description": "Closed until further notice.",
    "announced_at": "2025-10-27T00:00:00+02:00",
}


class ClosurePageSchema(StrictSchema):
    items = fields.List(fields.Nested(ClosureSchema), validate=validate.Length(max=MAX_PAGE))
    next_cursor = cursor_field(
        allow_none=True, metadata={"description": "Pass as `cursor` for the next page."}
    )


class ClosureListQuerySchema(PaginationQuerySchema):
    active_at = Time(metadata={"description": "Only closures in effect at this time."})
    reason = fields.String(validate=validate.OneOf(CLOSURE_REASONS))
    start = Time(
        data_key="from",
        metadata={"description": "Only closures still in effect at or after this time."},
    )
    end = Time(
        data_key="to", metadata={"description": "Only closures that start before this time."}
    )


class AllClosuresQuerySchema(ClosureListQuerySchema):
    country = country_field(metadata={"description": "Closures of checkpoints of this country."})


#: A closure as the API answers it (times in UTC).
CLOSURE_READ_EXAMPLE = {
    "id": "closure-9c41d07e2b5a8f13",
    "checkpoint_id": "medininkai",
    **CLOSURE_EXAMPLE,
    "starts_at": "2025-10-26T22:00:00Z",
    "source": None,
    "announced_at": "2025-10-26T22:00:00Z",
    "revision": 1,
    "created_at": "2025-10-27T06:00:03Z",
    "updated_at": "2025-10-27T06:00:03Z",
}
CLOSURE_PAGE_EXAMPLE = {"items": [CLOSURE_READ_EXAMPLE], "next_cursor": None}


class CalendarQuerySchema(StrictSchema):
    reason = fields.String(validate=validate.OneOf(CLOSURE_REASONS))
    start = Time(
        data_key="from",
        metadata={"description": "Only closures still in effect at or after this time."},
    )


CALENDAR_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nPRODID:-//checkpoints//closures//EN\r\nVERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\nX-WR-CALNAME:Medininkai: closures\r\nBEGIN:VEVENT\r\n"
    "SUMMARY:Medininkai closed: security (until further notice)\r\n"
    "DTSTART:20251026T220000Z\r\nDTSTAMP:20251027T060003Z\r\n"
    "UID:closure-9c41d07e2b5a8f13@checkpoints\r\nSEQUENCE:1\r\n"
    "DESCRIPTION:Closed until further notice.\\nNo end announced: closed until further "
    "notice.\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
