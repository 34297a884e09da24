"""GeoJSON (RFC 7946): checkpoints and statuses as a FeatureCollection of Points, for maps."""

from __future__ import annotations

from marshmallow import fields, validate

from .checkpoints import CheckpointSchema
from .common import ID_MAX_LENGTH, MAX_PAGE, StrictSchema, cursor_field
from .decisions import StatusSchema


class PointSchema(StrictSchema):
    """A GeoJSON Point."""

    type = fields.String(required=True, validate=validate.OneOf(["Point"]))
    coordinates = fields.List(
        fields.Float(validate=validate.Range(-180, 180)),
        required=True,
        validate=validate.Length(equal=2),
        metadata={"description": "`[longitude, latitude]` (WGS 84), in that order."},
    )


def _feature(properties_schema: type[StrictSchema], description: str) -> type[StrictSchema]:
    class Feature(StrictSchema):
        type = fields.String(required=True, validate=validate.OneOf(["Feature"]))
        id = fields.String(
            validate=validate.Length(2, ID_MAX_LENGTH),
            metadata={"description": "The checkpoint's id."},
        )
        geometry = fields.Nested(
            PointSchema,
            allow_none=True,
            required=True,
            metadata={"description": "null for a checkpoint without a `location`."},
        )
        properties = fields.Nested(
            properties_schema, required=True, metadata={"description": description}
        )

    return Feature


class CheckpointFeatureSchema(_feature(CheckpointSchema, "The checkpoint, as in JSON.")):
    pass


class StatusFeatureSchema(_feature(StatusSchema, "The checkpoint's status, as in JSON.")):
    pass


def _collection(feature: type[StrictSchema]) -> type[StrictSchema]:
    class Collection(StrictSchema):
        type = fields.String(required=True, validate=validate.OneOf(["FeatureCollection"]))
        features = fields.List(
            fields.Nested(feature), required=True, validate=validate.Length(max=MAX_PAGE)
        )
        next_cursor = cursor_field(
            allow_none=True,
            metadata={"description": "A foreign member: pass as `cursor` for the next page."},
        )

    return Collection


class CheckpointFeatureCollectionSchema(_collection(CheckpointFeatureSchema)):
    """Checkpoints as GeoJSON (RFC 7946)."""


class StatusFeatureCollectionSchema(_collection(StatusFeatureSchema)):
    """Statuses as GeoJSON (RFC 7946)."""
