"""The SQLite backend: one connection per thread (or greenlet), borrowed from a per-process
pool after the server forks; every write one ``BEGIN IMMEDIATE`` transaction, so writers are
serialised and ``seq`` is gap-free."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .base import (
    AlreadyExists,
    CheckpointFilter,
    ClosureFilter,
    Conflict,
    Corrupt,
    DecisionInput,
    FeedAhead,
    FeedGone,
    FeedPage,
    IdempotencyKey,
    IdempotencyMismatch,
    NotFound,
    Page,
    ReadOnly,
    Record,
    Revision,
    RevisionMismatch,
    RuleFilter,
    SchemaNotReady,
    StorageError,
    StorageFull,
    Store,
    Token,
    TokenExists,
    Unavailable,
)
from .kinds import KINDS, Kind
from .migrations import migrations
from .search import fold
from .times import now_stamp, parse_stamp, to_stamp

log = logging.getLogger(__name__)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: Longest a server connection waits inside SQLite for the write lock before yielding.
_BUSY_SLICE_MS = 20

#: Expired idempotency keys deleted by one idempotent create: more than it adds, so the
#: table holds little beyond the keys of the last TTL.
_PURGE_BATCH = 100

_READ_ONLY_CODES = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN)


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _translating(cls: type) -> type:
    """Wrap every public method so that SQLite's failures of the file, the disk or the lock
    leave the store as its own exceptions (``SQLiteStore._storage_error``)."""

    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def translated(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                error = self._storage_error(exc)
                if error is None:
                    raise
                raise error from exc

        return translated

    for name, value in list(vars(cls).items()):
        if not name.startswith("_") and callable(value):
            setattr(cls, name, wrap(value))
    return cls


class _Lease:
    """One connection lent to one thread or greenlet; it goes back to the pool when the
    lease is dropped with that thread's (or greenlet's) local state."""

    __slots__ = ("conn", "pid", "pool", "thread")

    def __init__(self, pool: _Pool, conn: sqlite3.Connection, thread: int):
        self.pool, self.conn, self.thread, self.pid = pool, conn, thread, os.getpid()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and self.pid == os.getpid():
            conn.close()

    def __del__(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            # A finalizer must not raise (at exit, say): sqlite3 then frees the connection.
            with contextlib.suppress(Exception):
                self.pool.give_back(conn, self.pid, self.thread)


class _Pool:
    """A process's idle SQLite connections, so that short-lived threads or greenlets (gevent
    runs each client connection in one, and makes ``threading.local`` greenlet-local) reuse
    connections instead of opening one each (≈ 0.3 ms).

    A connection is lent to one thread or greenlet at a time and only taken again after its
    lease is gone, so no two of them ever use it at once. Connections are kept per OS thread
    (sqlite3 refuses a connection created in another thread) and per process: after a fork
    the parent's connections are forgotten, never used or closed.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], keep: int = 32):
        self._connect = connect
        self.keep = keep
        self.pid = os.getpid()
        self.idle: dict[int, deque[sqlite3.Connection]] = {}

    def lend(self) -> _Lease:
        if self.pid != os.getpid():
            self.idle, self.pid = {}, os.getpid()
        thread = threading.get_native_id()  # gevent leaves it unpatched: the OS thread
        try:
            conn = self.idle.get(thread, deque()).pop()  # deque operations are atomic
        except IndexError:
            conn = self._connect()
        return _Lease(self, conn, thread)

    def give_back(self, conn: sqlite3.Connection, pid: int, thread: int) -> None:
        if pid != os.getpid() or pid != self.pid:
            return  # another process's connection: never touch it
        if thread != threading.get_native_id():
            return  # another thread's: unusable here; dropped, sqlite3 closes it when freed
        idle = self.idle.setdefault(thread, deque())
        if conn.in_transaction or len(idle) >= self.keep:
            conn.close()
        else:
            idle.append(conn)

    def close_idle(self) -> None:
        if self.pid != os.getpid():
            return
        idle = self.idle.get(threading.get_native_id(), deque())
        while True:
            try:
                idle.pop().close()
            except IndexError:
                return


