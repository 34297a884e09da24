"""The facts a traveller may state when asking for a decision, and their validation."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

import pycountry

DIRECTIONS = ("entry", "exit")
VEHICLE_CATEGORIES = ("car", "motorcycle", "moped", "bus", "van", "truck", "other")
# As a JSON Schema / OpenAPI pattern; Python matches it with fullmatch (a "$" would let "\n" in).
TRAVELLER_CATEGORY_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$"
_TRAVELLER_CATEGORY = re.compile(TRAVELLER_CATEGORY_PATTERN[1:-1])
_UPPER_ALPHA_2 = re.compile("[A-Z]{2}")

FACTS = (
    "direction",
    "nationality",
    "vehicle_registration",
    "vehicle_category",
    "traveller_category",
)


@functools.cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code pycountry knows."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


def validate_country_code(value: object) -> str | None:
    """None for a real upper-case ISO 3166-1 alpha-2 code, else an error message."""
    if not isinstance(value, str):
        return "Must be a string."
    if _UPPER_ALPHA_2.fullmatch(value) is None:
        if value.upper() in country_codes():
            return f"Must be an upper-case ISO 3166-1 alpha-2 country code ({value.upper()})."
        return "Must be an ISO 3166-1 alpha-2 country code."
    if value not in country_codes():
        return f"{value} is not an ISO 3166-1 alpha-2 country code."
    return None


def _one_of(value: str, choices: tuple[str, ...]) -> str | None:
    return None if value in choices else f"Must be one of: {', '.join(choices)}."


def validate_fact_value(fact: str, value: object) -> str | None:
    """None when ``value`` is a valid value of ``fact``, else a one-line error message."""
    if fact not in FACTS:
        return "Unknown fact."
    if not isinstance(value, str):
        return "Must be a string."
    if fact == "direction":
        return _one_of(value, DIRECTIONS)
    if fact == "vehicle_category":
        return _one_of(value, VEHICLE_CATEGORIES)
    if fact == "traveller_category":
        if _TRAVELLER_CATEGORY.fullmatch(value) is None:
            return (
                "Must be a slug: a lower-case letter or digit, then up to 62 lower-case "
                "letters, digits, '_' or '-'."
            )
        return None
    return validate_country_code(value)


def validate_facts(facts: object) -> dict[str, list[str]]:
    """Errors keyed by fact name (empty when every fact is known and has a valid value)."""
    if not isinstance(facts, Mapping):
        return {"": ["Must be an object."]}
    errors: dict[str, list[str]] = {}
    for fact, value in facts.items():
        message = validate_fact_value(fact, value)
        if message is not None:
            errors[str(fact)] = [message]
    return errors
