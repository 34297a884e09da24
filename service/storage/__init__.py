"""Storage behind one interface; the backend is chosen by the database URL."""

from __future__ import annotations

from urllib.parse import urlsplit

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
    HistoryOrder,
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
from .held import HELD_CHECKPOINTS

__all__ = [
    "AlreadyExists",
    "CheckpointFilter",
    "ClosureFilter",
    "Conflict",
    "Corrupt",
    "DecisionInput",
    "FeedAhead",
    "FeedGone",
    "FeedPage",
    "HistoryOrder",
    "IdempotencyKey",
    "IdempotencyMismatch",
    "NotFound",
    "Page",
    "ReadOnly",
    "Record",
    "Revision",
    "RevisionMismatch",
    "RuleFilter",
    "SchemaNotReady",
    "StorageError",
    "StorageFull",
    "Store",
    "Token",
    "TokenExists",
    "Unavailable",
    "open_store",
]


def open_store(
    url: str,
    *,
    busy_timeout_ms: int = 15_000,
    busy_slice_ms: int = 20,
    poll_interval: float = 0.1,
    pool_size: int = 4,
    statement_timeout_ms: int = 15_000,
    held_checkpoints: int = HELD_CHECKPOINTS,
) -> Store:
    """Return the store for ``url``: ``sqlite:///relative/path.db``, ``sqlite:////abs.db``
    or ``postgresql://user@host:port/database``.

    Nothing is opened here: connections are made on first use, in the process that uses
    them (after the server forks its workers).
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"an SQLite URL needs a path: {url!r}")
        from .sqlite import SQLiteStore

        store: Store = SQLiteStore(
            path, busy_timeout_ms=busy_timeout_ms, busy_slice_ms=busy_slice_ms
        )
    elif parts.scheme in {"postgresql", "postgres"}:
        from .postgres import PostgresStore

        store = PostgresStore(url, pool_size=pool_size, statement_timeout_ms=statement_timeout_ms)
    else:
        raise ValueError(f"unsupported database URL scheme: {parts.scheme!r}")
    store.poll_interval = poll_interval
    store.held_checkpoints = held_checkpoints
    return store
