"""The crossing decision: may this mode cross this checkpoint at this instant, and why.

decide() follows API.md section 4, first match wins: closure, no rule, prohibiting rule,
opening hours, then the rule's access and condition. derive_state() sums up four decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from service.domain.conditions import describe, evaluate
from service.domain.hours import open_state
from service.domain.model import (
    MODES,
    Checkpoint,
    Closure,
    Decision,
    Reason,
    Rule,
    format_time,
    to_utc,
)


def decide(
    *,
    checkpoint: Checkpoint,
    rules: Iterable[Rule],
    closures: Iterable[Closure],
    mode: str,
    at: datetime,
    facts: Mapping[str, str],
) -> Decision:
    """Decide whether ``mode`` may cross ``checkpoint`` at ``at`` given the traveller's facts.

    Rules and closures of other checkpoints are ignored. One pass over each: the cost is
    linear in the history handed in, plus one (cached) opening-hours evaluation.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    at = to_utc(at, "at")
    checkpoint_id = checkpoint.id
    # The earliest closure or rule boundary after `at`: the answer cannot change before it.
    boundary: datetime | None = None

    covering: list[Closure] = []
    for closure in closures:
        if mode not in closure.modes or closure.checkpoint_id != checkpoint_id:
            continue
        if closure.starts_at > at:
            edge = closure.starts_at
        elif closure.ends_at is None:
            covering.append(closure)
            continue
        elif closure.ends_at > at:
            covering.append(closure)
            edge = closure.ends_at
        else:
            continue
        if boundary is None or edge < boundary:
            boundary = edge

    rule: Rule | None = None
    for candidate in rules:
        if candidate.mode != mode or candidate.checkpoint_id != checkpoint_id:
            continue
        if candidate.valid_from > at:
            edge = candidate.valid_from
        elif candidate.valid_until is None or candidate.valid_until > at:
            # Rules of one mode never overlap; should two, the one that began last wins.
            if rule is None or (candidate.valid_from, candidate.id) > (rule.valid_from, rule.id):
                rule = candidate
            if candidate.valid_until is None:
                continue
            edge = candidate.valid_until
        else:
            continue
        if boundary is None or edge < boundary:
            boundary = edge

    def answer(
        allowed: bool | None,
        access: str,
        reasons: tuple[Reason, ...],
        valid_until: datetime | None = boundary,
        missing_facts: tuple[str, ...] = (),
    ) -> Decision:
        return Decision(
            checkpoint_id=checkpoint_id,
            mode=mode,
            at=at,
            allowed=allowed,
            access=access,
            reasons=reasons,
            conditions_text=() if rule is None else rule.conditions_text,
            missing_facts=missing_facts,
            valid_until=valid_until,
        )

    # 1. Closures in effect that cover the mode.
    if covering:
        covering.sort(key=lambda closure: (closure.starts_at, closure.id))
        reasons = tuple(Reason("closure", _closure_message(c), c.ref) for c in covering)
        return Decision(
            checkpoint_id=checkpoint_id,
            mode=mode,
            at=at,
            allowed=False,
            access="prohibited",
            reasons=reasons,
            conditions_text=(),
            missing_facts=(),
            valid_until=boundary,
        )

    # 2. No rule in force.
    if rule is None:
        reason = Reason("no_rule", f"No rule in force for {mode}", None)
        return answer(None, "unknown", (reason,))

    # 3. The rule prohibits the mode.
    if rule.access == "prohibited":
        reason = Reason("rule", f"{_crossing(mode)} is prohibited", rule.ref)
        return answer(False, "prohibited", (reason,))

    # 4. Opening hours: the rule's own, else the checkpoint's; read in the checkpoint's zone.
    if rule.opening_hours is not None:
        hours, hours_owner, whose = rule.opening_hours, rule.ref, "the rule's"
    else:
        hours, hours_owner, whose = checkpoint.opening_hours, checkpoint.ref, "the checkpoint's"
    country = checkpoint.countries[0] if checkpoint.countries else None
    state, hours_change = open_state(hours, checkpoint.timezone, country, at)
    if hours_change is not None and (boundary is None or hours_change < boundary):
        valid_until = hours_change
    else:
        valid_until = boundary
    if state == "closed":
        reason = Reason("outside_hours", f"Outside {whose} opening hours ({hours})", hours_owner)
        return answer(False, "prohibited", (reason,), valid_until)
    if state == "unknown":
        message = f"{whose.capitalize()} opening hours ({hours}) do not say whether it is open"
        reason = Reason("hours_unknown", message, hours_owner)
        return answer(None, "unknown", (reason,), valid_until)

    # 5. The rule's access, and for "restricted" its condition over the facts.
    if rule.access == "allowed" or rule.condition is None:
        if rule.access == "allowed" or not rule.conditions_text:
            message = f"{_crossing(mode)} is allowed"
        else:
            message = f"{_crossing(mode)} is allowed on the published conditions"
        return answer(True, rule.access, (Reason("allowed", message, rule.ref),), valid_until)
    value, missing = evaluate(rule.condition, facts)
    condition = describe(rule.condition)
    if value is True:
        reason = Reason("condition_met", f"Condition met: {condition}", rule.ref)
        return answer(True, rule.access, (reason,), valid_until)
    if value is False:
        reason = Reason("condition_not_met", f"Condition not met: {condition}", rule.ref)
        return answer(False, rule.access, (reason,), valid_until)
    needed = tuple(sorted(missing))
    message = f"Facts needed ({', '.join(needed)}) for the condition: {condition}"
    reason = Reason("facts_needed", message, rule.ref)
    return answer(None, rule.access, (reason,), valid_until, needed)


def derive_state(decisions: Mapping[str, Decision]) -> str:
    """The checkpoint's state over its modes' decisions: unknown, closed, open or restricted."""
    governed = [
        decision
        for decision in decisions.values()
        if any(reason.code != "no_rule" for reason in decision.reasons)
    ]
    if not governed:
        return "unknown"
    if all(decision.allowed is False for decision in governed):
        return "closed"
    closed_by_closure = any(
        reason.code == "closure" for decision in governed for reason in decision.reasons
    )
    if not closed_by_closure and all(decision.access == "allowed" for decision in governed):
        return "open"
    return "restricted"


def _crossing(mode: str) -> str:
    return f"{mode.capitalize()} crossing"


def _closure_message(closure: Closure) -> str:
    if closure.ends_at is None:
        until = "until further notice"
    else:
        until = f"until {format_time(closure.ends_at)}"
    if closure.reason == "other":
        return f"Closed {until}"
    return f"Closed for {closure.reason} {until}"
