"""The PostgreSQL backend: what differs from the shared protocol (``protocol.py``) on
PostgreSQL, for several API hosts on one database.

- Connections: a psycopg pool per worker process, opened on first use in that process (so
  never before gunicorn forks). psycopg (≥ 3.1.14) notices gevent's monkey-patching when it
  is imported and then waits on its sockets cooperatively, so a slow statement holds only
  its own greenlet; this module is first imported by the application, inside the worker.
- Serialisation: every write transaction first locks the one ``feed_state`` row
  (``SELECT … FOR UPDATE``), as SQLite's ``BEGIN IMMEDIATE`` does, so ``seq`` is gap-free
  and in commit order, and the protocol's checks under it (expected revision, rule
  overlap, idempotency keys) cannot race. Reads use MVCC and never wait for writers;
  several reads that must agree (a snapshot, a feed page) share one REPEATABLE READ
  transaction.
- Waking waiters: a write that adds to the feed sends ``NOTIFY`` with its commit; each
  worker process has one listening connection that wakes its long-polls and streams.
- Migrations: plain SQL, applied by ``checkpoints init-db`` under an advisory lock, so
  hosts that start at once apply each migration once.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool

from .base import Corrupt, ReadOnly, SchemaNotReady, StorageError, StorageFull, Unavailable
from .protocol import Mode, Tx, VersionedStore

log = logging.getLogger(__name__)

#: The channel a commit that adds to the feed is announced on (payload: the new last seq).
CHANNEL = "checkpoints_feed"
#: The advisory lock ``init-db`` holds while it migrates (any constant unique to this app).
MIGRATION_LOCK = 0x636B7074  # "ckpt"

# Text columns compare byte-wise (COLLATE "C"), as in SQLite: ids and timestamps order the
# same on both engines, whatever the database's locale.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_versioned_resources",
        """
        CREATE TABLE checkpoints (
            id text COLLATE "C" PRIMARY KEY, revision integer NOT NULL, live integer NOT NULL,
            created_at text COLLATE "C" NOT NULL, updated_at text COLLATE "C" NOT NULL,
            checkpoint_id text COLLATE "C" NOT NULL, data text NOT NULL,
            search text COLLATE "C", country_a text, country_b text, kind text);
        CREATE INDEX checkpoints_live_id ON checkpoints (live, id);
        CREATE TABLE rules (
            id text COLLATE "C" PRIMARY KEY, revision integer NOT NULL, live integer NOT NULL,
            created_at text COLLATE "C" NOT NULL, updated_at text COLLATE "C" NOT NULL,
            checkpoint_id text COLLATE "C" NOT NULL, data text NOT NULL,
            mode text, valid_from text COLLATE "C", valid_until text COLLATE "C");
        CREATE INDEX rules_checkpoint_mode ON rules (checkpoint_id, mode, valid_from);
        CREATE TABLE closures (
            id text COLLATE "C" PRIMARY KEY, revision integer NOT NULL, live integer NOT NULL,
            created_at text COLLATE "C" NOT NULL, updated_at text COLLATE "C" NOT NULL,
            checkpoint_id text COLLATE "C" NOT NULL, data text NOT NULL,
            starts_at text COLLATE "C", ends_at text COLLATE "C", reason text, modes text);
        CREATE INDEX closures_checkpoint_start ON closures (checkpoint_id, starts_at);
        CREATE INDEX closures_live_start ON closures (live, starts_at);
        CREATE TABLE revisions (
            resource_type text NOT NULL, resource_id text COLLATE "C" NOT NULL,
            revision integer NOT NULL, action text NOT NULL, actor text NOT NULL,
            recorded_at text COLLATE "C" NOT NULL, data text,
            PRIMARY KEY (resource_type, resource_id, revision));
        CREATE TABLE changes (
            seq bigint PRIMARY KEY, recorded_at text COLLATE "C" NOT NULL,
            resource_type text NOT NULL, resource_id text COLLATE "C" NOT NULL,
            checkpoint_id text COLLATE "C", revision integer NOT NULL, action text NOT NULL,
            actor text NOT NULL, data text);
        CREATE INDEX changes_checkpoint_seq ON changes (checkpoint_id, seq);
        CREATE INDEX changes_type_seq ON changes (resource_type, seq);
        CREATE TABLE feed_state (
            id integer PRIMARY KEY, last_seq bigint NOT NULL,
            last_recorded_at text COLLATE "C" NOT NULL, first_seq bigint NOT NULL);
        INSERT INTO feed_state (id, last_seq, last_recorded_at, first_seq) VALUES (1, 0, '', 1);
        CREATE TABLE tokens (
            name text PRIMARY KEY, role text NOT NULL, secret_hash text NOT NULL UNIQUE,
            created_at text NOT NULL, revoked_at text);
        CREATE TABLE idempotency_keys (
            actor text NOT NULL, key text NOT NULL, fingerprint text NOT NULL,
            state text NOT NULL, created_at text COLLATE "C" NOT NULL,
            resource_type text, resource_id text, revision integer,
            PRIMARY KEY (actor, key));
        CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
        CREATE TABLE sync_state (source text PRIMARY KEY, seq bigint, updated_at text);
        """,
    ),
]


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """The protocol's ``?`` placeholders as psycopg's ``%s`` (its SQL has no other ``?``
    or ``%``)."""
    return sql.replace("?", "%s")


@contextmanager
def _translated() -> Iterator[None]:
    """psycopg's errors as storage exceptions: the request may be retried."""
    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise SchemaNotReady(f"the schema is missing; run `checkpoints init-db`: {exc}") from exc
    except (psycopg.errors.DataCorrupted, psycopg.errors.IndexCorrupted) as exc:
        raise Corrupt(f"the database is damaged: {exc}") from exc
    except psycopg.errors.ReadOnlySqlTransaction as exc:  # a standby, or read-only by setting
        raise ReadOnly(f"the database cannot be written: {exc}") from exc
    except psycopg.errors.DiskFull as exc:
        raise StorageFull(f"the database server's disk is full: {exc}") from exc
    except psycopg.errors.QueryCanceled as exc:
        raise Unavailable(f"the statement timed out: {exc}") from exc
    except (
        psycopg.errors.SerializationFailure,
        psycopg.errors.DeadlockDetected,
        psycopg.errors.LockNotAvailable,
    ) as exc:
        raise Unavailable(f"the database is busy: {exc}") from exc
    except psycopg.OperationalError as exc:  # also the pool's PoolTimeout
        raise Unavailable(f"the database cannot be reached: {exc}") from exc


