"""The change feed and the snapshot."""

from __future__ import annotations

from marshmallow import fields, validate

from service.domain.model import ACTIONS, RESOURCE_TYPES

from .checkpoints import CheckpointSchema
from .closures import ClosureSchema
from .common import ACTOR_MAX_LENGTH, ID_MAX_LENGTH, ID_PATTERN, StrictSchema, Time
from .rules import RuleSchema

MAX_SEQ = 2**53 - 1
#: A bound for the spec, not a limit the service sets: a snapshot holds every live resource,
#: and the service is not built for more than this many of a kind.
MAX_SNAPSHOT_ITEMS = 1_000_000
#: The largest ``limit`` of a feed page.
MAX_CHANGES = 1000


class FeedFilterSchema(StrictSchema):
    resource_type = fields.String(validate=validate.OneOf(RESOURCE_TYPES))
    checkpoint_id = fields.String(
        validate=[validate.Length(2, 63), validate.Regexp(ID_PATTERN)],
        metadata={"pattern": ID_PATTERN},
    )


class ChangesQuerySchema(FeedFilterSchema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_SEQ),
        metadata={"description": "The last `seq` seen (`last_seq` of the previous page)."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_CHANGES))
    wait = fields.Integer(
        load_default=0,
        validate=validate.Range(0, 30),
        metadata={"description": "Seconds to wait for a new event when there is none (long-poll)."},
    )


class StreamQuerySchema(FeedFilterSchema):
    after = fields.Integer(
        validate=validate.Range(0, MAX_SEQ),
        metadata={"description": "Start after this `seq` (the `Last-Event-ID` header wins)."},
    )


class ChangeSchema(StrictSchema):
    seq = fields.Integer(validate=validate.Range(1, MAX_SEQ))
    recorded_at = Time()
    resource_type = fields.String(validate=validate.OneOf(RESOURCE_TYPES))
    resource_id = fields.String(validate=validate.Length(2, ID_MAX_LENGTH))
    checkpoint_id = fields.String(validate=validate.Length(2, ID_MAX_LENGTH))
    revision = fields.Integer(validate=validate.Range(1, MAX_SEQ))
    action = fields.String(validate=validate.OneOf(ACTIONS))
    actor = fields.String(validate=validate.Length(1, ACTOR_MAX_LENGTH))
    data = fields.Raw(
        allow_none=True,
        metadata={
            "description": "The resource as of this revision; null for a deletion.",
            "anyOf": [
                {"$ref": "#/components/schemas/Checkpoint"},
                {"$ref": "#/components/schemas/Rule"},
                {"$ref": "#/components/schemas/Closure"},
                {"type": "null"},
            ],
        },
    )


class ChangesPageSchema(StrictSchema):
    changes = fields.List(fields.Nested(ChangeSchema), validate=validate.Length(max=MAX_CHANGES))
    last_seq = fields.Integer(
        validate=validate.Range(0, MAX_SEQ),
        metadata={"description": "Pass as `after` next; past events a filter skipped."},
    )
    has_more = fields.Boolean()


class SnapshotSchema(StrictSchema):
    seq = fields.Integer(
        validate=validate.Range(0, MAX_SEQ),
        metadata={"description": "Follow the feed with `after` = this to lose nothing."},
    )
    checkpoints = fields.List(
        fields.Nested(CheckpointSchema), validate=validate.Length(max=MAX_SNAPSHOT_ITEMS)
    )
    rules = fields.List(fields.Nested(RuleSchema), validate=validate.Length(max=MAX_SNAPSHOT_ITEMS))
    closures = fields.List(
        fields.Nested(ClosureSchema), validate=validate.Length(max=MAX_SNAPSHOT_ITEMS)
    )
