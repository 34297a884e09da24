"""Decision inputs held by one process between writes, for every backend.

What a process holds as of one feed position: the ordered ids of every live checkpoint (with
its countries), and the decision inputs (rules, closures and hours as domain values) of at
most ``size`` of them, the ones asked for most recently. A reader asks the database only for
the current feed position (one indexed single-row query) and reuses what is held while it is
unchanged; the inputs of a page or a checkpoint not held are read in one query when asked,
and held from then on. Every write that changes a resource moves the feed position in the
same transaction, so a write committed by any process or host — before the reader's query —
is seen by that query and brings a new set, where only the checkpoints the feed names since
are read again: never a stale answer after an acknowledged write.

Inputs read later than the position they are held under are at least as new as it (the
position was read first), and a checkpoint changed after that position is read again with
the next one: what a set holds is never older than its position.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence

from .base import DecisionInput, NotFound

#: Derived values held per set of inputs, at most, in (estimated) bytes: the oldest go first.
MEMO_BYTES = 6 * 1024 * 1024

#: Checkpoints whose decision inputs one process holds at most, by default
#: (``CHECKPOINTS_HELD_CHECKPOINTS``).
HELD_CHECKPOINTS = 500

#: Reads the decision inputs of the named live checkpoints (all of them for None), in one
#: snapshot; a checkpoint no longer live is left out.
Load = Callable[[Sequence[str] | None], list[DecisionInput]]

#: Missing inputs read by name in one query, at most: beyond, every live checkpoint is read.
LOAD_BY_NAME_MAX = 500


def weight(value: object) -> int:
    """Roughly the bytes ``value`` takes in memory (strings, bytes, containers, dataclasses
    of those; anything else counts as a small object)."""
    if isinstance(value, (str, bytes)):
        return 50 + len(value)
    if isinstance(value, dict):
        return 100 + 40 * len(value) + sum(weight(k) + weight(v) for k, v in value.items())
    if isinstance(value, (tuple, list, set, frozenset)):
        return 60 + 8 * len(value) + sum(weight(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 100 + sum(weight(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 50


class HeldInputs:
    """The live checkpoints as of one feed position: their ids in order (``ids``, and
    ``by_country``: each country's ids in order), and the decision inputs of at most ``size``
    of them, read by ``load`` when first asked for."""

    __slots__ = (
        "_countries",
        "_held",
        "_load",
        "_memo_bytes",
        "_weights",
        "by_country",
        "derived",
        "ids",
        "position",
        "size",
    )

    def __init__(
        self,
        position: int,
        index: Iterable[tuple[str, Sequence[str]]] | HeldInputs,
        load: Load,
        *,
        size: int = HELD_CHECKPOINTS,
        held: Iterable[DecisionInput] = (),
    ) -> None:
        """``index``: each live checkpoint's id and countries (or inputs whose ids and
        countries are the same: shared); ``held``: inputs already read (as new as
        ``position`` at least), held first."""
        self.position = position
        if isinstance(index, HeldInputs):
            self._countries = index._countries
            self.ids = index.ids
            self.by_country = index.by_country
        else:
            self._index(index)
        self._load = load
        self.size = max(0, size)
        self._held: OrderedDict[str, DecisionInput] = OrderedDict()
        for item in held:
            self._hold(item)
        #: Values callers compute from these inputs alone (answers about a given time), held
        #: as long as the inputs are: a write anywhere brings new inputs and an empty memo.
        self.derived: dict = {}
        self._weights: dict = {}
        self._memo_bytes = 0

    def _index(self, index: Iterable[tuple[str, Sequence[str]]]) -> None:
        shared: dict[tuple[str, ...], tuple[str, ...]] = {}
        #: Each live checkpoint's countries (one tuple for each pair that occurs).
        self._countries: dict[str, tuple[str, ...]] = {}
        for checkpoint_id, countries in index:
            pair = tuple(dict.fromkeys(countries))
            self._countries[checkpoint_id] = shared.setdefault(pair, pair)
        self.ids: tuple[str, ...] = tuple(sorted(self._countries))
        by_country: dict[str, list[str]] = {}
        for checkpoint_id in self.ids:
            for country in self._countries[checkpoint_id]:
                by_country.setdefault(country, []).append(checkpoint_id)
        self.by_country: dict[str, tuple[str, ...]] = {
            country: tuple(found) for country, found in by_country.items()
        }

    @classmethod
    def of(cls, position: int, items: Iterable[DecisionInput], **kwargs) -> HeldInputs:
        """Inputs as of ``position`` that are all these (nothing more to read)."""
        items = list(items)
        by_id = {item.checkpoint.id: item for item in items}

        def load(ids: Sequence[str] | None) -> list[DecisionInput]:
            return [by_id[i] for i in (sorted(by_id) if ids is None else ids) if i in by_id]

        index = [(item.checkpoint.id, item.checkpoint.countries) for item in items]
        return cls(position, index, load, **kwargs)

    def remember(self, key: object, value: object) -> object:
        """Hold ``value`` under ``key`` in ``derived``, bounded by ``MEMO_BYTES`` (estimated
        by ``weight``): the oldest go first."""
        derived, weights = self.derived, self._weights
        self._memo_bytes -= weights.pop(key, 0)
        derived.pop(key, None)
        size = weight(key) + weight(value)
        while derived and self._memo_bytes + size > MEMO_BYTES:
            oldest = next(iter(derived))
            del derived[oldest]
            self._memo_bytes -= weights.pop(oldest, 0)
        derived[key] = value
        weights[key] = size
        self._memo_bytes += size
        return value

    # --- the held decision inputs ----------------------------------------------------------
    @property
    def held_ids(self) -> list[str]:
        """The checkpoints whose inputs are held now, least recently used first."""
        return list(self._held)

    def holds(self, checkpoint_id: str) -> bool:
        """Whether this checkpoint's inputs are held now."""
        return checkpoint_id in self._held

    def _hold(self, item: DecisionInput) -> None:
        held = self._held
        held[item.checkpoint.id] = item
        held.move_to_end(item.checkpoint.id)
        while len(held) > self.size:
            held.popitem(last=False)

    def inputs(self, ids: Sequence[str], *, hold: bool = True) -> list[DecisionInput]:
        """The inputs of these checkpoints, in this order: those not held are read (one
        query) and held (unless not ``hold``). A checkpoint no longer live (deleted since this
        position) is left out."""
        held = self._held
        found: dict[str, DecisionInput] = {}
        missing = []
        for checkpoint_id in ids:
            item = held.get(checkpoint_id)
            if item is None:
                missing.append(checkpoint_id)
            else:
                held.move_to_end(checkpoint_id)
                found[checkpoint_id] = item
        if missing:
            wanted = set(missing)
            loaded = self._load(missing if len(missing) <= LOAD_BY_NAME_MAX else None)
            fresh = [item for item in loaded if item.checkpoint.id in wanted]
            # Only the last ``size`` are held: a longer list does not churn through the rest.
            for item in fresh[-self.size :] if self.size and hold else ():
                self._hold(item)
            found.update((item.checkpoint.id, item) for item in fresh)
        return [found[i] for i in ids if i in found]

    def updated(
        self,
        position: int,
        changed: set[str],
        index: Iterable[tuple[str, Sequence[str]]],
        found: Iterable[DecisionInput],
    ) -> HeldInputs:
        """As of ``position``: the ``changed`` checkpoints' ids replaced by ``index`` (those
        of them still live, with their countries), their inputs dropped and those read again
        (``found``) held; everything else as held here."""
        countries = {i: tuple(dict.fromkeys(c)) for i, c in index}
        if all(self._countries.get(i) == countries.get(i) for i in changed):
            # The same checkpoints in the same countries (most writes): the ids are shared.
            ids: HeldInputs | list = self
        else:
            kept = [(i, c) for i, c in self._countries.items() if i not in changed]
            ids = [*kept, *countries.items()]
        return HeldInputs(
            position,
            ids,
            self._load,
            size=self.size,
            held=[
                *(item for i, item in self._held.items() if i not in changed),
                *found,
            ],
        )

    # --- what callers ask ------------------------------------------------------------------
    def one(self, checkpoint_id: str) -> DecisionInput:
        """The held inputs of one live checkpoint."""
        if not self._has(checkpoint_id):
            raise NotFound("checkpoint", checkpoint_id)
        found = self.inputs([checkpoint_id])
        if not found:
            raise NotFound("checkpoint", checkpoint_id)
        return found[0]

    def _has(self, checkpoint_id: str) -> bool:
        return checkpoint_id in self._countries

    def select(
        self,
        *,
        checkpoint_id: str | None = None,
        country: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[DecisionInput]:
        """The inputs of one checkpoint, or of all (or a country's) in id order after
        ``after``, at most ``limit`` of them: bounded by the page, not by how many exist."""
        if checkpoint_id is not None:
            countries = self._countries.get(checkpoint_id)
            if countries is None or (country is not None and country not in countries):
                return []
            return self.inputs([checkpoint_id])
        ids = self.ids if country is None else self.by_country.get(country, ())
        start = 0 if after is None else bisect.bisect_right(ids, after)
        end = len(ids) if limit is None else start + limit
        return self.inputs(ids[start:end])

    def each(self, *, country: str | None = None) -> Iterator[DecisionInput]:
        """The inputs of every checkpoint (or a country's) in id order, those not held read
        by name ``LOAD_BY_NAME_MAX`` at a time and not held (a walk through all would push
        out the ones asked for most): however many exist, at most that many more are in
        memory at once."""
        ids = self.ids if country is None else self.by_country.get(country, ())
        for start in range(0, len(ids), LOAD_BY_NAME_MAX):
            yield from self.inputs(ids[start : start + LOAD_BY_NAME_MAX], hold=False)


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
