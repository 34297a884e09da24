"""The SQLite backend: one connection per thread, opened after the server forks; every
write one ``BEGIN IMMEDIATE`` transaction, so writers are serialised and ``seq`` is gap-free."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .base import (
    AlreadyExists,
    CheckpointFilter,
    ClosureFilter,
    Conflict,
    DecisionInput,
    NotFound,
    Page,
    Record,
    Revision,
    RevisionMismatch,
    RuleFilter,
    SchemaNotReady,
    Store,
    Token,
    TokenExists,
    Unavailable,
)
from .kinds import KINDS, Kind
from .migrations import migrations
from .search import fold
from .times import now_stamp


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SQLiteStore(Store):
    """Storage in one SQLite file, in WAL mode."""

    def __init__(self, path: str, *, busy_timeout_ms: int = 15_000):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()

    # --- connections -----------------------------------------------------------------------
    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        if create:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        mode = "rwc" if create else "rw"
        try:
            conn = sqlite3.connect(
                f"file:{Path(self.path).absolute()}?mode={mode}",
                uri=True,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE for writes
                timeout=self.busy_timeout_ms / 1000,
            )
        except sqlite3.OperationalError as exc:
            raise SchemaNotReady(f"cannot open the database: {exc}") from exc
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            # A connection must never cross a fork: open this process's own.
            local.conn = self._connect()
            local.pid = os.getpid()
        return local.conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local.__dict__.clear()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from its first statement."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"the database is busy: {exc}") from exc
        self._local.tx_time = None
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._local.tx_time = None
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise Unavailable(f"the write could not be committed: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    # --- lifecycle -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        conn = self._connect(create=True)
        try:
            db = Database(conn)
            # The whole run holds the write lock, so concurrent init-db calls apply each
            # migration once: the second one finds nothing pending.
            conn.execute("BEGIN IMMEDIATE")
            try:
                pending = [m.name for m in migrations.pending(db)]
                migrations.apply(db)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return pending
        finally:
            conn.close()

    def check_ready(self) -> None:
        try:
            conn = self._conn()
            pending = migrations.pending(Database(conn, execute_plugins=False))
        except sqlite3.Error as exc:
            self.close()
            raise SchemaNotReady(f"the database cannot be read: {exc}") from exc
        if pending:
            names = ", ".join(m.name for m in pending)
            raise SchemaNotReady(f"schema migrations pending: {names}; run `checkpoints init-db`")

    # --- versioned resources ---------------------------------------------------------------
    def _head(self, conn: sqlite3.Connection, kind: Kind, resource_id: str) -> tuple | None:
        return conn.execute(
            f"SELECT revision, live, created_at, data FROM {kind.table} WHERE id = ?",
            [resource_id],
        ).fetchone()

    def get(self, *, resource_type: str, resource_id: str) -> Record:
        kind = KINDS[resource_type]
        row = self._head(self._conn(), kind, resource_id)
        if row is None or not row[1]:
            raise NotFound(resource_type, resource_id)
        return Record(resource_type, resource_id, row[0], json.loads(row[3]))

    def get_as_of(self, *, resource_type: str, resource_id: str, as_of: str) -> Record:
        row = (
            self._conn()
            .execute(
                "SELECT revision, action, data FROM revisions WHERE resource_type = ? "
                "AND resource_id = ? AND recorded_at <= ? ORDER BY revision DESC LIMIT 1",
                [resource_type, resource_id, as_of],
            )
            .fetchone()
        )
        if row is None or row[1] == "deleted":
            raise NotFound(
                resource_type, resource_id, f"{resource_type} {resource_id!r} did not exist then"
            )
        return Record(resource_type, resource_id, row[0], json.loads(row[2]))

    def _record(
        self,
        conn: sqlite3.Connection,
        *,
        kind: Kind,
        resource_id: str,
        revision: int,
        action: str,
        actor: str,
        fields: Mapping[str, Any] | None,
        created_at: str | None,
        checkpoint_id: str,
    ) -> dict[str, Any] | None:
        """Write one revision: the new state, its history row and its feed event."""
        last_seq, last_recorded_at = conn.execute(
            "SELECT last_seq, last_recorded_at FROM feed_state WHERE id = 1"
        ).fetchone()
        # One time per transaction, and times never go backwards along the feed, whatever
        # the clocks of the writers.
        recorded_at = getattr(self._local, "tx_time", None) or max(now_stamp(), last_recorded_at)
        self._local.tx_time = recorded_at
        resource = None
        if fields is not None:
            resource = {
                **fields,
                "revision": revision,
                "created_at": created_at or recorded_at,
                "updated_at": recorded_at,
            }
            columns = {
                "id": resource_id,
                "revision": revision,
                "live": 1,
                "created_at": resource["created_at"],
                "updated_at": recorded_at,
                "checkpoint_id": checkpoint_id,
                "data": _dumps(resource),
                **kind.columns(resource),
            }
            names = ", ".join(columns)
            marks = ", ".join("?" for _ in columns)
            conn.execute(
                f"INSERT OR REPLACE INTO {kind.table} ({names}) VALUES ({marks})",
                list(columns.values()),
            )
        else:
            conn.execute(
                f"UPDATE {kind.table} SET revision = ?, live = 0, updated_at = ? WHERE id = ?",
                [revision, recorded_at, resource_id],
            )
        data = None if resource is None else _dumps(resource)
        conn.execute(
            "INSERT INTO revisions (resource_type, resource_id, revision, action, actor, "
            "recorded_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [kind.name, resource_id, revision, action, actor, recorded_at, data],
        )
        seq = last_seq + 1
        conn.execute(
            "INSERT INTO changes (seq, recorded_at, resource_type, resource_id, checkpoint_id, "
            "revision, action, actor, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                seq,
                recorded_at,
                kind.name,
                resource_id,
                checkpoint_id,
                revision,
                action,
                actor,
                data,
            ],
        )
        conn.execute(
            "UPDATE feed_state SET last_seq = ?, last_recorded_at = ? WHERE id = 1",
            [seq, recorded_at],
        )
        return resource

    def create(
        self, *, resource_type: str, resource_id: str, data: Mapping[str, Any], actor: str
    ) -> Record:
        kind = KINDS[resource_type]
        with self._write() as conn:
            head = self._head(conn, kind, resource_id)
            if head is not None and head[1]:
                raise AlreadyExists(resource_type, resource_id)
            revision = 1 if head is None else head[0] + 1
            self._check_invariants(conn, kind, resource_id, data)
            resource = self._record(
                conn,
                kind=kind,
                resource_id=resource_id,
                revision=revision,
                action="created",
                actor=actor,
                fields=data,
                created_at=None,
                checkpoint_id=kind.checkpoint_id(data),
            )
        return Record(resource_type, resource_id, revision, resource)

    def _live_head(
        self,
        conn: sqlite3.Connection,
        kind: Kind,
        resource_id: str,
        expected_revision: int | None,
    ) -> tuple[int, str, dict[str, Any]]:
        head = self._head(conn, kind, resource_id)
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
    ) -> Record:
        kind = KINDS[resource_type]
        with self._write() as conn:
            revision, created_at, _ = self._live_head(conn, kind, resource_id, expected_revision)
            self._check_invariants(conn, kind, resource_id, data)
            resource = self._record(
                conn,
                kind=kind,
                resource_id=resource_id,
                revision=revision + 1,
                action="updated",
                actor=actor,
                fields=data,
                created_at=created_at,
                checkpoint_id=kind.checkpoint_id(data),
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
        with self._write() as conn:
            revision, _, current = self._live_head(conn, kind, resource_id, expected_revision)
            if kind.name == "checkpoint":
                self._delete_children(conn, resource_id, actor)
            self._record(
                conn,
                kind=kind,
                resource_id=resource_id,
                revision=revision + 1,
                action="deleted",
                actor=actor,
                fields=None,
                created_at=None,
                checkpoint_id=kind.checkpoint_id(current),
            )

    def _check_invariants(
        self, conn: sqlite3.Connection, kind: Kind, resource_id: str, data: Mapping[str, Any]
    ) -> None:
        """Checks that involve other resources, inside the write transaction."""
        if kind.name == "checkpoint":
            return
        parent = self._head(conn, KINDS["checkpoint"], data["checkpoint_id"])
        if parent is None or not parent[1]:
            raise NotFound("checkpoint", data["checkpoint_id"])
        if kind.name != "rule":
            return
        columns = kind.columns(data)
        other = conn.execute(
            "SELECT id, revision, data FROM rules WHERE live = 1 "
            "AND checkpoint_id = ? AND mode = ? AND id != ? "
            "AND (valid_until IS NULL OR valid_until > ?) AND (? IS NULL OR valid_from < ?) "
            "ORDER BY valid_from LIMIT 1",
            [
                data["checkpoint_id"],
                data["mode"],
                resource_id,
                columns["valid_from"],
                columns["valid_until"],
                columns["valid_until"],
            ],
        ).fetchone()
        if other is not None:
            existing = json.loads(other[2])
            until = existing.get("valid_until") or "further notice"
            raise Conflict(
                f"The rule would overlap rule {other[0]!r} (revision {other[1]}) for "
                f"{data['mode']} at {data['checkpoint_id']!r}, in force from "
                f"{existing['valid_from']} until {until}.",
                other={"type": "rule", "id": other[0], "revision": other[1]},
            )

    def _delete_children(self, conn: sqlite3.Connection, checkpoint_id: str, actor: str) -> None:
        """A checkpoint's deletion takes its live rules and closures, each with a tombstone."""
        for name in ("rule", "closure"):
            kind = KINDS[name]
            rows = conn.execute(
                f"SELECT id, revision FROM {kind.table} WHERE checkpoint_id = ? AND live = 1 "
                "ORDER BY id",
                [checkpoint_id],
            ).fetchall()
            for child_id, revision in rows:
                self._record(
                    conn,
                    kind=kind,
                    resource_id=child_id,
                    revision=revision + 1,
                    action="deleted",
                    actor=actor,
                    fields=None,
                    created_at=None,
                    checkpoint_id=checkpoint_id,
                )

    def revisions(self, *, resource_type: str, resource_id: str, after: int, limit: int) -> Page:
        rows = (
            self._conn()
            .execute(
                "SELECT revision, action, recorded_at, actor, data FROM revisions "
                "WHERE resource_type = ? AND resource_id = ? AND revision > ? "
                "ORDER BY revision LIMIT ?",
                [resource_type, resource_id, after, limit + 1],
            )
            .fetchall()
        )
        if not rows and after == 0:
            raise NotFound(resource_type, resource_id)
        items = [_revision(row) for row in rows[:limit]]
        return Page(items, items[-1].revision if len(rows) > limit else None)

    def revision(self, *, resource_type: str, resource_id: str, number: int) -> Revision:
        row = (
            self._conn()
            .execute(
                "SELECT revision, action, recorded_at, actor, data FROM revisions "
                "WHERE resource_type = ? AND resource_id = ? AND revision = ?",
                [resource_type, resource_id, number],
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(
                resource_type,
                resource_id,
                f"{resource_type} {resource_id!r} has no revision {number}",
            )
        return _revision(row)

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
            where.append(f"id IN ({', '.join('?' for _ in filters.ids)})")
            params += sorted(filters.ids)
        if after is not None:
            where.append("id > ?")
            params.append(after)
        rows = (
            self._conn()
            .execute(
                f"SELECT id, data FROM checkpoints WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                [*params, limit + 1],
            )
            .fetchall()
        )
        items = [json.loads(row[1]) for row in rows[:limit]]
        return Page(items, rows[limit - 1][0] if len(rows) > limit else None)

    def _require_checkpoint(self, conn: sqlite3.Connection, checkpoint_id: str) -> None:
        head = self._head(conn, KINDS["checkpoint"], checkpoint_id)
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
        with self._read() as conn:
            self._require_checkpoint(conn, filters.checkpoint_id)
            return _keyset_page(conn, "rules", "valid_from", where, params, after, limit)

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
        with self._read() as conn:
            if filters.checkpoint_id:
                self._require_checkpoint(conn, filters.checkpoint_id)
            return _keyset_page(conn, "closures", "starts_at", where, params, after, limit)

    def decision_inputs(
        self, *, checkpoint_id: str | None = None, country: str | None = None
    ) -> list[DecisionInput]:
        where, params = ["live = 1"], []
        if checkpoint_id is not None:
            where.append("id = ?")
            params.append(checkpoint_id)
        if country is not None:
            where.append("(country_a = ? OR country_b = ?)")
            params += [country, country]
        with self._read() as conn:
            checkpoints = conn.execute(
                f"SELECT id, data FROM checkpoints WHERE {' AND '.join(where)} ORDER BY id", params
            ).fetchall()
            if checkpoint_id is not None and not checkpoints:
                raise NotFound("checkpoint", checkpoint_id)
            children: dict[str, dict[str, list]] = {
                cid: {"rules": [], "closures": []} for cid, _ in checkpoints
            }
            for table in ("rules", "closures"):
                sql = f"SELECT checkpoint_id, data FROM {table} WHERE live = 1"
                args: list = []
                if checkpoint_id is not None:
                    sql += " AND checkpoint_id = ?"
                    args.append(checkpoint_id)
                for cid, data in conn.execute(sql, args):
                    if cid in children:
                        children[cid][table].append(json.loads(data))
        return [
            DecisionInput(json.loads(data), children[cid]["rules"], children[cid]["closures"])
            for cid, data in checkpoints
        ]

    # --- change feed -----------------------------------------------------------------------
    def feed_position(self) -> int:
        return self._conn().execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()[0]

    def changes(self, *, after: int, limit: int) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT seq, recorded_at, resource_type, resource_id, checkpoint_id, revision, "
                "action, actor, data FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                [after, limit],
            )
            .fetchall()
        )
        names = (
            "seq",
            "recorded_at",
            "resource_type",
            "resource_id",
            "checkpoint_id",
            "revision",
            "action",
            "actor",
        )
        return [{**dict(zip(names, row[:8], strict=True)), "data": _loads(row[8])} for row in rows]

    def is_empty(self) -> bool:
        return self.feed_position() == 0

    # --- tokens ----------------------------------------------------------------------------
    def create_token(self, *, name: str, role: str, secret_hash: str) -> Token:
        created_at = now_stamp()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM tokens WHERE name = ?", [name]).fetchone():
                raise TokenExists(f"a token named {name!r} exists already")
            conn.execute(
                "INSERT INTO tokens (name, role, secret_hash, created_at) VALUES (?, ?, ?, ?)",
                [name, role, secret_hash, created_at],
            )
        return Token(name, role, created_at)

    def list_tokens(self) -> list[Token]:
        rows = (
            self._conn()
            .execute("SELECT name, role, created_at, revoked_at FROM tokens ORDER BY name")
            .fetchall()
        )
        return [Token(*row) for row in rows]

    def revoke_token(self, *, name: str) -> Token:
        with self._write() as conn:
            row = conn.execute(
                "SELECT name, role, created_at, revoked_at FROM tokens WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                raise NotFound("token", name)
            revoked_at = row[3] or now_stamp()
            conn.execute("UPDATE tokens SET revoked_at = ? WHERE name = ?", [revoked_at, name])
        return Token(row[0], row[1], row[2], revoked_at)

    def token_by_hash(self, *, secret_hash: str) -> Token | None:
        row = (
            self._conn()
            .execute(
                "SELECT name, role, created_at, revoked_at, secret_hash FROM tokens "
                "WHERE secret_hash = ? AND revoked_at IS NULL",
                [secret_hash],
            )
            .fetchone()
        )
        return None if row is None else Token(*row)


def _keyset_page(
    conn: sqlite3.Connection,
    table: str,
    order: str,
    where: list[str],
    params: list,
    after: list | None,
    limit: int,
) -> Page:
    """One page ordered by (``order``, id), continuing after the key ``after``."""
    where, params = list(where), list(params)
    if after is not None:
        where.append(f"({order} > ? OR ({order} = ? AND id > ?))")
        params += [after[0], after[0], after[1]]
    rows = conn.execute(
        f"SELECT {order}, id, data FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY {order}, id LIMIT ?",
        [*params, limit + 1],
    ).fetchall()
    items = [json.loads(row[2]) for row in rows[:limit]]
    next_after = [rows[limit - 1][0], rows[limit - 1][1]] if len(rows) > limit else None
    return Page(items, next_after)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _revision(row: tuple) -> Revision:
    return Revision(row[0], row[1], row[2], row[3], _loads(row[4]))
