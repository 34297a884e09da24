"""The SQLite backend: what differs from the shared protocol (``protocol.py``) on SQLite.

One connection per thread (or greenlet), borrowed from a per-process pool after the server
forks; every write one ``BEGIN IMMEDIATE`` transaction, so writers are serialised and ``seq``
is gap-free; the schema comes from sqlite-utils migrations (``migrations.py``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from .base import SchemaNotReady, Unavailable
from .migrations import migrations
from .protocol import Mode, Tx, VersionedStore

#: Longest a server connection waits inside SQLite for the write lock before yielding.
_BUSY_SLICE_MS = 20


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

    def __init__(self, path: str, *, busy_timeout_ms: int = 15_000):
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._pool = _Pool(self._connect)

    # --- connections -----------------------------------------------------------------------
    def _connect(self, *, create: bool = False) -> sqlite3.Connection:
        if create:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        mode = "rwc" if create else "rw"
        # SQLite's own busy wait sleeps inside C, which would stall every greenlet of a gevent
        # worker: the server's connections wait in short slices and ``_write`` retries between
        # them with a sleep that yields. Operator commands (create=True) wait the whole time.
        busy_ms = self.busy_timeout_ms if create else min(_BUSY_SLICE_MS, self.busy_timeout_ms)
        try:
            conn = sqlite3.connect(
                f"file:{Path(self.path).absolute()}?mode={mode}",
                uri=True,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE for writes
                timeout=busy_ms / 1000,
            )
        except sqlite3.OperationalError as exc:
            raise SchemaNotReady(f"cannot open the database: {exc}") from exc
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

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
        conn = self._conn()
        if mode == "one":
            yield Tx(conn.execute)
            return
        if mode == "read":
            # A read transaction: every statement inside sees the same snapshot.
            conn.execute("BEGIN")
            try:
                yield Tx(conn.execute)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
            return
        # A write holds SQLite's write lock from its first statement.
        self._begin_immediate(conn)
        try:
            yield Tx(conn.execute)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise Unavailable(f"the write could not be committed: {exc}") from exc

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
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise Unavailable(f"the database cannot be written: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise Unavailable(f"the database is busy: {exc}") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

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
