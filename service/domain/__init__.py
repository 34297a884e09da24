"""Pure crossing logic: the domain values, condition and opening-hours evaluation, decide()."""

from service.domain.conditions import describe, evaluate, validate_condition
from service.domain.decisions import decide, derive_state
from service.domain.facts import FACTS, validate_fact_value, validate_facts
from service.domain.hours import open_state, validate_opening_hours
from service.domain.model import (
    ACCESS,
    CLOSURE_REASONS,
    MODES,
    REASON_CODES,
    STATES,
    TIME_END,
    TIME_MIN,
    TIME_RANGE_TEXT,
    Checkpoint,
    Closure,
    Decision,
    Reason,
    ResourceRef,
    Rule,
    format_time,
    in_time_range,
)

__all__ = [
    "ACCESS",
    "CLOSURE_REASONS",
    "FACTS",
    "MODES",
    "REASON_CODES",
    "STATES",
    "TIME_END",
    "TIME_MIN",
    "TIME_RANGE_TEXT",
    "Checkpoint",
    "Closure",
    "Decision",
    "Reason",
    "ResourceRef",
    "Rule",
    "decide",
    "derive_state",
    "describe",
    "evaluate",
    "format_time",
    "in_time_range",
    "open_state",
    "validate_condition",
    "validate_fact_value",
    "validate_facts",
    "validate_opening_hours",
]
