"""Answers about the settled past: what had been recorded by a time far enough back can no
longer change, so such an answer is cached for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.common import AS_OF_SETTLED_SECONDS

#: The Cache-Control of an answer that never changes.
IMMUTABLE = "public, max-age=31536000, immutable"


def settled(as_of: datetime | None) -> bool:
    """True when an answer as of ``as_of`` can no longer change: no write still in progress
    (nor a host whose clock is a little behind) can be recorded at or before it."""
    return as_of is not None and as_of <= datetime.now(UTC) - timedelta(
        seconds=AS_OF_SETTLED_SECONDS
    )
