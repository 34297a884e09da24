"""The machinery of the bundled example: dated steps of writes, applied through the write path.

Each write is validated by the resource's own schema exactly as the API validates a request
body (``schema.dump(schema.load(body))``, read-only fields dropped) and written with
``Store.create`` / ``Store.update``, the latter conditional on the revision the loader holds,
so the example leaves the same revision history and change feed that API clients would. Each
write is recorded at its step's announcement time (an operator's loader may supply recording
times; the store refuses one earlier than the feed's last or in the future), so that ``as_of``
answers what the service would have said on any past day.
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
from service.storage.times import parse_stamp, to_stamp

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
    """The writes that one announcement made, in the order they are applied, recorded at
    ``announced`` ``hour`` (Vilnius local time). ``illustrative``: the announcement's day is
    not known, only the day the measure took effect; the step is dated a day before it."""

    announced: date
    title: str
    writes: Sequence[Write] = field(default_factory=tuple)
    hour: str = "00:00"
    illustrative: bool = False

    @property
    def recorded_at(self) -> str:
        """The storage timestamp every write of the step is recorded at."""
        return to_stamp(parse_stamp(vilnius(f"{self.announced.isoformat()} {self.hour}")))


def check_order(steps: Sequence[Step]) -> None:
    """Raise unless the steps are in the order of their announcement times."""
    for before, after in pairwise(steps):
        if after.recorded_at < before.recorded_at:
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

    def apply(self, write: Write, recorded_at: str | None = None) -> Record:
        """Apply one write, recorded now or (an operator's dated history) at ``recorded_at``."""
        if isinstance(write, Create):
            return self._create(write, recorded_at)
        return self._update(write, recorded_at)

    def apply_steps(self, steps: Sequence[Step]) -> int:
        """Apply the steps in order, each write recorded at its step's announcement time."""
        check_order(steps)
        for step in steps:
            for write in step.writes:
                self.apply(write, step.recorded_at)
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

    def _create(self, write: Create, recorded_at: str | None) -> Record:
        key = (write.resource_type, write.resource_id)
        fields, data = self._data(
            write.resource_type, write.resource_id, write.checkpoint_id, write.body
        )
        record = self.store.create(
            resource_type=write.resource_type,
            resource_id=write.resource_id,
            data=data,
            actor=self.actor,
            recorded_at=recorded_at,
        )
        self._held[key] = (record.revision, write.checkpoint_id, fields)
        self.written += 1
        return record

    def _update(self, write: Update, recorded_at: str | None) -> Record:
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
            recorded_at=recorded_at,
        )
        self._held[key] = (record.revision, checkpoint_id, fields)
        self.written += 1
        return record
