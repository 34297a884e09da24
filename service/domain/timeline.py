"""A mode's decisions over a range of instants, as intervals: walked from each decision's
``valid_until`` to the next (the instants where the answer can change), never sampled."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.domain.decisions import decide
from service.domain.model import Checkpoint, Closure, Decision, Rule, format_time


class TooManyIntervals(ValueError):
    """The answer could change more often in the range than the caller allows."""


@dataclass(frozen=True)
class Interval:
    """One answer, holding from ``start`` up to (not including) ``end``."""

    start: datetime
    end: datetime
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        """The interval's JSON shape: its bounds and the decision's answer and reasons."""
        answer = self.decision.to_dict()
        for name in ("checkpoint_id", "mode", "at", "valid_until"):
            del answer[name]
        return {"from": format_time(self.start), "until": format_time(self.end), **answer}


def _answer(decision: Decision) -> tuple:
    return (
        decision.allowed,
        decision.access,
        decision.reasons,
        decision.conditions_text,
        decision.missing_facts,
    )


def walk(
    *,
    checkpoint: Checkpoint,
    rules: Iterable[Rule],
    closures: Iterable[Closure],
    mode: str,
    start: datetime,
    end: datetime,
    facts: Mapping[str, str],
    max_steps: int,
) -> list[Interval]:
    """The decisions for ``mode`` from ``start`` up to ``end``, as consecutive intervals that
    cover the range exactly; neighbours with the same answer (and reasons) are merged.
    Raises TooManyIntervals when the answer could change more than ``max_steps`` times."""
    if end <= start:
        raise ValueError("the range is empty: its end must come after its start")
    rules, closures = list(rules), list(closures)
    intervals: list[Interval] = []
    at, steps = start, 0
    while at < end:
        steps += 1
        if steps > max_steps:
            raise TooManyIntervals(
                f"the answer for {mode} could change more than {max_steps} times in the range"
            )
        decision = decide(
            checkpoint=checkpoint, rules=rules, closures=closures, mode=mode, at=at, facts=facts
        )
        until = end if decision.valid_until is None else min(decision.valid_until, end)
        if intervals and _answer(intervals[-1].decision) == _answer(decision):
            intervals[-1] = Interval(intervals[-1].start, until, intervals[-1].decision)
        else:
            intervals.append(Interval(at, until, decision))
        at = until
    return intervals
