"""Storage timestamps: fixed-width RFC 3339 UTC strings, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_stamp(moment: datetime) -> str:
    """Format an aware datetime as a fixed-width UTC timestamp."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_stamp(stamp: str) -> datetime:
    """Parse a timestamp written by ``to_stamp`` (or any RFC 3339 time)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def now_stamp() -> str:
    """The current time as a timestamp."""
    return to_stamp(datetime.now(UTC))
