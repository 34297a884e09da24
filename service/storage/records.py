"""Stored records as the domain's values: the one place a stored resource's JSON becomes a
``Checkpoint``, ``Rule`` or ``Closure``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from service.domain.model import Checkpoint, Closure, Rule

from .base import DecisionInput


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def checkpoint(data: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(
        id=data["id"],
        timezone=data["timezone"],
        opening_hours=data.get("opening_hours") or "24/7",
        countries=tuple(data["countries"]),
        revision=data["revision"],
    )


def rule(data: Mapping[str, Any]) -> Rule:
    return Rule(
        id=data["id"],
        checkpoint_id=data["checkpoint_id"],
        mode=data["mode"],
        access=data["access"],
        valid_from=_time(data["valid_from"]),
        valid_until=_time(data.get("valid_until")),
        condition=data.get("condition"),
        conditions_text=tuple(data.get("conditions_text") or ()),
        opening_hours=data.get("opening_hours"),
        revision=data["revision"],
    )


def closure(data: Mapping[str, Any]) -> Closure:
    return Closure(
        id=data["id"],
        checkpoint_id=data["checkpoint_id"],
        starts_at=_time(data["starts_at"]),
        ends_at=_time(data.get("ends_at")),
        modes=tuple(data["modes"]),
        reason=data["reason"],
        revision=data["revision"],
    )


def decision_input(
    stored_checkpoint: Mapping[str, Any],
    stored_rules: Iterable[Mapping[str, Any]],
    stored_closures: Iterable[Mapping[str, Any]],
) -> DecisionInput:
    return DecisionInput(
        checkpoint(stored_checkpoint),
        [rule(r) for r in stored_rules],
        [closure(c) for c in stored_closures],
        dict(stored_checkpoint),
    )
