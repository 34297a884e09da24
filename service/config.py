"""The service's configuration: one value read from the environment, or passed by tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from service.storage.held import HELD_CHECKPOINTS

DEFAULT_DATABASE_URL = "sqlite:///var/checkpoints.db"


@dataclass(frozen=True)
class Config:
    """Everything the application reads at start-up."""

    database_url: str = DEFAULT_DATABASE_URL
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: How long a writer waits for SQLite's write lock before giving up, in milliseconds.
    sqlite_busy_timeout_ms: int = 15_000
    #: Longest one wait inside SQLite for its write lock, in milliseconds: a server retries
    #: after a sleep that yields between such waits. Set to the busy timeout, SQLite's own
    #: busy wait does all the waiting (blocking a gevent worker meanwhile).
    sqlite_busy_slice_ms: int = 20
    #: PostgreSQL connections each worker process keeps at most (its pool's size).
    pg_pool_size: int = 4
    #: Longest one PostgreSQL statement may run (lock waits included), in milliseconds.
    pg_statement_timeout_ms: int = 15_000
    #: Checkpoints whose decision inputs each worker process holds at most (the ones asked for
    #: most recently); the others are read when asked for.
    held_checkpoints: int = HELD_CHECKPOINTS
    #: Longest ``Cache-Control: max-age`` of a decision or status, in seconds.
    decision_max_age: int = 60
    #: How long an Idempotency-Key is remembered, in seconds.
    idempotency_ttl: int = 24 * 3600
    #: How often a waiting long-poll or stream looks for new events, in seconds.
    feed_poll_interval: float = 0.1
    #: Longest gap between two messages of an event stream (a comment heartbeat), in seconds.
    stream_heartbeat: float = 10.0
    #: A stream ends after this long (clients reconnect with Last-Event-ID), in seconds.
    stream_max_seconds: float = 3600.0
    #: Long-polls and streams one worker process holds open at once; beyond, 503.
    max_held_requests: int = 200
    #: Public base URL used in the OpenAPI ``servers`` list.
    public_url: str = "http://127.0.0.1:8000"
    #: Browser origins (``https://dash.example``) allowed to make cross-origin writes; reads
    #: are open to every origin.
    cors_write_origins: tuple[str, ...] = ()
    #: Whether requests are rate-limited at all.
    ratelimit_enabled: bool = True
    #: Reads (and writes without a valid token) per client address: ``N/second|minute|hour|day``.
    #: A batch of decisions weighs its number of queries.
    ratelimit_read: str = "3000/minute"
    #: Writes per token (keyed by the token's name).
    ratelimit_write: str = "120/minute"
    #: Where the counters live: ``memory://`` (each worker process counts on its own) or
    #: ``redis://host:port/db`` (shared by every worker and host using it).
    ratelimit_storage_url: str = "memory://"
    #: Prefix of every counter's key, so deployments can share one Redis.
    ratelimit_key_prefix: str = "checkpoints"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read the configuration from ``CHECKPOINTS_*`` environment variables."""
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("CHECKPOINTS_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=int(env.get("CHECKPOINTS_MAX_BODY_BYTES", cls.max_body_bytes)),
            sqlite_busy_timeout_ms=int(
                env.get("CHECKPOINTS_SQLITE_BUSY_TIMEOUT_MS", cls.sqlite_busy_timeout_ms)
            ),
            sqlite_busy_slice_ms=int(
                env.get("CHECKPOINTS_SQLITE_BUSY_SLICE_MS", cls.sqlite_busy_slice_ms)
            ),
            pg_pool_size=int(env.get("CHECKPOINTS_PG_POOL_SIZE", cls.pg_pool_size)),
            pg_statement_timeout_ms=int(
                env.get("CHECKPOINTS_PG_STATEMENT_TIMEOUT_MS", cls.pg_statement_timeout_ms)
            ),
            held_checkpoints=int(env.get("CHECKPOINTS_HELD_CHECKPOINTS", cls.held_checkpoints)),
            decision_max_age=int(env.get("CHECKPOINTS_DECISION_MAX_AGE", cls.decision_max_age)),
            idempotency_ttl=int(env.get("CHECKPOINTS_IDEMPOTENCY_TTL", cls.idempotency_ttl)),
            feed_poll_interval=float(
                env.get("CHECKPOINTS_FEED_POLL_INTERVAL", cls.feed_poll_interval)
            ),
            stream_heartbeat=float(env.get("CHECKPOINTS_STREAM_HEARTBEAT", cls.stream_heartbeat)),
            stream_max_seconds=float(
                env.get("CHECKPOINTS_STREAM_MAX_SECONDS", cls.stream_max_seconds)
            ),
            max_held_requests=int(env.get("CHECKPOINTS_MAX_HELD_REQUESTS", cls.max_held_requests)),
            public_url=env.get("CHECKPOINTS_PUBLIC_URL", cls.public_url),
            cors_write_origins=tuple(
                origin.strip()
                for origin in env.get("CHECKPOINTS_CORS_WRITE_ORIGINS", "").split(",")
                if origin.strip()
            ),
            ratelimit_enabled=_flag(
                env.get("CHECKPOINTS_RATELIMIT_ENABLED"), "CHECKPOINTS_RATELIMIT_ENABLED"
            ),
            ratelimit_read=env.get("CHECKPOINTS_RATELIMIT_READ", cls.ratelimit_read),
            ratelimit_write=env.get("CHECKPOINTS_RATELIMIT_WRITE", cls.ratelimit_write),
            ratelimit_storage_url=env.get(
                "CHECKPOINTS_RATELIMIT_STORAGE_URL", cls.ratelimit_storage_url
            ),
            ratelimit_key_prefix=env.get(
                "CHECKPOINTS_RATELIMIT_KEY_PREFIX", cls.ratelimit_key_prefix
            ),
        )


def _flag(value: str | None, name: str, default: bool = True) -> bool:
    """An on/off setting: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``."""
    if value is None or not value.strip():
        return default
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}: {value!r} is not on or off (1/0, true/false, yes/no, on/off)")