@_translating
class SQLiteStore(Store):
    """Storage in one SQLite file, in WAL mode."""

    def __init__(self, path: str, *, busy_timeout_ms: int = 15_000):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._pool = _Pool(self._connect)
        #: (pid, detail) once this process has met damaged data: it then refuses writes
        #: and is not ready.
        self._damage: tuple[int, str] | None = None
        self._damage_lock = threading.Lock()

    # --- connections -----------------------------------------------------------------------
    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        path = Path(self.path).absolute()
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise SchemaNotReady("the database file does not exist; run `checkpoints init-db`")
        # SQLite's own busy wait sleeps inside C, which would stall every greenlet of a gevent
        # worker: the server's connections wait in short slices and ``_write`` retries between
        # them with a sleep that yields. Operator commands (create=True) wait the whole time.
        busy_ms = self.busy_timeout_ms if create else min(_BUSY_SLICE_MS, self.busy_timeout_ms)
        try:
            return self._open(f"file:{path}?mode={'rwc' if create else 'rw'}", busy_ms)
        except sqlite3.Error as exc:
            if create or _primary_code(exc) not in _READ_ONLY_CODES:
                raise
            # A read-only folder or filesystem, where WAL's -shm cannot be made: reads may
            # still work without it. Writes on such a connection fail as read-only, and the
            # connection is then dropped, so writes work again once the file is writable.
            for params in ("mode=ro", "immutable=1"):
                with contextlib.suppress(sqlite3.Error):
                    return self._open(f"file:{path}?{params}", busy_ms, wal=False)
            raise

    @staticmethod
    def _open(uri: str, busy_ms: int, *, wal: bool = True) -> sqlite3.Connection:
        conn = sqlite3.connect(
            uri,
            uri=True,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE for writes
            timeout=busy_ms / 1000,
        )
        try:
            if wal:
                conn.execute("PRAGMA journal_mode=WAL")
            else:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            conn.execute("PRAGMA synchronous=FULL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _storage_error(self, error: sqlite3.Error) -> StorageError | None:
        """The store's exception for an SQLite failure of the file, the disk or the lock;
        None for anything else (a bug, which stays a 500)."""
        code = _primary_code(error)
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return self._damaged(
                "the database file's header is damaged: it is not a database"
                if code == sqlite3.SQLITE_NOTADB
                else f"the database is damaged ({error})"
            )
        if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR):
            self.close()  # a connection that fell back to read-only stays so: open anew
        if code == sqlite3.SQLITE_READONLY:
            return ReadOnly(f"the database cannot be written ({error})")
        if code == sqlite3.SQLITE_FULL:
            return StorageFull(f"the disk is full ({error})")
        if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR):
            return Unavailable(f"the database file cannot be used ({error})")
        if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return Unavailable(f"the database is busy ({error})")
        return None

    def _damaged(self, detail: str | None = None) -> Corrupt | None:
        """Record (with ``detail``) or look up that this process met damaged data; said
        once per process, loudly, whatever the number of requests that meet it."""
        with self._damage_lock:
            damage = self._damage if self._damage and self._damage[0] == os.getpid() else None
            if damage is None and detail is not None:
                damage = self._damage = (os.getpid(), detail)
                log.error(
                    "DATABASE DAMAGED: %s: %s. Writes are refused and /readyz answers 503; "
                    "restore the file from a backup (README, 'Backup and restore').",
                    self.path,
                    detail,
                )
        return None if damage is None else Corrupt(damage[1])

    def _conn(self) -> sqlite3.Connection:
        """This thread's (or, under gevent, this greenlet's) connection: borrowed from the
        process's pool on first use and given back when the thread or greenlet ends."""
        lease = getattr(self._local, "lease", None)
        if lease is None or lease.pid != os.getpid():
            # A connection must never cross a fork: borrow one of this process's own.
            lease = self._local.lease = self._pool.lend()
        return lease.conn

    def close(self) -> None:
        """Close this thread's connection and the process's idle ones."""
        lease = getattr(self._local, "lease", None)
        self._local.__dict__.clear()
        if lease is not None:
            lease.close()
        self._pool.close_idle()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from its first statement."""
        damage = self._damaged()
        if damage is not None:
            raise damage
        conn = self._conn()
        self._begin_immediate(conn)
        self._local.tx_time = None
        try:
            yield conn
        except BaseException:
            _rollback(conn)
            raise
        finally:
            self._local.tx_time = None
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            if self._storage_error(exc) is None:
                raise Unavailable(f"the write could not be committed: {exc}") from exc
            raise

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, waiting for another writer up to the busy timeout in short
        slices with a yielding sleep between them (cooperative under gevent)."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if _primary_code(exc) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                if time.monotonic() >= deadline:
                    raise Unavailable(f"the database is busy: {exc}") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        except BaseException:
            _rollback(conn)
            raise
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
        damage = self._damaged()
        if damage is not None:
            raise damage
        conn = self._conn()
        pending = migrations.pending(Database(conn, execute_plugins=False))
        if pending:
            names = ", ".join(m.name for m in pending)
            raise SchemaNotReady(f"schema migrations pending: {names}; run `checkpoints init-db`")
        disk = os.statvfs(Path(self.path).absolute().parent)
        if disk.f_bavail == 0:
            raise StorageFull("the disk holding the database is full")
        # Could a write succeed now? Take the write lock and change a row, then roll back:
        # nothing reaches the disk. A lock held by another writer means writes do work.
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _primary_code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return
            raise
        try:
            conn.execute("UPDATE feed_state SET last_seq = last_seq WHERE id = 1")
        finally:
            _rollback(conn)

    def check_integrity(self) -> None:
        if not Path(self.path).exists():
            return
        try:
            conn = self._connect()
            try:
                problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            if _primary_code(exc) == sqlite3.SQLITE_NOTADB:
                raise Corrupt(
                    f"{self.path} is not an SQLite database (its header is damaged)"
                ) from exc
            if _primary_code(exc) != sqlite3.SQLITE_CORRUPT:
                raise
            problems = [str(exc)]
        if problems != ["ok"]:
            lines = [
                line.strip() for text in problems for line in text.splitlines() if line.strip()
            ]
            found = "; ".join(line for line in lines if not line.startswith("***"))
            raise Corrupt(f"{self.path} is damaged: {found}")

    def backup(self, *, target: str) -> None:
        destination = Path(target)
        partial = destination.with_name(destination.name + ".partial")
        source = self._connect()
        try:
            copy = sqlite3.connect(partial)
            try:
                # In one step (pages=-1) the copy is made under one read transaction: one
                # consistent state, however many writers commit meanwhile.
                source.backup(copy)
                problems = [row[0] for row in copy.execute("PRAGMA integrity_check(5)")]
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                copy.close()
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            source.close()
        if problems != ["ok"]:
            partial.unlink()
            raise Corrupt(f"the copy fails its integrity check: {'; '.join(problems)}")
        with open(partial, "rb") as file:
            os.fsync(file.fileno())
        os.replace(partial, destination)

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
        self._apply_event(
            conn,
            {
                "seq": last_seq + 1,
                "recorded_at": recorded_at,
                "resource_type": kind.name,
                "resource_id": resource_id,
                "checkpoint_id": checkpoint_id,
                "revision": revision,
                "action": action,
                "actor": actor,
                "data": resource,
            },
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
    ) -> Record:
        kind = KINDS[resource_type]
        with self._write() as conn:
            if idempotency is not None:
                replay = self._replay(conn, idempotency)
                if replay is not None:
                    return replay
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
            if idempotency is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency_keys (actor, key, fingerprint, state, "
                    "created_at, resource_type, resource_id, revision) "
                    "VALUES (?, ?, ?, 'done', ?, ?, ?, ?)",
                    [
                        idempotency.actor,
                        idempotency.key,
                        idempotency.fingerprint,
                        self._local.tx_time,
                        resource_type,
                        resource_id,
                        revision,
                    ],
                )
        return Record(resource_type, resource_id, revision, resource)

    def _replay(self, conn: sqlite3.Connection, idempotency: IdempotencyKey) -> Record | None:
        """Inside a create's transaction: the first outcome of this key, if it has one.
        Expired keys are purged here, a bounded batch at a time."""
        expired = to_stamp(parse_stamp(now_stamp()) - timedelta(seconds=idempotency.ttl_seconds))
        conn.execute(
            "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys "
            "WHERE created_at < ? LIMIT ?)",
            [expired, _PURGE_BATCH],
        )
        # Only a committed create leaves its key, always 'done' (a 'pending' row is a left-over
        # of an older version, and is overwritten).
        row = conn.execute(
            "SELECT fingerprint, resource_type, resource_id, revision FROM idempotency_keys "
            "WHERE actor = ? AND key = ? AND state = 'done' AND created_at >= ?",
            [idempotency.actor, idempotency.key, expired],
        ).fetchone()
        if row is None:
            return None
        if row[0] != idempotency.fingerprint:
            raise IdempotencyMismatch("the key was first used with another request")
        data = conn.execute(
            "SELECT data FROM revisions WHERE resource_type = ? AND resource_id = ? "
            "AND revision = ?",
            row[1:],
        ).fetchone()
        return Record(row[1], row[2], row[3], json.loads(data[0]), replayed=True)

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
            self._tombstone(conn, kind, resource_id, revision, actor, kind.checkpoint_id(current))

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
                self._tombstone(conn, kind, child_id, revision, actor, checkpoint_id)

    def _tombstone(
        self,
        conn: sqlite3.Connection,
        kind: Kind,
        resource_id: str,
        revision: int,
        actor: str,
        checkpoint_id: str,
    ) -> None:
        """The deletion revision after ``revision``."""
        self._record(
            conn,
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
                f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                [after, limit],
            )
            .fetchall()
        )
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
        with self._read() as conn:
            # Fix the newest seq first and bound the query by it: a commit between two
            # reads could otherwise be skipped by a filtered consumer.
            head, first = conn.execute(
                "SELECT last_seq, first_seq FROM feed_state WHERE id = 1"
            ).fetchone()
            if after + 1 < first:
                raise FeedGone(first)
            if after > head:
                raise FeedAhead(head)
            rows = conn.execute(
                f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE {' AND '.join(where)} "
                "ORDER BY seq LIMIT ?",
                [after, head, *params, limit + 1],
            ).fetchall()
        changes = [_change(row) for row in rows[:limit]]
        if len(rows) > limit:
            return FeedPage(changes, changes[-1]["seq"], True)
        return FeedPage(changes, max(after, head), False)

    def compact_feed(self, *, before_seq: int | None = None, before_time: str | None = None) -> int:
        with self._write() as conn:
            head, first = conn.execute(
                "SELECT last_seq, first_seq FROM feed_state WHERE id = 1"
            ).fetchone()
            cut = first
            if before_seq is not None:
                cut = max(cut, min(before_seq, head + 1))
            if before_time is not None:
                row = conn.execute(
                    "SELECT MIN(seq) FROM changes WHERE recorded_at >= ?", [before_time]
                ).fetchone()
                cut = max(cut, row[0] if row[0] is not None else head + 1)
            deleted = conn.execute("DELETE FROM changes WHERE seq < ?", [cut]).rowcount
            conn.execute("UPDATE feed_state SET first_seq = ? WHERE id = 1", [cut])
        return deleted

    def snapshot(self) -> dict[str, Any]:
        with self._read() as conn:
            seq = conn.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()[0]
            body: dict[str, Any] = {"seq": seq}
            for table in ("checkpoints", "rules", "closures"):
                body[table] = [
                    json.loads(row[0])
                    for row in conn.execute(f"SELECT data FROM {table} WHERE live = 1 ORDER BY id")
                ]
        return body

    # --- mirroring -------------------------------------------------------------------------
    def sync_position(self, *, source: str) -> int | None:
        row = (
            self._conn().execute("SELECT seq FROM sync_state WHERE source = ?", [source]).fetchone()
        )
        return None if row is None else row[0]

    def load_snapshot(
        self, *, source: str, snapshot: dict[str, Any], replace_history: bool = False
    ) -> None:
        seq = snapshot["seq"]
        with self._write() as conn:
            for kind in KINDS.values():
                conn.execute(f"DELETE FROM {kind.table}")
            conn.execute("DELETE FROM changes")
            if replace_history:
                conn.execute("DELETE FROM revisions")
            for name, key in (
                ("checkpoint", "checkpoints"),
                ("rule", "rules"),
                ("closure", "closures"),
            ):
                for resource in snapshot[key]:
                    self._put_state(conn, KINDS[name], resource)
            # The mirror's own feed continues the source's from the snapshot's position.
            conn.execute(
                "UPDATE feed_state SET last_seq = ?, first_seq = ?, last_recorded_at = '' "
                "WHERE id = 1",
                [seq, seq + 1],
            )
            self._set_position(conn, source, seq)

    def apply_changes(self, *, source: str, changes: list[dict[str, Any]]) -> int:
        with self._write() as conn:
            position = conn.execute(
                "SELECT seq FROM sync_state WHERE source = ?", [source]
            ).fetchone()[0]
            for event in changes:
                if event["seq"] <= position:
                    continue  # applied already
                self._apply_event(conn, event, mirrored=True)
                position = event["seq"]
            self._set_position(conn, source, position)
        return position

    def _apply_event(
        self, conn: sqlite3.Connection, event: Mapping[str, Any], *, mirrored: bool = False
    ) -> None:
        """Write one event: the resource's new state (or its tombstone), its revision row and
        the feed row. Local writes and a mirror's copies of a source's events both come here;
        a mirror keeps history rows it already has and never moves a resource backwards."""
        kind = KINDS[event["resource_type"]]
        resource = event["data"]
        head = self._head(conn, kind, event["resource_id"]) if mirrored else None
        if head is None or head[0] < event["revision"]:
            if resource is not None:
                self._put_state(conn, kind, resource)
            else:
                conn.execute(
                    f"UPDATE {kind.table} SET revision = ?, live = 0, updated_at = ? WHERE id = ?",
                    [event["revision"], event["recorded_at"], event["resource_id"]],
                )
        data = None if resource is None else _dumps(resource)
        insert = "INSERT OR IGNORE" if mirrored else "INSERT"
        conn.execute(
            f"{insert} INTO revisions (resource_type, resource_id, revision, action, actor, "
            "recorded_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        conn.execute(
            f"{insert} INTO changes ({_CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*(event[name] for name in _CHANGE_NAMES[:-1]), data],
        )
        conn.execute(
            "UPDATE feed_state SET last_seq = MAX(last_seq, ?), "
            "last_recorded_at = MAX(last_recorded_at, ?) WHERE id = 1",
            [event["seq"], event["recorded_at"]],
        )

    def _put_state(self, conn: sqlite3.Connection, kind: Kind, resource: dict[str, Any]) -> None:
        columns = {
            "id": resource["id"],
            "revision": resource["revision"],
            "live": 1,
            "created_at": resource["created_at"],
            "updated_at": resource["updated_at"],
            "checkpoint_id": kind.checkpoint_id(resource),
            "data": _dumps(resource),
            **kind.columns(resource),
        }
        conn.execute(
            f"INSERT OR REPLACE INTO {kind.table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            list(columns.values()),
        )

    def _set_position(self, conn: sqlite3.Connection, source: str, seq: int) -> None:
        conn.execute(
            "INSERT INTO sync_state (source, seq, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (source) DO UPDATE SET seq = excluded.seq, "
            "updated_at = excluded.updated_at",
            [source, seq, now_stamp()],
        )

    def is_empty(self) -> bool:
        return self.feed_position() == 0

    # --- tokens ----------------------------------------------------------------------------
    def create_token(
        self, *, name: str, role: str, secret_hash: str, replace: bool = False
    ) -> Token:
        created_at = now_stamp()
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM tokens WHERE name = ?", [name]).fetchone():
                if not replace:
                    raise TokenExists(f"a token named {name!r} exists already")
                conn.execute("DELETE FROM tokens WHERE name = ?", [name])
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


def _rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction; on a broken file the rollback can fail too (SQLite has then
    rolled back already), and the first error is the one worth reporting."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


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


def _change(row: tuple) -> dict[str, Any]:
    event = dict(zip(_CHANGE_NAMES, row, strict=True))
    event["data"] = _loads(event["data"])
    return event


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _revision(row: tuple) -> Revision:
    return Revision(row[0], row[1], row[2], row[3], _loads(row[4]))
