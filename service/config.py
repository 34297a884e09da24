"""The service's configuration: one value read from the environment, or passed by tests."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///var/checkpoints.db"


@dataclass(frozen=True)
class Config:
    """Everything the application reads at start-up."""

    database_url: str = DEFAULT_DATABASE_URL
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: How long a writer waits for SQLite's write lock before giving up, in milliseconds.
    sqlite_busy_timeout_ms: int = 15_000
    #: Longest ``Cache-Control: max-age`` of a decision or status, in seconds.
    decision_max_age: int = 60
    #: Public base URL used in the OpenAPI ``servers`` list.
    public_url: str = "http://127.0.0.1:8000"

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
            decision_max_age=int(env.get("CHECKPOINTS_DECISION_MAX_AGE", cls.decision_max_age)),
            public_url=env.get("CHECKPOINTS_PUBLIC_URL", cls.public_url),
        )
