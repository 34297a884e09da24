"""Conditions over a traveller's facts: validation, three-valued evaluation and wording.

A condition is one of ``{"fact": F, "in": [...]}``, ``{"fact": F, "not_in": [...]}``,
``{"all": [...]}``, ``{"any": [...]}`` or ``{"not": {...}}``. It is evaluated in Kleene's
three-valued logic: a fact the traveller did not state makes its leaf unknown (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.domain.facts import FACTS, validate_fact_value

MAX_DEPTH = 16
MAX_NODES = 200
MAX_VALUES = 300

LEAF_OPERATORS = ("in", "not_in")
COMBINATORS = ("all", "any", "not")
_NO_FACTS: frozenset[str] = frozenset()


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


class _Validator:
    """Walks one condition, collecting errors by dotted path and counting nodes."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.nodes = 0

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def node(self, node: object, path: str, depth: int) -> None:
        if self.nodes == MAX_NODES:
            self.nodes += 1
            self.add("", f"Too many nodes: a condition has at most {MAX_NODES}.")
        if self.nodes > MAX_NODES:
            return
        self.nodes += 1
        if depth > MAX_DEPTH:
            self.add(path, f"Nested too deeply: a condition has at most {MAX_DEPTH} levels.")
            return
        if not isinstance(node, Mapping):
            self.add(path, "Must be an object.")
            return
        if "fact" in node or any(op in node for op in LEAF_OPERATORS):
            self.leaf(node, path)
            return
        present = [op for op in COMBINATORS if op in node]
        if not present:
            self.add(
                path,
                "Must be one of {fact, in}, {fact, not_in}, {all}, {any} or {not}.",
            )
            return
        if len(present) > 1:
            self.add(path, "Must have exactly one of 'all', 'any' or 'not'.")
            return
        operator = present[0]
        self.unknown_keys(node, path, (operator,))
        operand = node[operator]
        operand_path = _join(path, operator)
        if operator == "not":
            self.node(operand, operand_path, depth + 1)
            return
        if not isinstance(operand, list | tuple):
            self.add(operand_path, "Must be a list.")
        elif not operand:
            self.add(operand_path, "Must not be empty.")
        else:
            for index, child in enumerate(operand):
                if self.nodes > MAX_NODES:
                    break
                self.node(child, _join(operand_path, index), depth + 1)

    def leaf(self, node: Mapping, path: str) -> None:
        self.unknown_keys(node, path, ("fact", *LEAF_OPERATORS))
        fact = node.get("fact")
        fact_path = _join(path, "fact")
        known_fact = False
        if "fact" not in node:
            self.add(fact_path, "Missing data for required field.")
        elif not isinstance(fact, str):
            self.add(fact_path, "Must be a string.")
        elif fact not in FACTS:
            self.add(fact_path, f"Unknown fact. Must be one of: {', '.join(FACTS)}.")
        else:
            known_fact = True
        present = [op for op in LEAF_OPERATORS if op in node]
        if not present:
            self.add(path, "Missing 'in' or 'not_in'.")
            return
        if len(present) > 1:
            self.add(path, "Must have either 'in' or 'not_in', not both.")
            return
        values_path = _join(path, present[0])
        values = node[present[0]]
        if not isinstance(values, list | tuple):
            self.add(values_path, "Must be a list.")
        elif not values:
            self.add(values_path, "Must not be empty.")
        elif len(values) > MAX_VALUES:
            self.add(values_path, f"Must have at most {MAX_VALUES} values.")
        else:
            for index, value in enumerate(values):
                if known_fact:
                    message = validate_fact_value(fact, value)
                else:
                    message = None if isinstance(value, str) else "Must be a string."
                if message is not None:
                    self.add(_join(values_path, index), message)

    def unknown_keys(self, node: Mapping, path: str, allowed: tuple[str, ...]) -> None:
        for key in node:
            if key not in allowed:
                self.add(_join(path, key), "Unknown field.")


def validate_condition(expr: object) -> dict[str, list[str]]:
    """Errors keyed by dotted path from the condition's root ("" is the root itself)."""
    validator = _Validator()
    validator.node(expr, "", 1)
    return validator.errors


def evaluate(expr: Mapping, facts: Mapping[str, Any]) -> tuple[bool | None, frozenset[str]]:
    """Evaluate a valid condition over the stated facts in three-valued logic.

    Returns the value (None when undecidable) and the facts whose absence made it so
    (empty whenever the value is True or False). A fact mapped to None counts as absent.
    """
    if "fact" in expr:
        fact = expr["fact"]
        value = facts.get(fact)
        if value is None:
            return None, frozenset((fact,))
        if "in" in expr:
            return value in expr["in"], _NO_FACTS
        return value not in expr["not_in"], _NO_FACTS
    if "all" in expr or "any" in expr:
        # all: False wins, else unknown wins, else True; any is its dual.
        deciding = "all" not in expr
        unknown = False
        missing: set[str] = set()
        for child in expr["any" if deciding else "all"]:
            value, child_missing = evaluate(child, facts)
            if value is deciding:
                return deciding, _NO_FACTS
            if value is None:
                unknown = True
                missing |= child_missing
        if unknown:
            return None, frozenset(missing)
        return not deciding, _NO_FACTS
    if "not" in expr:
        value, missing = evaluate(expr["not"], facts)
        return (None if value is None else not value), missing
    raise ValueError(f"not a condition: {expr!r}")


def describe(expr: Mapping) -> str:
    """A short English rendering, e.g. ``not (direction is entry and nationality is BY)``."""
    return _describe(expr, nested=False)


def _describe(expr: Mapping, *, nested: bool) -> str:
    if "fact" in expr:
        fact = expr["fact"]
        if "in" in expr:
            values = list(expr["in"])
            verb = "is" if len(values) == 1 else "is one of"
        else:
            values = list(expr["not_in"])
            verb = "is not" if len(values) == 1 else "is none of"
        return f"{fact} {verb} {', '.join(str(value) for value in values)}"
    if "not" in expr:
        return f"not ({_describe(expr['not'], nested=False)})"
    operator = "all" if "all" in expr else "any"
    children = expr[operator]
    if len(children) == 1:
        return _describe(children[0], nested=nested)
    joiner = " and " if operator == "all" else " or "
    text = joiner.join(_describe(child, nested=True) for child in children)
    return f"({text})" if nested else text
