"""Conditions: validation paths, Kleene three-valued evaluation, and their English rendering."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.conditions import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_VALUES,
    describe,
    evaluate,
    validate_condition,
)
from service.domain.facts import FACTS
from tests.properties import examples

BY_CARS = {
    "not": {
        "all": [
            {"fact": "direction", "in": ["entry"]},
            {"fact": "vehicle_registration", "in": ["BY"]},
        ]
    }
}
FEW_TRAVELLERS = {"fact": "traveller_category", "in": ["diplomat", "kaliningrad_transit"]}
ENTRY = {"fact": "direction", "in": ["entry"]}


def nested_not(depth: int) -> dict:
    """A chain of `depth` nodes: depth - 1 "not"s around a leaf."""
    node: dict = ENTRY
    for _ in range(depth - 1):
        node = {"not": node}
    return node


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param(BY_CARS, id="belarusian-cars-may-not-enter"),
        pytest.param(FEW_TRAVELLERS, id="only-some-travellers"),
        pytest.param({"fact": "nationality", "not_in": ["BY", "RU"]}, id="not-in"),
        pytest.param(
            {"any": [ENTRY, {"fact": "vehicle_category", "in": ["car", "bus"]}]}, id="any"
        ),
        pytest.param(nested_not(MAX_DEPTH), id="deepest-allowed"),
        pytest.param({"any": [ENTRY] * (MAX_NODES - 1)}, id="most-nodes-allowed"),
        pytest.param({"fact": "traveller_category", "in": ["x"] * MAX_VALUES}, id="longest-list"),
    ],
)
def test_valid_conditions(expr):
    assert validate_condition(expr) == {}


@pytest.mark.parametrize(
    ("expr", "errors"),
    [
        pytest.param([], {"": ["Must be an object."]}, id="root-not-an-object"),
        pytest.param(
            {},
            {"": ["Must be one of {fact, in}, {fact, not_in}, {all}, {any} or {not}."]},
            id="empty-object",
        ),
        pytest.param(
            {"every": [ENTRY]},
            {"": ["Must be one of {fact, in}, {fact, not_in}, {all}, {any} or {not}."]},
            id="unknown-operator",
        ),
        pytest.param(
            {"all": [ENTRY], "any": [ENTRY]},
            {"": ["Must have exactly one of 'all', 'any' or 'not'."]},
            id="two-operators",
        ),
        pytest.param(
            {"all": [ENTRY], "note": "x"}, {"note": ["Unknown field."]}, id="extra-key-on-all"
        ),
        pytest.param({"all": []}, {"all": ["Must not be empty."]}, id="empty-all"),
        pytest.param({"any": []}, {"any": ["Must not be empty."]}, id="empty-any"),
        pytest.param({"any": ENTRY}, {"any": ["Must be a list."]}, id="any-not-a-list"),
        pytest.param({"not": [ENTRY]}, {"not": ["Must be an object."]}, id="not-of-a-list"),
        pytest.param({"all": [ENTRY, "entry"]}, {"all.1": ["Must be an object."]}, id="bad-child"),
        pytest.param(
            {"all": [ENTRY, {"fact": "colour", "in": ["red"]}]},
            {"all.1.fact": [f"Unknown fact. Must be one of: {', '.join(FACTS)}."]},
            id="unknown-fact",
        ),
        pytest.param(
            {"fact": 7, "in": ["entry"]}, {"fact": ["Must be a string."]}, id="fact-not-a-string"
        ),
        pytest.param(
            {"in": ["entry"]}, {"fact": ["Missing data for required field."]}, id="missing-fact"
        ),
        pytest.param({"fact": "direction"}, {"": ["Missing 'in' or 'not_in'."]}, id="no-values"),
        pytest.param(
            {"fact": "direction", "in": ["entry"], "not_in": ["exit"]},
            {"": ["Must have either 'in' or 'not_in', not both."]},
            id="in-and-not-in",
        ),
        pytest.param(
            {"fact": "direction", "in": ["entry"], "all": [ENTRY]},
            {"all": ["Unknown field."]},
            id="leaf-with-operator",
        ),
        pytest.param(
            {"fact": "direction", "in": []}, {"in": ["Must not be empty."]}, id="empty-in"
        ),
        pytest.param(
            {"fact": "direction", "in": "entry"}, {"in": ["Must be a list."]}, id="in-a-string"
        ),
        pytest.param(
            {"not": {"fact": "direction", "in": ["in"]}},
            {"not.in.0": ["Must be one of: entry, exit."]},
            id="bad-direction-under-not",
        ),
        pytest.param(
            {"any": [{"fact": "nationality", "not_in": ["LT", "XX", "lt", 5]}]},
            {
                "any.0.not_in.1": ["XX is not an ISO 3166-1 alpha-2 country code."],
                "any.0.not_in.2": ["Must be an upper-case ISO 3166-1 alpha-2 country code (LT)."],
                "any.0.not_in.3": ["Must be a string."],
            },
            id="bad-country-codes",
        ),
        pytest.param(
            {"fact": "vehicle_category", "in": ["tank"]},
            {"in.0": ["Must be one of: car, motorcycle, moped, bus, van, truck, other."]},
            id="bad-vehicle-category",
        ),
        pytest.param(
            {"fact": "traveller_category", "in": ["Diplomat"]},
            {
                "in.0": [
                    "Must be a slug: a lower-case letter or digit, then up to 62 lower-case "
                    "letters, digits, '_' or '-'."
                ]
            },
            id="bad-traveller-category",
        ),
        pytest.param(
            {"fact": "colour", "in": ["red", 1]},
            {
                "fact": [f"Unknown fact. Must be one of: {', '.join(FACTS)}."],
                "in.1": ["Must be a string."],
            },
            id="unknown-fact-values-still-typed",
        ),
        pytest.param(
            {"fact": "traveller_category", "in": ["x"] * (MAX_VALUES + 1)},
            {"in": [f"Must have at most {MAX_VALUES} values."]},
            id="list-too-long",
        ),
        pytest.param(
            nested_not(MAX_DEPTH + 1),
            {
                ".".join(["not"] * MAX_DEPTH): [
                    "Nested too deeply: a condition has at most 16 levels."
                ]
            },
            id="too-deep",
        ),
        pytest.param(
            {"any": [ENTRY] * MAX_NODES},
            {"": [f"Too many nodes: a condition has at most {MAX_NODES}."]},
            id="too-many-nodes",
        ),
        pytest.param(
            {"all": [{"all": [ENTRY, {"fact": "direction", "in": ["entry"], "x": 1}]}]},
            {"all.0.all.1.x": ["Unknown field."]},
            id="extra-key-deep-inside",
        ),
        pytest.param(
            {"not": {"any": [ENTRY], "x": 1}},
            {"not.x": ["Unknown field."]},
            id="extra-key-beside-a-nested-combinator",
        ),
    ],
)
def test_invalid_conditions(expr, errors):
    assert validate_condition(expr) == errors


def test_huge_condition_is_rejected_without_walking_it():
    assert validate_condition({"any": [ENTRY] * 100_000}) == {
        "": [f"Too many nodes: a condition has at most {MAX_NODES}."]
    }


def leaf(fact: str, value: str) -> dict:
    return {"fact": fact, "in": [value]}


TRUE = leaf("direction", "entry")
FALSE = leaf("nationality", "LT")
UNKNOWN = leaf("vehicle_category", "car")
FACTS_GIVEN = {"direction": "entry", "nationality": "BY"}


@pytest.mark.parametrize(
    ("expr", "value", "missing"),
    [
        pytest.param(TRUE, True, set(), id="leaf-true"),
        pytest.param(FALSE, False, set(), id="leaf-false"),
        pytest.param(UNKNOWN, None, {"vehicle_category"}, id="leaf-unknown"),
        pytest.param({"fact": "nationality", "not_in": ["LT"]}, True, set(), id="not-in-true"),
        pytest.param({"fact": "direction", "not_in": ["entry"]}, False, set(), id="not-in-false"),
        pytest.param({"not": TRUE}, False, set(), id="not-true"),
        pytest.param({"not": UNKNOWN}, None, {"vehicle_category"}, id="not-unknown"),
        pytest.param({"all": [TRUE, TRUE]}, True, set(), id="all-true"),
        pytest.param({"all": [TRUE, UNKNOWN]}, None, {"vehicle_category"}, id="all-true-unknown"),
        pytest.param({"all": [UNKNOWN, FALSE]}, False, set(), id="all-false-beats-unknown"),
        pytest.param({"any": [FALSE, FALSE]}, False, set(), id="any-false"),
        pytest.param({"any": [FALSE, UNKNOWN]}, None, {"vehicle_category"}, id="any-false-unknown"),
        pytest.param({"any": [UNKNOWN, TRUE]}, True, set(), id="any-true-beats-unknown"),
        pytest.param(
            {"any": [UNKNOWN, leaf("traveller_category", "diplomat"), FALSE]},
            None,
            {"vehicle_category", "traveller_category"},
            id="missing-facts-collected",
        ),
    ],
)
def test_kleene_evaluation(expr, value, missing):
    assert evaluate(expr, FACTS_GIVEN) == (value, frozenset(missing))


def test_a_fact_given_as_none_is_absent():
    assert evaluate(TRUE, {"direction": None}) == (None, frozenset({"direction"}))


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        pytest.param(BY_CARS, "not (direction is entry and vehicle_registration is BY)", id="not"),
        pytest.param(
            FEW_TRAVELLERS, "traveller_category is one of diplomat, kaliningrad_transit", id="in"
        ),
        pytest.param({"fact": "nationality", "not_in": ["BY"]}, "nationality is not BY", id="ni"),
        pytest.param(
            {"fact": "nationality", "not_in": ["BY", "RU"]},
            "nationality is none of BY, RU",
            id="not-in-many",
        ),
        pytest.param(
            {"any": [TRUE, {"all": [FALSE, UNKNOWN]}]},
            "direction is entry or (nationality is LT and vehicle_category is car)",
            id="nested",
        ),
        pytest.param({"all": [TRUE]}, "direction is entry", id="single-child"),
        pytest.param(
            {"any": [TRUE, {"all": [{"all": [FALSE, UNKNOWN]}]}]},
            "direction is entry or (nationality is LT and vehicle_category is car)",
            id="single-child-keeps-its-brackets",
        ),
    ],
)
def test_describe(expr, text):
    assert describe(expr) == text


# Three-valued laws over generated conditions -------------------------------------------------

VALUES = {
    "direction": ["entry", "exit"],
    "nationality": ["LT", "BY", "PL"],
    "vehicle_registration": ["LT", "BY"],
    "vehicle_category": ["car", "bus", "truck"],
    "traveller_category": ["diplomat", "kaliningrad_transit", "tourist"],
}


@st.composite
def leaves(draw):
    fact = draw(st.sampled_from(FACTS))
    operator = draw(st.sampled_from(["in", "not_in"]))
    values = draw(st.lists(st.sampled_from(VALUES[fact]), min_size=1, max_size=2, unique=True))
    return {"fact": fact, operator: values}


conditions = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"any": items}),
        children.map(lambda child: {"not": child}),
    ),
    max_leaves=10,
)
facts = st.fixed_dictionaries(
    {}, optional={fact: st.sampled_from(values) for fact, values in VALUES.items()}
)
complete_facts = st.fixed_dictionaries(
    {fact: st.sampled_from(values) for fact, values in VALUES.items()}
)
PROPERTY = settings(max_examples=examples(300), deadline=None, database=None)


def facts_in(expr) -> set[str]:
    if "fact" in expr:
        return {expr["fact"]}
    if "not" in expr:
        return facts_in(expr["not"])
    return set().union(*(facts_in(child) for child in expr.get("all", expr.get("any"))))


@PROPERTY
@given(conditions)
def test_generated_conditions_are_valid(expr):
    assert validate_condition(expr) == {}


@PROPERTY
@given(conditions, facts)
def test_double_negation(expr, given_facts):
    assert evaluate({"not": {"not": expr}}, given_facts) == evaluate(expr, given_facts)


@PROPERTY
@given(st.lists(conditions, min_size=1, max_size=3), facts)
def test_de_morgan(children, given_facts):
    negated = [{"not": child} for child in children]
    assert evaluate({"not": {"all": children}}, given_facts) == evaluate(
        {"any": negated}, given_facts
    )
    assert evaluate({"not": {"any": children}}, given_facts) == evaluate(
        {"all": negated}, given_facts
    )


@PROPERTY
@given(conditions)
def test_unknown_propagates_when_no_fact_is_given(expr):
    assert evaluate(expr, {}) == (None, frozenset(facts_in(expr)))


@PROPERTY
@given(conditions, facts, complete_facts)
def test_kleene_answers_agree_with_every_completion(expr, given_facts, filler):
    """A decided answer never changes when more facts are stated; an undecided one names
    exactly facts that are absent, and stating them decides it."""
    value, missing = evaluate(expr, given_facts)
    completed = {**filler, **given_facts}
    complete_value, complete_missing = evaluate(expr, completed)
    assert complete_value is not None and complete_missing == frozenset()
    if value is None:
        assert missing
        assert missing <= facts_in(expr) - set(given_facts)
        supplied = {**given_facts, **{fact: filler[fact] for fact in missing}}
        assert evaluate(expr, supplied)[0] is not None
    else:
        assert missing == frozenset()
        assert complete_value is value


@PROPERTY
@given(conditions, facts)
def test_evaluate_matches_a_reference_kleene_evaluator(expr, given_facts):
    def reference(node):
        if "fact" in node:
            if node["fact"] not in given_facts:
                return None
            hit = given_facts[node["fact"]] in node.get("in", node.get("not_in"))
            return hit if "in" in node else not hit
        if "not" in node:
            inner = reference(node["not"])
            return None if inner is None else not inner
        values = [reference(child) for child in node.get("all", node.get("any"))]
        dominant = "any" in node  # False decides an "all", True decides an "any"
        if dominant in values:
            return dominant
        return None if None in values else not dominant

    assert evaluate(expr, given_facts)[0] is reference(expr)


def test_evaluating_what_is_not_a_condition_says_so():
    with pytest.raises(ValueError) as refused:
        evaluate({"x": 1}, {})
    assert str(refused.value) == "not a condition: {'x': 1}"
