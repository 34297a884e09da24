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


def open_store(url: str, *, busy_timeout_ms: int = 15_000) -> Store:
    """Return the store for ``url`` (``sqlite:///relative/path.db``, ``sqlite:////abs.db``).

    Nothing is opened here: each thread opens its own connection on first use.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"an SQLite URL needs a path: {url!r}")
        from .sqlite import SQLiteStore

        return SQLiteStore(path, busy_timeout_ms=busy_timeout_ms)
    if parts.scheme in {"postgresql", "postgres"}:
        raise ValueError("the PostgreSQL backend is not available in this version")
    raise ValueError(f"unsupported database URL scheme: {parts.scheme!r}")
