"""Decision inputs held by one process between writes, for every backend.

Every live checkpoint's rules, closures and hours are read and turned into domain values once,
in one snapshot together with the feed position it shows. A reader asks the database only for
the current feed position (one indexed single-row query) and reuses the held inputs while it
is unchanged. Every write that changes a resource moves the feed position in the same
transaction, so a write committed by any process or host — before the reader's query — is
seen by that query and replaces the held inputs: never a stale answer after an acknowledged
write.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from .base import DecisionInput, NotFound

#: Derived values held per set of inputs, at most (a few MB of answers).
MEMO_SIZE = 10_000


@dataclass(frozen=True)
class HeldInputs:
    """Every live checkpoint's decision inputs as of one feed position, ordered by id."""

    position: int
    items: tuple[DecisionInput, ...]
    ids: tuple[str, ...] = field(init=False)
    by_id: dict[str, DecisionInput] = field(init=False)
    by_country: dict[str, tuple[DecisionInput, ...]] = field(init=False)
    #: Values callers compute from these inputs alone (answers about a given time), held as
    #: long as the inputs are: a write anywhere brings new inputs and an empty memo.
    derived: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        items = tuple(sorted(self.items, key=lambda item: item.checkpoint.id))
        by_country: dict[str, list[DecisionInput]] = {}
        for item in items:
            for country in dict.fromkeys(item.checkpoint.countries):
                by_country.setdefault(country, []).append(item)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "ids", tuple(item.checkpoint.id for item in items))
        object.__setattr__(self, "by_id", {item.checkpoint.id: item for item in items})
        object.__setattr__(
            self, "by_country", {country: tuple(found) for country, found in by_country.items()}
        )
        object.__setattr__(self, "derived", {})

    def remember(self, key: object, value: object) -> object:
        """Hold ``value`` under ``key`` in ``derived`` (bounded: a full memo starts again)."""
        if len(self.derived) >= MEMO_SIZE:
            self.derived.clear()
        self.derived[key] = value
        return value

    def updated(self, position: int, changed: set[str], found: list[DecisionInput]) -> HeldInputs:
        """These inputs with those of the ``changed`` checkpoints replaced by ``found``
        (a changed checkpoint not found is no longer live), as of ``position``."""
        kept = [item for item in self.items if item.checkpoint.id not in changed]
        return HeldInputs(position, (*kept, *found))

    def one(self, checkpoint_id: str) -> DecisionInput:
        """The held inputs of one live checkpoint."""
        item = self.by_id.get(checkpoint_id)
        if item is None:
            raise NotFound("checkpoint", checkpoint_id)
        return item

    def select(
        self,
        *,
        checkpoint_id: str | None = None,
        country: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[DecisionInput]:
        """The held inputs of one checkpoint, or of all (or a country's) in id order after
        ``after``, at most ``limit`` of them: bounded by the page, not by how many exist."""
        if checkpoint_id is not None:
            item = self.by_id.get(checkpoint_id)
            if item is None or (country is not None and country not in item.checkpoint.countries):
                return []
            return [item]
        items = self.items if country is None else self.by_country.get(country, ())
        start = 0
        if after is not None:
            if country is None:
                start = bisect.bisect_right(self.ids, after)
            else:
                start = bisect.bisect_right(items, after, key=lambda item: item.checkpoint.id)
        end = len(items) if limit is None else start + limit
        return list(items[start:end])


class Holder:
    """The held inputs of one process: ``current(position, load)`` returns them for the feed
    position just read, calling ``load(held)`` (which reads them with the position they show,
    in one snapshot, from the ones held so far or None) only when that position differs from
    the held one."""

    def __init__(self) -> None:
        self._held: HeldInputs | None = None
        #: How many times the inputs were read from the database (for tests and diagnostics).
        self.loads = 0

    def current(self, position: int, load: Callable[[HeldInputs | None], HeldInputs]) -> HeldInputs:
        held = self._held
        if held is None or held.position != position:
            # Greenlets of one worker may load at once: each result is a consistent snapshot
            # at least as new as the position it was asked for, so the last one kept is right.
            held = load(held)
            self.loads += 1
            self._held = held
        return held

    def clear(self) -> None:
        self._held = None
