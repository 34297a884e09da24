"""The crossing decision: may this mode cross this checkpoint at this instant, and why.

decide() follows the API contract's precedence, first match wins: closure, no rule,
prohibiting rule, opening hours, then the rule's access and condition. derive_state() sums up
four decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from service.domain.conditions import describe, evaluate
from service.domain.hours import open_state
from service.domain.model import (
    MODES,
    TIME_RANGE_TEXT,
    Checkpoint,
    Closure,
    Decision,
    Reason,
    Rule,
    format_time,
    in_time_range,
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
    linear in the history handed in, plus one (cached) opening-hours evaluation. ``at`` must
    lie in the supported range (model.TIME_MIN to TIME_END); a change of opening hours at or
    after TIME_END is not reported, so ``valid_until`` is then null.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    at = to_utc(at, "at")
    if not in_time_range(at):
        raise ValueError(f"at must be {TIME_RANGE_TEXT}; got {format_time(at)}")
    covering, next_closure_edge = _covering_closures(closures, checkpoint.id, mode, at)
    rule, next_rule_edge = _rule_in_force(rules, checkpoint.id, mode, at)
    # The answer can change only at a closure or rule edge, or (from step 4 on) with the hours.
    edge = _earliest(next_closure_edge, next_rule_edge)
    same = {"checkpoint_id": checkpoint.id, "mode": mode, "at": at}

    # 1. Closures in effect that cover the mode.
    if covering:
        covering.sort(key=lambda closure: (closure.starts_at, closure.id))
        reasons = tuple(Reason("closure", _closure_message(c), c.ref) for c in covering)
        return Decision(
            **same, allowed=False, access="prohibited", reasons=reasons, valid_until=edge
        )

    # 2. No rule in force.
    if rule is None:
        reason = Reason("no_rule", f"No rule in force for {mode}", None)
        return Decision(**same, allowed=None, access="unknown", reasons=(reason,), valid_until=edge)

    same["conditions_text"] = rule.conditions_text

    # 3. The rule prohibits the mode.
    if rule.access == "prohibited":
        reason = Reason("rule", f"{_crossing(mode)} is prohibited", rule.ref)
        return Decision(
            **same, allowed=False, access="prohibited", reasons=(reason,), valid_until=edge
        )

    # 4. Opening hours: the rule's own, else the checkpoint's; read in the checkpoint's zone
    # with the public holidays of its operating country.
    if rule.opening_hours is not None:
        hours, hours_owner, whose = rule.opening_hours, rule.ref, "the rule's"
    else:
        hours, hours_owner, whose = checkpoint.opening_hours, checkpoint.ref, "the checkpoint's"
    country = checkpoint.countries[0] if checkpoint.countries else None
    state, hours_change = open_state(hours, checkpoint.timezone, country, at)
    same["valid_until"] = _earliest(edge, hours_change)
    if state == "closed":
        reason = Reason("outside_hours", f"Outside {whose} opening hours ({hours})", hours_owner)
        return Decision(**same, allowed=False, access="prohibited", reasons=(reason,))
    if state == "unknown":
        message = f"{whose.capitalize()} opening hours ({hours}) do not say whether it is open"
        reason = Reason("hours_unknown", message, hours_owner)
        return Decision(**same, allowed=None, access="unknown", reasons=(reason,))

    # 5. The rule's access, and for "restricted" its condition over the facts.
    same["access"] = rule.access
    if rule.access == "allowed" or rule.condition is None:
        if rule.access == "restricted" and rule.conditions_text:
            message = f"{_crossing(mode)} is allowed on the published conditions"
        else:
            message = f"{_crossing(mode)} is allowed"
        return Decision(**same, allowed=True, reasons=(Reason("allowed", message, rule.ref),))
    value, missing = evaluate(rule.condition, facts)
    condition = describe(rule.condition)
    if value is True:
        reason = Reason("condition_met", f"Condition met: {condition}", rule.ref)
        return Decision(**same, allowed=True, reasons=(reason,))
    if value is False:
        reason = Reason("condition_not_met", f"Condition not met: {condition}", rule.ref)
        return Decision(**same, allowed=False, reasons=(reason,))
    needed = tuple(sorted(missing))
    message = f"Facts needed ({', '.join(needed)}) for the condition: {condition}"
    reason = Reason("facts_needed", message, rule.ref)
    return Decision(**same, allowed=None, reasons=(reason,), missing_facts=needed)


def _covering_closures(
    closures: Iterable[Closure], checkpoint_id: str, mode: str, at: datetime
) -> tuple[list[Closure], datetime | None]:
    """The closures of the mode in effect at ``at``, and the next start or end of one."""
    covering = []
    edge = None
    for closure in closures:
        if mode not in closure.modes or closure.checkpoint_id != checkpoint_id:
            continue
        if closure.starts_at > at:
            later = closure.starts_at
        elif closure.ends_at is None:
            covering.append(closure)
            continue
        elif closure.ends_at > at:
            covering.append(closure)
            later = closure.ends_at
        else:
            continue
        if edge is None or later < edge:
            edge = later
    return covering, edge


def _rule_in_force(
    rules: Iterable[Rule], checkpoint_id: str, mode: str, at: datetime
) -> tuple[Rule | None, datetime | None]:
    """The mode's rule in force at ``at`` (or None), and the next start or end of one."""
    in_force = None
    edge = None
    for rule in rules:
        if rule.mode != mode or rule.checkpoint_id != checkpoint_id:
            continue
        if rule.valid_from > at:
            later = rule.valid_from
        elif rule.valid_until is None or rule.valid_until > at:
            # Rules of one mode never overlap; should two, the one that began last wins.
            if in_force is None or (rule.valid_from, rule.id) > (in_force.valid_from, in_force.id):
                in_force = rule
            if rule.valid_until is None:
                continue
            later = rule.valid_until
        else:
            continue
        if edge is None or later < edge:
            edge = later
    return in_force, edge


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


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
