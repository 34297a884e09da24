"""The bundled example: the six Lithuania–Belarus road border points."""

from __future__ import annotations

from schemas.checkpoints import CheckpointSchema
from service.storage import Store

from .data import CHECKPOINTS

ACTOR = "example"


def load(store: Store) -> int:
    """Write the example through the normal write path, in time order; return the writes."""
    schema = CheckpointSchema()
    written = 0
    for checkpoint in CHECKPOINTS:
        fields = schema.dump(schema.load(checkpoint))
        store.create(resource_type="checkpoint", resource_id=fields["id"], data=fields, actor=ACTOR)
        written += 1
    return written
