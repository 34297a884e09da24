"""The API's index: where to start."""

from __future__ import annotations

from marshmallow import fields, validate

from .common import TIME_MAX_LENGTH, StrictSchema


class IndexQuerySchema(StrictSchema):
    at = fields.String(
        validate=validate.Length(1, TIME_MAX_LENGTH),
        metadata={
            "description": "The status board only (`text/html`): show the state at this time "
            "(RFC 3339, or `YYYY-MM-DDTHH:MM` in UTC as a browser's form sends it)."
        },
    )


class IndexSchema(StrictSchema):
    title = fields.String(validate=validate.Length(1, 200))
    links = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 50)),
        values=fields.String(validate=validate.Length(1, 200)),
        validate=validate.Length(max=50),
        metadata={"description": "Name → path of where to go next."},
    )


INDEX_LINKS = {
    "docs": "/docs/",
    "openapi": "/openapi.json",
    "checkpoints": "/v1/checkpoints",
    "status": "/v1/status",
    "closures": "/v1/closures",
    "closures_calendar": "/v1/closures.ics",
    "decisions": "/v1/decisions",
    "changes": "/v1/changes",
    "changes_stream": "/v1/changes/stream",
    "snapshot": "/v1/snapshot",
    "health": "/healthz",
    "ready": "/readyz",
}
INDEX_EXAMPLE = {"title": "Checkpoints API", "links": INDEX_LINKS}
