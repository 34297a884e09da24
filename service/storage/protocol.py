"""The versioning protocol, written once for every backend.

Every write is one transaction that holds the backend's write serialisation from its start:
it re-checks the expected revision, checks the invariants that involve other resources,
writes the new state, a revision row and a feed row together, so ``seq`` is gap-free and in
commit order. A backend (``sqlite.py``, ``postgres.py``) supplies only what differs:
connections, how a transaction begins and takes the write lock, how the feed is waited on,
migrations, and the translation of its driver's errors into ``base``'s exceptions. The SQL
here is the dialect both engines share, with ``?`` placeholders.
"""

from __future__ import annotations

import abc
import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, Literal

import orjson

from .base import (
    AlreadyExists,
    CheckpointFilter,
    ClosureFilter,
    Conflict,
    DecisionInput,
    FeedAhead,
    FeedGone,
    FeedPage,
    HistoryOrder,
    IdempotencyKey,
    IdempotencyMismatch,
    NotFound,
    Page,
    Record,
    Revision,
    RevisionMismatch,
    RuleFilter,
    Store,
    Token,
    TokenExists,
)
from .held import HELD_CHECKPOINTS, HeldInputs, Holder
from .kinds import KINDS, Kind
from .records import decision_input
from .search import fold
from .times import now_stamp, parse_stamp, to_stamp

#: What a transaction is for: one statement (no snapshot needed), several reads that must
#: see one snapshot, or a write (serialised with every other write).
Mode = Literal["one", "read", "write"]

#: Checkpoints read again by one catch-up of the held inputs, at most (beyond, all are read).
CATCH_UP_MAX = 500

#: Expired idempotency keys purged by one keyed create, at most.
PURGE_BATCH = 100


class Tx:
    """One open transaction: ``execute(sql, params)`` returns a DB-API cursor."""

    __slots__ = ("execute", "feed_seq", "time")

    def __init__(self, execute: Callable[[str, Any], Any]):
        self.execute = execute
        #: The one time every revision of this transaction is recorded at.
        self.time: str | None = None
        #: The newest seq this transaction wrote to the feed (None: it wrote no event).
        self.feed_seq: int | None = None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(text: str | None) -> Any:
    return None if text is None else _parse(text)


