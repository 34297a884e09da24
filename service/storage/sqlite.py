"""The SQLite backend: what differs from the shared protocol (``protocol.py``) on SQLite.

One connection per thread (or greenlet), borrowed from a per-process pool after the server
forks; every write one ``BEGIN IMMEDIATE`` transaction, so writers are serialised and ``seq``
is gap-free; the schema comes from sqlite-utils migrations (``migrations.py``). SQLite's
failures of the file, the disk or the lock leave as ``base``'s exceptions; a process that
meets damaged data refuses writes and is not ready from then on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from .base import Corrupt, ReadOnly, SchemaNotReady, StorageError, StorageFull, Unavailable
from .migrations import migrations
from .protocol import Mode, Tx, VersionedStore

log = logging.getLogger(__name__)

_READ_ONLY_CODES = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN)


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


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


class SQLiteStore(VersionedStore):
    """Storage in one SQLite file, in WAL mode."""

    def __init__(self, path: str, *, busy_timeout_ms: int = 15_000, busy_slice_ms: int = 20):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.busy_slice_ms = busy_slice_ms
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
        # worker: the server's connections wait in short slices and ``_begin_immediate``
        # retries between them with a sleep that yields. Operator commands (create=True) wait
        # the whole time.
        busy_ms = self.busy_timeout_ms if create else min(self.busy_slice_ms, self.busy_timeout_ms)
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

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLite's failures of the file, the disk or the lock as the store's exceptions
        (``_storage_error``); anything else, a bug, leaves as it is."""
        try:
            yield
        except sqlite3.Error as exc:
            error = self._storage_error(exc)
            if error is None:
                raise
            raise error from exc

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
    def transaction(self, mode: Mode = "one") -> Iterator[Tx]:
        if mode == "write":
            damage = self._damaged()
            if damage is not None:
                raise damage
        with self._translated():
            conn = self._conn()
            if mode == "one":
                yield Tx(conn.execute)
                return
            if mode == "read":
                conn.execute("BEGIN")  # every statement inside sees the same snapshot
            else:
                self._begin_immediate(conn)  # a write holds the lock from its first statement
            try:
                yield Tx(conn.execute)
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                if self._storage_error(exc) is None:
                    raise Unavailable(f"the transaction could not be committed: {exc}") from exc
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

    # --- lifecycle -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        with self._translated():
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
                    _rollback(conn)
                    raise
                conn.execute("COMMIT")
                return pending
            finally:
                conn.close()

    def check_ready(self) -> None:
        with self._translated():
            damage = self._damaged()
            if damage is not None:
                raise damage
            conn = self._conn()
            pending = migrations.pending(Database(conn, execute_plugins=False))
            if pending:
                names = ", ".join(m.name for m in pending)
                raise SchemaNotReady(
                    f"schema migrations pending: {names}; run `checkpoints init-db`"
                )
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
        with self._translated():
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
        with self._translated():
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


def _rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction; on a broken file the rollback can fail too (SQLite has then
    rolled back already), and the first error is the one worth reporting."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
