"""The fact vocabulary a traveller may state."""

import pytest

from service.domain.facts import FACTS, validate_country_code, validate_fact_value, validate_facts

SLUG = (
    "Must be a slug: a lower-case letter or digit, then up to 62 lower-case letters, digits, "
    "'_' or '-'."
)


def test_the_five_facts():
    assert FACTS == (
        "direction",
        "nationality",
        "vehicle_registration",
        "vehicle_category",
        "traveller_category",
    )


@pytest.mark.parametrize(
    ("fact", "value", "message"),
    [
        pytest.param("direction", "entry", None, id="entry"),
        pytest.param("direction", "exit", None, id="exit"),
        pytest.param("direction", "in", "Must be one of: entry, exit.", id="bad-direction"),
        pytest.param("nationality", "LT", None, id="lithuanian"),
        pytest.param("nationality", "BY", None, id="belarusian"),
        pytest.param("nationality", "XX", "XX is not an ISO 3166-1 alpha-2 country code.", id="xx"),
        pytest.param(
            "nationality",
            "lt",
            "Must be an upper-case ISO 3166-1 alpha-2 country code (LT).",
            id="lower-case",
        ),
        pytest.param(
            "vehicle_registration",
            "LTU",
            "Must be an ISO 3166-1 alpha-2 country code.",
            id="alpha3",
        ),
        pytest.param("vehicle_registration", "PL", None, id="polish-plates"),
        pytest.param("vehicle_category", "car", None, id="car"),
        pytest.param(
            "vehicle_category",
            "tractor",
            "Must be one of: car, motorcycle, moped, bus, van, truck, other.",
            id="bad-vehicle",
        ),
        pytest.param("traveller_category", "kaliningrad_transit", None, id="slug"),
        pytest.param("traveller_category", "eu-family-2", None, id="slug-with-dash-digit"),
        pytest.param("traveller_category", "x" * 63, None, id="longest-slug"),
        pytest.param("traveller_category", "x" * 64, SLUG, id="slug-too-long"),
        pytest.param("traveller_category", "_x", SLUG, id="slug-leading-underscore"),
        pytest.param("traveller_category", "diplomat\n", SLUG, id="slug-trailing-newline"),
        pytest.param("traveller_category", "", SLUG, id="empty-slug"),
        pytest.param("direction", 1, "Must be a string.", id="not-a-string"),
        pytest.param("colour", "red", "Unknown fact.", id="unknown-fact"),
    ],
)
def test_validate_fact_value(fact, value, message):
    assert validate_fact_value(fact, value) == message


def test_validate_facts_keys_errors_by_fact():
    assert validate_facts({"direction": "entry", "nationality": "XX", "mood": "good"}) == {
        "nationality": ["XX is not an ISO 3166-1 alpha-2 country code."],
        "mood": ["Unknown fact."],
    }
    assert validate_facts({}) == {}
    assert validate_facts(["direction"]) == {"": ["Must be an object."]}


def test_a_country_code_must_be_a_string():
    assert validate_country_code(5) == "Must be a string."
    assert validate_country_code(None) == "Must be a string."
