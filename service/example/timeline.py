"""The machinery of the bundled example: dated steps of writes, applied through the write path.

Each write is validated by the resource's own schema exactly as the API validates a request
body (``schema.dump(schema.load(body))``, read-only fields dropped) and written with
``Store.create`` / ``Store.update``, the latter conditional on the revision the loader holds,
so the example leaves the same revision history and change feed that API clients would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema

from schemas.checkpoints import CheckpointSchema
from schemas.closures import ClosureSchema
from schemas.rules import RuleSchema
from service.storage import Record, Store

ACTOR = "example"
ZONE = ZoneInfo("Europe/Vilnius")
SCHEMAS: dict[str, type[Schema]] = {
    "checkpoint": CheckpointSchema,
    "rule": RuleSchema,
    "closure": ClosureSchema,
}


def vilnius(local: str) -> str:
    """A Vilnius wall-clock time (``"2024-03-01 00:00"``) as RFC 3339 with its offset."""
    moment = datetime.fromisoformat(local)
    if moment.tzinfo is not None:
        raise ValueError(f"give the local time without an offset: {local!r}")
    return moment.replace(tzinfo=ZONE).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Create:
    """Create a resource. Rules and closures name their checkpoint; a checkpoint's body has
    its ``id``."""

    resource_type: str
    resource_id: str
    body: Mapping[str, Any]
    checkpoint_id: str | None = None


@dataclass(frozen=True)
class Update:
    """Replace some fields of a resource (the rest stay as last written)."""

    resource_type: str
    resource_id: str
    changes: Mapping[str, Any]


Write = Create | Update


@dataclass(frozen=True)
class Step:
    """The writes that one announcement made, in the order they are applied."""

    announced: date
    title: str
    writes: Sequence[Write] = field(default_factory=tuple)


def check_order(steps: Sequence[Step]) -> None:
    """Raise unless the steps are in the order of their announcement dates."""
    for before, after in pairwise(steps):
        if after.announced < before.announced:
            raise ValueError(
                f"step {after.title!r} ({after.announced}) comes after "
                f"{before.title!r} ({before.announced})"
            )


def writable_fields(resource_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a body with the resource's schema; return its writable fields as JSON."""
    schema = SCHEMAS[resource_type]()
    dumped = schema.dump(schema.load(dict(body)))
    return {name: value for name, value in dumped.items() if not schema.fields[name].dump_only}


class Loader:
    """Applies writes in order, holding each resource's last body and revision."""

    def __init__(self, store: Store, actor: str = ACTOR):
        self.store = store
        self.actor = actor
        self.written = 0
        # (type, id) -> (revision held, checkpoint_id, the writable body last written)
        self._held: dict[tuple[str, str], tuple[int, str | None, dict[str, Any]]] = {}

    def apply(self, write: Write) -> Record:
        if isinstance(write, Create):
            return self._create(write)
        return self._update(write)

    def apply_steps(self, steps: Sequence[Step]) -> int:
        check_order(steps)
        for step in steps:
            for write in step.writes:
                self.apply(write)
        return self.written

    def _data(
        self, resource_type: str, resource_id: str, checkpoint_id: str | None, body: Mapping
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        fields = writable_fields(resource_type, body)
        if resource_type == "checkpoint":
            if fields["id"] != resource_id:
                raise ValueError(f"checkpoint body id {fields['id']!r} is not {resource_id!r}")
            return fields, fields
        if checkpoint_id is None:
            raise ValueError(f"{resource_type} {resource_id!r} names no checkpoint")
        return fields, {"id": resource_id, "checkpoint_id": checkpoint_id, **fields}

    def _create(self, write: Create) -> Record:
        key = (write.resource_type, write.resource_id)
        fields, data = self._data(
            write.resource_type, write.resource_id, write.checkpoint_id, write.body
        )
        record = self.store.create(
            resource_type=write.resource_type,
            resource_id=write.resource_id,
            data=data,
            actor=self.actor,
        )
        self._held[key] = (record.revision, write.checkpoint_id, fields)
        self.written += 1
        return record

    def _update(self, write: Update) -> Record:
        key = (write.resource_type, write.resource_id)
        if key not in self._held:
            raise ValueError(
                f"{write.resource_type} {write.resource_id!r} is updated before it exists"
            )
        revision, checkpoint_id, body = self._held[key]
        fields, data = self._data(
            write.resource_type, write.resource_id, checkpoint_id, {**body, **write.changes}
        )
        record = self.store.update(
            resource_type=write.resource_type,
            resource_id=write.resource_id,
            data=data,
            expected_revision=revision,
            actor=self.actor,
        )
        self._held[key] = (record.revision, checkpoint_id, fields)
        self.written += 1
        return record