class _Listener:
    """One connection per worker process that LISTENs for commits and wakes the waiters
    of that process; ``seq`` is None while it is not connected (waiters then poll)."""

    def __init__(self, url: str):
        self.url = url
        self.seq: int | None = None
        self.event = threading.Event()
        self.closed = False
        self.pid = os.getpid()
        threading.Thread(target=self._run, name="checkpoints-listen", daemon=True).start()

    def _announce(self, seq: int | None) -> None:
        self.seq = seq
        event, self.event = self.event, threading.Event()
        event.set()

    def _run(self) -> None:
        pause = 0.1
        while not self.closed and self.pid == os.getpid():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    row = conn.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()
                    self._announce(row[0])
                    pause = 0.1
                    while not self.closed:
                        for note in conn.notifies(timeout=5.0):
                            self._announce(int(note.payload))
            except (psycopg.Error, ValueError) as exc:
                self._announce(None)
                log.warning("feed listener disconnected, reconnecting: %s", exc)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)


class PostgresStore(VersionedStore):
    """Storage in one PostgreSQL database, shared by every host."""

    def __init__(self, url: str, *, pool_size: int = 4, statement_timeout_ms: int = 15_000):
        self.url = url
        self.pool_size = pool_size
        self.statement_timeout_ms = statement_timeout_ms
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._listener: _Listener | None = None
        self._pid = os.getpid()

    # --- connections -----------------------------------------------------------------------
    def _own(self) -> None:
        """Forget a pool and listener inherited across a fork: never use or close them."""
        if self._pid != os.getpid():
            self._pool, self._listener, self._pid = None, None, os.getpid()
            self._lock = threading.Lock()  # the parent's may have been held at the fork

    def _get_pool(self) -> ConnectionPool:
        self._own()
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ConnectionPool(
                        self.url,
                        min_size=1,
                        max_size=self.pool_size,
                        kwargs={"autocommit": True},
                        configure=self._configure,
                        timeout=max(1.0, self.statement_timeout_ms / 1000),
                        name="checkpoints",
                        open=True,
                    )
                pool = self._pool
        return pool

    def _configure(self, conn: psycopg.Connection) -> None:
        """Every pooled connection: statements (lock waits included) are bounded."""
        conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")

    @contextmanager
    def transaction(self, mode: Mode = "one") -> Iterator[Tx]:
        with _translated(), self._get_pool().connection() as conn:
            execute = functools.partial(_execute, conn)
            if mode == "one":
                yield Tx(execute)
                return
            with conn.transaction():
                if mode == "read":
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield Tx(execute)
                    return
                # The write serialisation: one row every writer locks first.
                conn.execute("SELECT 1 FROM feed_state WHERE id = 1 FOR UPDATE")
                tx = Tx(execute)
                yield tx
                if tx.feed_seq is not None:
                    # Delivered to listeners on every host when (and only if) this commits.
                    conn.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(tx.feed_seq)])

    def wait_for_change(
        self, after: int, timeout: float, stop: threading.Event | None = None
    ) -> bool:
        deadline = time.monotonic() + timeout
        listener = self._get_listener()
        if self.feed_position() > after:
            return True
        while True:
            event, seq = listener.event, listener.seq
            if seq is not None and seq > after:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            # In slices, so that a stop (the worker shutting down) is seen promptly.
            if event.wait(min(remaining, 0.25, self.poll_interval)) or seq is not None:
                continue
            # The listener is (re)connecting: poll meanwhile.
            if self.feed_position() > after:
                return True

    def _get_listener(self) -> _Listener:
        self._own()
        with self._lock:
            if self._listener is None:
                self._listener = _Listener(self.url)
            return self._listener

    def close(self) -> None:
        """Close this process's pool and listener (a later use opens new ones)."""
        self._own()
        with self._lock:
            pool, self._pool = self._pool, None
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.closed = True
        if pool is not None:
            pool.close()

    # --- lifecycle -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        with (
            _translated(),
            psycopg.connect(self.url, autocommit=True) as conn,
            conn.transaction(),
        ):
            # Hosts that run init-db at once wait here in turn; the later ones find
            # nothing pending. DDL is transactional: a failed migration leaves nothing.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            pending = [(name, sql) for name, sql in MIGRATIONS if name not in done]
            for name, sql in pending:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", [name])
        return [name for name, _ in pending]

    def check_ready(self) -> None:
        try:
            with self.transaction() as tx:
                done = {row[0] for row in tx.execute("SELECT name FROM schema_migrations")}
                # Could a write succeed now? Not on a standby or a read-only database.
                read_only = tx.execute("SHOW transaction_read_only").fetchone()[0] == "on"
        except (Unavailable, SchemaNotReady) as exc:
            raise SchemaNotReady(f"the database cannot be read: {exc}") from exc
        pending = [name for name, _ in MIGRATIONS if name not in done]
        if pending:
            raise SchemaNotReady(
                f"schema migrations pending: {', '.join(pending)}; run `checkpoints init-db`"
            )
        if read_only:
            raise ReadOnly("the database is read-only (a standby?): writes would fail")

    def check_integrity(self) -> None:
        """Nothing to do before serving: PostgreSQL checks its own pages as it reads them
        (with data checksums on), and damage met while serving is answered as Corrupt."""

    def backup(self, *, target: str) -> None:
        raise StorageError(
            "`checkpoints backup` copies SQLite databases; back PostgreSQL up with pg_dump "
            "(README, 'Several hosts (PostgreSQL)')"
        )


def _execute(conn: psycopg.Connection, sql: str, params: Any = ()) -> psycopg.Cursor:
    return conn.execute(_placeholders(sql), params)