#: A run of digits that may be an integer beyond 64 bits (2**63 has 19 digits).
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _parse(text: str) -> Any:
    """Stored JSON, read by orjson (several times the standard library's speed) to the same
    values. orjson would read an integer beyond 64 bits as a float, so text with a run of 19
    digits or more is read by the standard library, as is anything orjson refuses."""
    if _LONG_DIGITS.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class VersionedStore(Store):
    """The protocol over a backend's transactions."""

    #: How often a waiter without commit notifications looks at the feed, in seconds.
    poll_interval = 0.1
    #: Checkpoints whose decision inputs this process holds at most (``held.py``).
    held_checkpoints = HELD_CHECKPOINTS

    # --- what a backend supplies -----------------------------------------------------------
    @abc.abstractmethod
    def transaction(self, mode: Mode = "one") -> AbstractContextManager[Tx]:
        """A transaction: ``write`` holds the write serialisation from its first statement
        and commits on success (announcing ``tx.feed_seq`` to waiters where the backend
        can); anything raised rolls it back. Driver errors leave as ``base`` exceptions."""

    def wait_for_change(
        self, after: int, timeout: float, stop: threading.Event | None = None
    ) -> bool:
        """Wait up to ``timeout`` seconds for the feed to pass ``after``; True once it has.
        This default polls; a backend with commit notifications overrides it."""
        deadline = time.monotonic() + timeout
        while True:
            if self.feed_position() > after:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            if stop is not None:
                stop.wait(min(self.poll_interval, remaining))
            else:
                time.sleep(min(self.poll_interval, remaining))

    # --- versioned resources ---------------------------------------------------------------
    def _head(self, tx: Tx, kind: Kind, resource_id: str) -> tuple | None:
        return tx.execute(
            f"SELECT revision, live, created_at, data FROM {kind.table} WHERE id = ?",
            [resource_id],
        ).fetchone()

    def get(self, *, resource_type: str, resource_id: str) -> Record:
        kind = KINDS[resource_type]
        with self.transaction() as tx:
            row = self._head(tx, kind, resource_id)
        if row is None or not row[1]:
            raise NotFound(resource_type, resource_id)
        return Record(resource_type, resource_id, row[0], _parse(row[3]))

    def _as_of(self, tx: Tx, as_of: str, where: str, params: list) -> list[tuple]:
        """Transaction time: the newest revision recorded at or before ``as_of`` of each
        resource that ``where`` selects, as (type, revision, action, data); deletions
        included (their action says so)."""
        return tx.execute(
            "SELECT resource_type, revision, action, data FROM revisions r "
            "WHERE recorded_at <= ? AND revision = (SELECT MAX(revision) FROM revisions p "
            "WHERE p.resource_type = r.resource_type AND p.resource_id = r.resource_id "
            f"AND p.recorded_at <= ?) AND ({where})",
            [as_of, as_of, *params],
        ).fetchall()

    def get_as_of(self, *, resource_type: str, resource_id: str, as_of: str) -> Record:
        with self.transaction() as tx:
            rows = self._as_of(
                tx, as_of, "resource_type = ? AND resource_id = ?", [resource_type, resource_id]
            )
        if not rows or rows[0][2] == "deleted":
            raise NotFound(
                resource_type, resource_id, f"{resource_type} {resource_id!r} did not exist then"
            )
        return Record(resource_type, resource_id, rows[0][1], _parse(rows[0][3]))

    def _record(
        self,
        tx: Tx,
        *,
        kind: Kind,
        resource_id: str,
        revision: int,
        action: str,
        actor: str,
        fields: Mapping[str, Any] | None,
        created_at: str | None,
        checkpoint_id: str,
        recorded_at: str | None = None,
    ) -> dict[str, Any] | None:
        """Write one revision: the new state, its history row and its feed event."""
        if recorded_at is None:
            # The next seq and the transaction's time, taken in one statement: one time per
            # transaction, and times never go backwards along the feed, whatever the clocks
            # of the writers (or hosts).
            seq, tx.time = tx.execute(_NEXT_EVENT, [tx.time or now_stamp()] * 2).fetchone()
            feed_updated = True
        else:
            last_seq, last_recorded_at = tx.execute(
                "SELECT last_seq, last_recorded_at FROM feed_state WHERE id = 1"
            ).fetchone()
            tx.time = _supplied_time(recorded_at, last_recorded_at)
            seq, feed_updated = last_seq + 1, False
        resource = None
        if fields is not None:
            resource = {
                **fields,
                "revision": revision,
                "created_at": created_at or tx.time,
                "updated_at": tx.time,
            }
        self._apply_event(
            tx,
            {
                "seq": seq,
                "recorded_at": tx.time,
                "resource_type": kind.name,
                "resource_id": resource_id,
                "checkpoint_id": checkpoint_id,
                "revision": revision,
                "action": action,
                "actor": actor,
                "data": resource,
            },
            feed_updated=feed_updated,
        )
        return resource

    def create(
        self,
        *,
        resource_type: str,
        resource_id: str,
        data: Mapping[str, Any],
        actor: str,
        idempotency: IdempotencyKey | None = None,
        recorded_at: str | None = None,
    ) -> Record:
        kind = KINDS[resource_type]
        with self.transaction("write") as tx:
            if idempotency is not None:
                replay = self._idempotent_replay(tx, idempotency)
                if replay is not None:
                    return replay
            head = self._head(tx, kind, resource_id)
            if head is not None and head[1]:
                raise AlreadyExists(resource_type, resource_id)
            revision = 1 if head is None else head[0] + 1
            self._check_invariants(tx, kind, resource_id, data)
            resource = self._record(
                tx,
                kind=kind,
                resource_id=resource_id,
                revision=revision,
                action="created",
                actor=actor,
                fields=data,
                created_at=None,
                checkpoint_id=kind.checkpoint_id(data),
                recorded_at=recorded_at,
            )
            if idempotency is not None:
                tx.execute(
                    "INSERT INTO idempotency_keys (actor, key, fingerprint, state, created_at, "
                    "resource_type, resource_id, revision) "
                    "VALUES (?, ?, ?, 'done', ?, ?, ?, ?)",
                    [
                        idempotency.actor,
                        idempotency.key,
                        idempotency.fingerprint,
                        tx.time,
                        resource_type,
                        resource_id,
                        revision,
                    ],
                )
        return Record(resource_type, resource_id, revision, resource)

    def _idempotent_replay(self, tx: Tx, key: IdempotencyKey) -> Record | None:
        """Inside the create's write transaction: the first outcome of this key (a replay),
        a mismatch, or None when the key is new or expired (then the create stores it).
        Expired keys are purged here, a bounded batch at a time."""
        expired = to_stamp(parse_stamp(now_stamp()) - timedelta(seconds=key.ttl_seconds))
        tx.execute(
            "DELETE FROM idempotency_keys WHERE (actor, key) IN (SELECT actor, key "
            "FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)",
            [expired, PURGE_BATCH],
        )
        tx.execute(
            "DELETE FROM idempotency_keys WHERE actor = ? AND key = ? AND created_at < ?",
            [key.actor, key.key, expired],
        )
        row = tx.execute(
            "SELECT k.fingerprint, k.resource_type, k.resource_id, k.revision, r.data "
            "FROM idempotency_keys k LEFT JOIN revisions r ON r.resource_type = k.resource_type "
            "AND r.resource_id = k.resource_id AND r.revision = k.revision "
            "WHERE k.actor = ? AND k.key = ?",
            [key.actor, key.key],
        ).fetchone()
        if row is None:
            return None
        if row[4] is None:
            # No outcome in the history: a mirror replaced it, or the row is an older
            # version's 'pending' claim, never completed. Start afresh.
            tx.execute(
                "DELETE FROM idempotency_keys WHERE actor = ? AND key = ?", [key.actor, key.key]
            )
            return None
        if row[0] != key.fingerprint:
            raise IdempotencyMismatch("the key was first used with another request")
        return Record(row[1], row[2], row[3], _parse(row[4]), replayed=True)

    def _live_head(
        self, tx: Tx, kind: Kind, resource_id: str, expected_revision: int | None
    ) -> tuple[int, str, dict[str, Any]]:
        head = self._head(tx, kind, resource_id)
        if head is None or not head[1]:
            raise NotFound(kind.name, resource_id)
        if expected_revision is not None and head[0] != expected_revision:
            raise RevisionMismatch(kind.name, resource_id, head[0])
        return head[0], head[2], json.loads(head[3])

    def update(
        self,
        *,
        resource_type: str,
        resource_id: str,
        data: Mapping[str, Any],
        expected_revision: int | None,
        actor: str,
        recorded_at: str | None = None,
    ) -> Record:
        kind = KINDS[resource_type]
        with self.transaction("write") as tx:
            revision, created_at, _ = self._live_head(tx, kind, resource_id, expected_revision)
            self._check_invariants(tx, kind, resource_id, data)
            resource = self._record(
                tx,
                kind=kind,
                resource_id=resource_id,
                revision=revision + 1,
                action="updated",
                actor=actor,
                fields=data,
                created_at=created_at,
                checkpoint_id=kind.checkpoint_id(data),
                recorded_at=recorded_at,
            )
        return Record(resource_type, resource_id, revision + 1, resource)

    def delete(
        self,
        *,
        resource_type: str,
        resource_id: str,
        expected_revision: int | None,
        actor: str,
    ) -> None:
        kind = KINDS[resource_type]
        with self.transaction("write") as tx:
            revision, _, current = self._live_head(tx, kind, resource_id, expected_revision)
            if kind.name == "checkpoint":
                self._delete_children(tx, resource_id, actor)
            self._tombstone(tx, kind, resource_id, revision, actor, kind.checkpoint_id(current))

    def _check_invariants(
        self, tx: Tx, kind: Kind, resource_id: str, data: Mapping[str, Any]
    ) -> None:
        """Checks that involve other resources. They run under the write serialisation, so
        no concurrent writer can slip an overlapping rule in between check and write."""
        if kind.name == "checkpoint":
            return
        parent = self._head(tx, KINDS["checkpoint"], data["checkpoint_id"])
        if parent is None or not parent[1]:
            raise NotFound("checkpoint", data["checkpoint_id"])
        if kind.name != "rule":
            return
        columns = kind.columns(data)
        sql = (
            "SELECT id, revision, data FROM rules WHERE live = 1 "
            "AND checkpoint_id = ? AND mode = ? AND id != ? "
            "AND (valid_until IS NULL OR valid_until > ?)"
        )
        params = [data["checkpoint_id"], data["mode"], resource_id, columns["valid_from"]]
        if columns["valid_until"] is not None:
            sql += " AND valid_from < ?"
            params.append(columns["valid_until"])
        other = tx.execute(sql + " ORDER BY valid_from LIMIT 1", params).fetchone()
        if other is not None:
            existing = _parse(other[2])
            until = existing.get("valid_until") or "further notice"
            raise Conflict(
                f"The rule would overlap rule {other[0]!r} (revision {other[1]}) for "
                f"{data['mode']} at {data['checkpoint_id']!r}, in force from "
                f"{existing['valid_from']} until {until}.",
                other={"type": "rule", "id": other[0], "revision": other[1]},
            )

    def _delete_children(self, tx: Tx, checkpoint_id: str, actor: str) -> None:
        """A checkpoint's deletion takes its live rules and closures, each with a tombstone."""
        for name in ("rule", "closure"):
            kind = KINDS[name]
            rows = tx.execute(
                f"SELECT id, revision FROM {kind.table} WHERE checkpoint_id = ? AND live = 1 "
                "ORDER BY id",
                [checkpoint_id],
            ).fetchall()
            for child_id, revision in rows:
                self._tombstone(tx, kind, child_id, revision, actor, checkpoint_id)

    def _tombstone(
        self, tx: Tx, kind: Kind, resource_id: str, revision: int, actor: str, checkpoint_id: str
    ) -> None:
        """The deletion revision after ``revision``."""
        self._record(
            tx,
            kind=kind,
            resource_id=resource_id,
            revision=revision + 1,
            action="deleted",
            actor=actor,
            fields=None,
            created_at=None,
            checkpoint_id=checkpoint_id,
        )

    def revisions(self, *, resource_type: str, resource_id: str, after: int, limit: int) -> Page:
        with self.transaction() as tx:
            rows = tx.execute(
                "SELECT revision, action, recorded_at, actor, data FROM revisions "
                "WHERE resource_type = ? AND resource_id = ? AND revision > ? "
                "ORDER BY revision LIMIT ?",
                [resource_type, resource_id, after, limit + 1],
            ).fetchall()
        if not rows and after == 0:
            raise NotFound(resource_type, resource_id)
        items = [_revision(row) for row in rows[:limit]]
        return Page(items, items[-1].revision if len(rows) > limit else None)

    def revision(self, *, resource_type: str, resource_id: str, number: int) -> Revision:
        with self.transaction() as tx:
            row = tx.execute(
                "SELECT revision, action, recorded_at, actor, data FROM revisions "
                "WHERE resource_type = ? AND resource_id = ? AND revision = ?",
                [resource_type, resource_id, number],
            ).fetchone()
        if row is None:
            raise NotFound(
                resource_type,
                resource_id,
                f"{resource_type} {resource_id!r} has no revision {number}",
            )
        return _revision(row)

    # --- lists -----------------------------------------------------------------------------
    def list_checkpoints(self, *, filters: CheckpointFilter, after: str | None, limit: int) -> Page:
        where, params = ["live = 1"], []
        if filters.country:
            where.append("(country_a = ? OR country_b = ?)")
            params += [filters.country, filters.country]
        if filters.kind:
            where.append("kind = ?")
            params.append(filters.kind)
        if filters.q:
            where.append("search LIKE ? ESCAPE '\\'")
            params.append(_like_pattern(fold(filters.q)))
        if filters.ids is not None:
            if not filters.ids:
                return Page([], None)
            where.append(f"id IN ({', '.join('?' for _ in filters.ids)})")
            params += sorted(filters.ids)
        if after is not None:
            where.append("id > ?")
            params.append(after)
        with self.transaction() as tx:
            rows = tx.execute(
                f"SELECT id, data FROM checkpoints WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
        items = [_parse(row[1]) for row in rows[:limit]]
        return Page(items, rows[limit - 1][0] if len(rows) > limit else None)

    def _require_checkpoint(self, tx: Tx, checkpoint_id: str) -> None:
        head = self._head(tx, KINDS["checkpoint"], checkpoint_id)
        if head is None or not head[1]:
            raise NotFound("checkpoint", checkpoint_id)

    def list_rules(self, *, filters: RuleFilter, after: list | None, limit: int) -> Page:
        where, params = ["live = 1", "checkpoint_id = ?"], [filters.checkpoint_id]
        if filters.mode:
            where.append("mode = ?")
            params.append(filters.mode)
        if filters.at:
            where.append("valid_from <= ? AND (valid_until IS NULL OR valid_until > ?)")
            params += [filters.at, filters.at]
        with self.transaction("read") as tx:
            self._require_checkpoint(tx, filters.checkpoint_id)
            return _keyset_page(tx, "rules", "valid_from", where, params, after, limit)

    def list_closures(self, *, filters: ClosureFilter, after: list | None, limit: int) -> Page:
        where, params = ["live = 1"], []
        if filters.checkpoint_id:
            where.append("checkpoint_id = ?")
            params.append(filters.checkpoint_id)
        if filters.active_at:
            where.append("starts_at <= ? AND (ends_at IS NULL OR ends_at > ?)")
            params += [filters.active_at, filters.active_at]
        if filters.reason:
            where.append("reason = ?")
            params.append(filters.reason)
        if filters.start:
            where.append("(ends_at IS NULL OR ends_at > ?)")
            params.append(filters.start)
        if filters.end:
            where.append("starts_at < ?")
            params.append(filters.end)
        if filters.country:
            where.append(
                "checkpoint_id IN (SELECT id FROM checkpoints WHERE live = 1 "
                "AND (country_a = ? OR country_b = ?))"
            )
            params += [filters.country, filters.country]
        with self.transaction("read") as tx:
            if filters.checkpoint_id:
                self._require_checkpoint(tx, filters.checkpoint_id)
            return _keyset_page(tx, "closures", "starts_at", where, params, after, limit)

    def decision_inputs(
        self,
        *,
        checkpoint_id: str | None = None,
        country: str | None = None,
        as_of: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[DecisionInput]:
        if as_of is not None:
            found = self._decision_inputs_as_of(checkpoint_id, country, as_of)
            if after is not None:
                found = [item for item in found if item.checkpoint.id > after]
            return found if limit is None else found[:limit]
        held = self.held_inputs()
        found = held.select(checkpoint_id=checkpoint_id, country=country, after=after, limit=limit)
        if checkpoint_id is not None and not found:
            raise NotFound("checkpoint", checkpoint_id)
        return found

    def each_decision_input(self, *, country: str | None = None) -> Iterator[DecisionInput]:
        return self.held_inputs().each(country=country)

    @property
    def _holder(self) -> Holder:
        holder = self.__dict__.get("_held_inputs")
        if holder is None:
            holder = self.__dict__["_held_inputs"] = Holder()
        return holder

    def held_inputs(self) -> HeldInputs:
        """The live checkpoints and the decision inputs of some, held by this process while
        the feed position (read here, one query) is unchanged."""
        return self._holder.current(self.feed_position(), self._read_inputs)

    def _read_inputs(self, held: HeldInputs | None = None) -> HeldInputs:
        """The live checkpoints' ids and countries, and the feed position they show, in one
        snapshot. From ``held`` (as of an earlier position), only the checkpoints the feed
        names since then are read again (and the inputs of those held), while the feed still
        holds every event since (compaction or a snapshot load reads every id again, and
        drops every input held)."""
        with self.transaction("read") as tx:
            position, first_seq = tx.execute(
                "SELECT last_seq, first_seq FROM feed_state WHERE id = 1"
            ).fetchone()
            changed: set[str] | None = None
            if held is not None and first_seq <= held.position + 1 and held.position < position:
                changed = {
                    cid
                    for (cid,) in tx.execute(
                        "SELECT DISTINCT checkpoint_id FROM changes WHERE seq > ? AND seq <= ?",
                        [held.position, position],
                    ).fetchall()
                }
            if changed is not None and len(changed) > CATCH_UP_MAX:
                changed = None
            if changed is None:
                index = self._live_index(tx, None)
                return HeldInputs(position, index, self._inputs_of, size=self.held_checkpoints)
            named = sorted(changed)
            index = self._live_index(tx, named)
            found = self._live_inputs(tx, [i for i in named if held.holds(i)])
        return held.updated(position, changed, index, found)

    def _live_index(self, tx: Tx, checkpoint_ids: list[str] | None) -> list[tuple[str, tuple]]:
        """The live checkpoints (those of ``checkpoint_ids``, or all): id and countries."""
        where, args = "", []
        if checkpoint_ids is not None:
            if not checkpoint_ids:
                return []
            where = f" AND id IN ({', '.join('?' for _ in checkpoint_ids)})"
            args = list(checkpoint_ids)
        rows = tx.execute(
            f"SELECT id, country_a, country_b FROM checkpoints WHERE live = 1{where}", args
        ).fetchall()
        return [(cid, (a, b)) for cid, a, b in rows]

    def _inputs_of(self, checkpoint_ids: list[str] | None) -> list[DecisionInput]:
        """The decision inputs of these live checkpoints (or all), in one snapshot."""
        with self.transaction("read") as tx:
            return self._live_inputs(tx, checkpoint_ids)

    def _live_inputs(self, tx: Tx, checkpoint_ids: list[str] | None) -> list[DecisionInput]:
        """The live checkpoints (those of ``checkpoint_ids``, or all) with their live rules
        and closures (a few checkpoints: in one statement)."""
        if checkpoint_ids is None:
            checkpoints = tx.execute("SELECT id, data FROM checkpoints WHERE live = 1").fetchall()
            # In id order: the same order whether all or a few checkpoints are read.
            rows = [
                (table, cid, data)
                for table in ("rules", "closures")
                for cid, data in tx.execute(
                    f"SELECT checkpoint_id, data FROM {table} WHERE live = 1 ORDER BY id"
                ).fetchall()
            ]
        else:
            if not checkpoint_ids:
                return []
            found = []
            # At most 999 parameters a statement (the oldest SQLite's limit).
            for start in range(0, len(checkpoint_ids), 333):
                chunk = list(checkpoint_ids[start : start + 333])
                marks = ", ".join("?" for _ in chunk)
                # Found by their checkpoint_id index: ``+live`` keeps SQLite from choosing
                # the (live, ...) index, which walks every live row.
                found += tx.execute(
                    f"SELECT 0 AS part, id AS cid, id, data FROM checkpoints "
                    f"WHERE live = 1 AND id IN ({marks}) "
                    f"UNION ALL SELECT 1, checkpoint_id, id, data FROM rules "
                    f"WHERE +live = 1 AND checkpoint_id IN ({marks}) "
                    f"UNION ALL SELECT 2, checkpoint_id, id, data FROM closures "
                    f"WHERE +live = 1 AND checkpoint_id IN ({marks}) "
                    "ORDER BY part, id",
                    chunk * 3,
                ).fetchall()
            checkpoints = [(cid, data) for part, cid, _, data in found if part == 0]
            tables = {1: "rules", 2: "closures"}
            rows = [(tables[part], cid, data) for part, cid, _, data in found if part]
        children: dict[str, dict[str, list]] = {
            cid: {"rules": [], "closures": []} for cid, _ in checkpoints
        }
        for table, cid, data in rows:
            if cid in children:
                children[cid][table].append(_parse(data))
        return [
            decision_input(_parse(data), children[cid]["rules"], children[cid]["closures"])
            for cid, data in checkpoints
        ]

    def _decision_inputs_as_of(
        self, checkpoint_id: str | None, country: str | None, as_of: str
    ) -> list[DecisionInput]:
        """Each resource's newest revision recorded at or before ``as_of``, from the history
        (the same rows ``get_as_of`` reads), as the decision's inputs."""
        where, params = "1 = 1", []
        if checkpoint_id is not None:
            # A rule's or closure's checkpoint never changes, and its row outlives deletion.
            where = (
                "(resource_type = 'checkpoint' AND resource_id = ?) "
                "OR (resource_type = 'rule' AND resource_id IN "
                "(SELECT id FROM rules WHERE checkpoint_id = ?)) "
                "OR (resource_type = 'closure' AND resource_id IN "
                "(SELECT id FROM closures WHERE checkpoint_id = ?))"
            )
            params = [checkpoint_id, checkpoint_id, checkpoint_id]
        with self.transaction() as tx:
            rows = self._as_of(tx, as_of, where, params)
        found: dict[str, list[dict]] = {"checkpoint": [], "rule": [], "closure": []}
        for resource_type, _, action, data in rows:
            if action != "deleted":
                found[resource_type].append(_parse(data))
        checkpoints = sorted(
            (c for c in found["checkpoint"] if country is None or country in c["countries"]),
            key=lambda c: c["id"],
        )
        if checkpoint_id is not None and not checkpoints:
            raise NotFound(
                "checkpoint", checkpoint_id, f"checkpoint {checkpoint_id!r} did not exist then"
            )
        children: dict[str, dict[str, list]] = {
            c["id"]: {"rule": [], "closure": []} for c in checkpoints
        }
        for name in ("rule", "closure"):
            for child in found[name]:
                if child["checkpoint_id"] in children:
                    children[child["checkpoint_id"]][name].append(child)
        return [
            decision_input(c, children[c["id"]]["rule"], children[c["id"]]["closure"])
            for c in checkpoints
        ]

    # --- change feed -----------------------------------------------------------------------
    def feed_position(self) -> int:
        with self.transaction() as tx:
            return tx.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()[0]

    def changes(self, *, after: int, limit: int) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            rows = tx.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                [after, limit],
            ).fetchall()
        return [_change(row) for row in rows]

    def feed_page(
        self,
        *,
        after: int,
        limit: int,
        resource_type: str | None = None,
        checkpoint_id: str | None = None,
    ) -> FeedPage:
        where, params = ["seq > ?", "seq <= ?"], []
        if resource_type:
            where.append("resource_type = ?")
            params.append(resource_type)
        if checkpoint_id:
            where.append("checkpoint_id = ?")
            params.append(checkpoint_id)
        with self.transaction("read") as tx:
            # Fix the newest seq first and bound the query by it: a commit between two
            # reads could otherwise be skipped by a filtered consumer.
            head, first = tx.execute(
                "SELECT last_seq, first_seq FROM feed_state WHERE id = 1"
            ).fetchone()
            if after + 1 < first:
                raise FeedGone(first)
            if after > head:
                raise FeedAhead(head)
            rows = tx.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE {' AND '.join(where)} "
                "ORDER BY seq LIMIT ?",
                [after, head, *params, limit + 1],
            ).fetchall()
        changes = [_change(row) for row in rows[:limit]]
        if len(rows) > limit:
            return FeedPage(changes, changes[-1]["seq"], True)
        return FeedPage(changes, max(after, head), False)

    def compact_feed(self, *, before_seq: int | None = None, before_time: str | None = None) -> int:
        with self.transaction("write") as tx:
            head, first = tx.execute(
                "SELECT last_seq, first_seq FROM feed_state WHERE id = 1"
            ).fetchone()
            cut = first
            if before_seq is not None:
                cut = max(cut, min(before_seq, head + 1))
            if before_time is not None:
                row = tx.execute(
                    "SELECT MIN(seq) FROM changes WHERE recorded_at >= ?", [before_time]
                ).fetchone()
                cut = max(cut, row[0] if row[0] is not None else head + 1)
            deleted = tx.execute("DELETE FROM changes WHERE seq < ?", [cut]).rowcount
            tx.execute("UPDATE feed_state SET first_seq = ? WHERE id = 1", [cut])
        return deleted

    def snapshot(self) -> dict[str, Any]:
        with self.transaction("read") as tx:
            seq = tx.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()[0]
            body: dict[str, Any] = {"seq": seq}
            for table in ("checkpoints", "rules", "closures"):
                body[table] = [
                    _parse(row[0])
                    for row in tx.execute(
                        f"SELECT data FROM {table} WHERE live = 1 ORDER BY id"
                    ).fetchall()
                ]
        return body

    def is_empty(self) -> bool:
        return self.feed_position() == 0

    # --- mirroring -------------------------------------------------------------------------
    def sync_position(self, *, source: str) -> int | None:
        with self.transaction() as tx:
            row = tx.execute("SELECT seq FROM sync_state WHERE source = ?", [source]).fetchone()
        return None if row is None else row[0]

    def load_snapshot(
        self, *, source: str, snapshot: dict[str, Any], replace_history: bool = False
    ) -> None:
        seq = snapshot["seq"]
        with self.transaction("write") as tx:
            for kind in KINDS.values():
                tx.execute(f"DELETE FROM {kind.table}")
            tx.execute("DELETE FROM changes")
            if replace_history:
                tx.execute("DELETE FROM revisions")
            for kind in KINDS.values():
                for resource in snapshot[kind.table]:
                    self._put_state(tx, kind, resource)
            # The mirror's own feed continues the source's from the snapshot's position.
            tx.execute(
                "UPDATE feed_state SET last_seq = ?, first_seq = ?, last_recorded_at = '' "
                "WHERE id = 1",
                [seq, seq + 1],
            )
            tx.feed_seq = seq
            self._set_position(tx, source, seq)

    def apply_changes(self, *, source: str, changes: list[dict[str, Any]]) -> int:
        with self.transaction("write") as tx:
            position = tx.execute(
                "SELECT seq FROM sync_state WHERE source = ?", [source]
            ).fetchone()[0]
            for event in changes:
                if event["seq"] <= position:
                    continue  # applied already
                self._apply_event(tx, event, mirrored=True)
                position = event["seq"]
            self._set_position(tx, source, position)
        return position

    def _apply_event(
        self,
        tx: Tx,
        event: Mapping[str, Any],
        *,
        mirrored: bool = False,
        feed_updated: bool = False,
    ) -> None:
        """Write one event: the resource's new state (or its tombstone), its revision row and
        the feed row. Local writes and a mirror's copies of a source's events both come here;
        a mirror keeps history rows it already has and never moves a resource backwards.
        ``feed_updated``: the feed's position and time already say this event (``_record``)."""
        kind = KINDS[event["resource_type"]]
        resource = event["data"]
        data = None if resource is None else _dumps(resource)
        head = self._head(tx, kind, event["resource_id"]) if mirrored else None
        if head is None or head[0] < event["revision"]:
            if resource is not None:
                # A local update's row exists and is live (``update`` read it in this
                # transaction): it is rewritten in place, its ``live`` column untouched.
                self._put_state(
                    tx, kind, resource, data, live=not mirrored and event["action"] == "updated"
                )
            else:
                tx.execute(
                    f"UPDATE {kind.table} SET revision = ?, live = 0, updated_at = ? WHERE id = ?",
                    [event["revision"], event["recorded_at"], event["resource_id"]],
                )
        ignore = " ON CONFLICT DO NOTHING" if mirrored else ""
        tx.execute(
            "INSERT INTO revisions (resource_type, resource_id, revision, action, actor, "
            f"recorded_at, data) VALUES (?, ?, ?, ?, ?, ?, ?){ignore}",
            [
                kind.name,
                event["resource_id"],
                event["revision"],
                event["action"],
                event["actor"],
                event["recorded_at"],
                data,
            ],
        )
        tx.execute(_INSERT_CHANGE + ignore, [*(event[name] for name in _CHANGE_NAMES[:-1]), data])
        if not feed_updated:
            tx.execute(
                "UPDATE feed_state SET "
                "last_seq = CASE WHEN last_seq < ? THEN ? ELSE last_seq END, "
                "last_recorded_at = CASE WHEN last_recorded_at < ? THEN ? "
                "ELSE last_recorded_at END WHERE id = 1",
                [event["seq"], event["seq"], event["recorded_at"], event["recorded_at"]],
            )
        tx.feed_seq = max(tx.feed_seq or 0, event["seq"])

    def _put_state(
        self,
        tx: Tx,
        kind: Kind,
        resource: dict[str, Any],
        data: str | None = None,
        *,
        live: bool = False,
    ) -> None:
        """Write a resource's state row (``data``: the resource as JSON, if at hand). ``live``:
        the row exists and is live, so it is updated in place."""
        columns = {
            "id": resource["id"],
            "revision": resource["revision"],
            "live": 1,
            "created_at": resource["created_at"],
            "updated_at": resource["updated_at"],
            "checkpoint_id": kind.checkpoint_id(resource),
            "data": _dumps(resource) if data is None else data,
            **kind.columns(resource),
        }
        params = list(columns.values())
        if live:
            del columns["id"], columns["live"]
            params = [*columns.values(), resource["id"]]
        tx.execute(_state_sql(kind.table, tuple(columns), live), params)

    def _set_position(self, tx: Tx, source: str, seq: int) -> None:
        tx.execute(
            "INSERT INTO sync_state (source, seq, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (source) DO UPDATE SET seq = excluded.seq, "
            "updated_at = excluded.updated_at",
            [source, seq, now_stamp()],
        )

    # --- tokens ----------------------------------------------------------------------------
    def create_token(
        self, *, name: str, role: str, secret_hash: str, replace: bool = False
    ) -> Token:
        created_at = now_stamp()
        with self.transaction("write") as tx:
            if tx.execute("SELECT 1 FROM tokens WHERE name = ?", [name]).fetchone():
                if not replace:
                    raise TokenExists(f"a token named {name!r} exists already")
                tx.execute("DELETE FROM tokens WHERE name = ?", [name])
            tx.execute(
                "INSERT INTO tokens (name, role, secret_hash, created_at) VALUES (?, ?, ?, ?)",
                [name, role, secret_hash, created_at],
            )
        return Token(name, role, created_at)

    def list_tokens(self) -> list[Token]:
        with self.transaction() as tx:
            rows = tx.execute(
                "SELECT name, role, created_at, revoked_at FROM tokens ORDER BY name"
            ).fetchall()
        return [Token(*row) for row in rows]

    def revoke_token(self, *, name: str) -> Token:
        with self.transaction("write") as tx:
            row = tx.execute(
                "SELECT name, role, created_at, revoked_at FROM tokens WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                raise NotFound("token", name)
            revoked_at = row[3] or now_stamp()
            tx.execute("UPDATE tokens SET revoked_at = ? WHERE name = ?", [revoked_at, name])
        return Token(row[0], row[1], row[2], revoked_at)

    def token_by_hash(self, *, secret_hash: str) -> Token | None:
        with self.transaction() as tx:
            row = tx.execute(
                "SELECT name, role, created_at, revoked_at, secret_hash FROM tokens "
                "WHERE secret_hash = ? AND revoked_at IS NULL",
                [secret_hash],
            ).fetchone()
        return None if row is None else Token(*row)


def _supplied_time(recorded_at: str, last_recorded_at: str) -> str:
    """A recording time an operator's loader supplies, if it keeps the feed in time order."""
    if recorded_at > now_stamp():
        raise HistoryOrder(f"the recording time {recorded_at} is in the future")
    if recorded_at < last_recorded_at:
        raise HistoryOrder(
            f"the recording time {recorded_at} is earlier than the last write's "
            f"({last_recorded_at}): dated history can only be loaded into an empty database "
            "or after what it holds"
        )
    return recorded_at


def _keyset_page(
    tx: Tx, table: str, order: str, where: list[str], params: list, after: list | None, limit: int
) -> Page:
    """One page ordered by (``order``, id), continuing after the key ``after``."""
    where, params = list(where), list(params)
    if after is not None:
        where.append(f"({order} > ? OR ({order} = ? AND id > ?))")
        params += [after[0], after[0], after[1]]
    rows = tx.execute(
        f"SELECT {order}, id, data FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY {order}, id LIMIT ?",
        [*params, limit + 1],
    ).fetchall()
    items = [_parse(row[2]) for row in rows[:limit]]
    next_after = [rows[limit - 1][0], rows[limit - 1][1]] if len(rows) > limit else None
    return Page(items, next_after)


_CHANGE_NAMES = (
    "seq",
    "recorded_at",
    "resource_type",
    "resource_id",
    "checkpoint_id",
    "revision",
    "action",
    "actor",
    "data",
)
_CHANGE_COLUMNS = ", ".join(_CHANGE_NAMES)
_INSERT_CHANGE = (
    f"INSERT INTO changes ({_CHANGE_COLUMNS}) VALUES ({', '.join('?' * len(_CHANGE_NAMES))})"
)
#: A local write's event: the feed's next seq, and the time the transaction records at (the
#: time given, or the last write's if that is later), both set and returned.
_NEXT_EVENT = (
    "UPDATE feed_state SET last_seq = last_seq + 1, last_recorded_at = "
    "CASE WHEN last_recorded_at < ? THEN ? ELSE last_recorded_at END "
    "WHERE id = 1 RETURNING last_seq, last_recorded_at"
)


@functools.lru_cache(maxsize=64)
def _state_sql(table: str, names: tuple[str, ...], live: bool) -> str:
    """The statement that writes a state row of ``table``: an update in place of a live row
    by id (``names`` are the columns set, the id last among the parameters), else an insert
    that replaces a row of the same id."""
    if live:
        return f"UPDATE {table} SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?"
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != "id")
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )


def _change(row: tuple) -> dict[str, Any]:
    event = dict(zip(_CHANGE_NAMES, row, strict=True))
    event["data"] = _loads(event["data"])
    return event


def _revision(row: tuple) -> Revision:
    return Revision(row[0], row[1], row[2], row[3], _loads(row[4]))
