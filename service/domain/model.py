"""The domain's values: checkpoints, rules, closures and the decisions made over them.

Every value is a frozen dataclass; every time is timezone-aware and held in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

MODES = ("pedestrian", "cyclist", "vehicle", "goods")
ACCESS = ("allowed", "restricted", "prohibited")
CLOSURE_REASONS = (
    "security",
    "maintenance",
    "infrastructure",
    "weather",
    "emergency",
    "health",
    "diplomatic",
    "other",
)
# A decision's access adds "unknown" (no rule in force, or hours that do not say) to ACCESS.
DECISION_ACCESS = (*ACCESS, "unknown")
REASON_CODES = (
    "closure",
    "no_rule",
    "rule",
    "outside_hours",
    "hours_unknown",
    "allowed",
    "condition_met",
    "condition_not_met",
    "facts_needed",
)
STATES = ("unknown", "closed", "open", "restricted")
RESOURCE_TYPES = ("checkpoint", "rule", "closure")
#: What a revision (and its feed event) did to its resource.
ACTIONS = ("created", "updated", "deleted")
#: Token roles, lowest first: an admin may do whatever an editor may.
ROLES = ("editor", "admin")

#: The supported range of times: from TIME_MIN (inclusive) up to TIME_END (exclusive), so the
#: last supported instant is 2999-12-31T23:59:59.999999Z. Opening hours are read on local wall
#: clocks from 1900 on, and every computation from an instant in the range (a change of opening
#: hours, a zone's next offset change) stays far from datetime's limits (years 1 and 9999).
TIME_MIN = datetime(1900, 1, 1, tzinfo=UTC)
TIME_END = datetime(3000, 1, 1, tzinfo=UTC)
TIME_RANGE_TEXT = "from 1900-01-01T00:00:00Z up to, not including, 3000-01-01T00:00:00Z"


def to_utc(value: datetime, name: str = "time") -> datetime:
    """Return an aware datetime in UTC; a naive one is a ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def in_time_range(value: datetime) -> bool:
    """True when the aware ``value`` lies in the supported range [TIME_MIN, TIME_END)."""
    return TIME_MIN <= value < TIME_END


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with "Z": second precision, microseconds only when there are some."""
    value = to_utc(value)
    spec = "seconds" if value.microsecond == 0 else "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A pointer to one revision of a stored resource."""

    type: str
    id: str
    revision: int

    def __post_init__(self) -> None:
        _check_choice(self.type, RESOURCE_TYPES, "type")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "revision": self.revision}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a decision needs of a checkpoint: its zone, its hours and its countries."""

    id: str
    timezone: str
    opening_hours: str = "24/7"
    countries: tuple[str, str] = ("LT", "BY")
    revision: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "countries", tuple(self.countries))

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef("checkpoint", self.id, self.revision)


@dataclass(frozen=True, slots=True)
class Rule:
    """What one mode may do at one checkpoint from valid_from until valid_until (exclusive)."""

    id: str
    checkpoint_id: str
    mode: str
    access: str
    valid_from: datetime
    valid_until: datetime | None = None
    condition: Mapping | None = None
    conditions_text: tuple[str, ...] = ()
    opening_hours: str | None = None
    revision: int = 1

    def __post_init__(self) -> None:
        _check_choice(self.mode, MODES, "mode")
        _check_choice(self.access, ACCESS, "access")
        object.__setattr__(self, "valid_from", to_utc(self.valid_from, "valid_from"))
        if self.valid_until is not None:
            object.__setattr__(self, "valid_until", to_utc(self.valid_until, "valid_until"))
            if self.valid_until <= self.valid_from:
                raise ValueError("valid_until must be after valid_from")
        object.__setattr__(self, "conditions_text", tuple(self.conditions_text))

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef("rule", self.id, self.revision)


@dataclass(frozen=True, slots=True)
class Closure:
    """A period from starts_at until ends_at (exclusive) in which some modes are shut."""

    id: str
    checkpoint_id: str
    starts_at: datetime
    ends_at: datetime | None = None
    modes: tuple[str, ...] = MODES
    reason: str = "other"
    revision: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "modes", tuple(self.modes))
        if not self.modes:
            raise ValueError("a closure shuts at least one mode")
        for mode in self.modes:
            _check_choice(mode, MODES, "mode")
        _check_choice(self.reason, CLOSURE_REASONS, "reason")
        object.__setattr__(self, "starts_at", to_utc(self.starts_at, "starts_at"))
        if self.ends_at is not None:
            object.__setattr__(self, "ends_at", to_utc(self.ends_at, "ends_at"))
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")

    @property
    def ref(self) -> ResourceRef:
        return ResourceRef("closure", self.id, self.revision)


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason behind a decision: a stable code, a sentence, and what it rests on."""

    code: str
    message: str
    resource: ResourceRef | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "resource": None if self.resource is None else self.resource.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether one mode may cross at one instant, why, and until when the answer holds."""

    checkpoint_id: str
    mode: str
    at: datetime
    allowed: bool | None
    access: str
    reasons: tuple[Reason, ...]
    conditions_text: tuple[str, ...] = ()
    missing_facts: tuple[str, ...] = ()
    valid_until: datetime | None = None

    def same_answer(self, other: Decision) -> bool:
        """True when both decisions say the same thing: every field but ``at`` is equal."""
        return all(
            getattr(self, f.name) == getattr(other, f.name) for f in fields(self) if f.name != "at"
        )

    def to_dict(self) -> dict[str, Any]:
        """The decision's JSON shape, as the API returns it."""
        return {
            "checkpoint_id": self.checkpoint_id,
            "mode": self.mode,
            "at": format_time(self.at),
            "allowed": self.allowed,
            "access": self.access,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "conditions_text": list(self.conditions_text),
            "missing_facts": list(self.missing_facts),
            "valid_until": None if self.valid_until is None else format_time(self.valid_until),
        }
