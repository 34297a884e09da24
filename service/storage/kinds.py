"""The resource kinds the versioning machinery stores, and the columns each one indexes.

Written once for every backend: a kind names its table and derives its indexed columns
from the resource's public representation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .search import search_text
from .times import parse_stamp, to_stamp


def stamp(value: str | None) -> str | None:
    """A resource's RFC 3339 time as a storage timestamp (None stays None)."""
    return None if value is None else to_stamp(parse_stamp(value))


@dataclass(frozen=True)
class Kind:
    """One kind of versioned resource."""

    name: str
    table: str
    #: Columns, besides the common ones, derived from the resource for filtering.
    columns: Callable[[Mapping[str, Any]], dict[str, Any]]

    def checkpoint_id(self, resource: Mapping[str, Any]) -> str:
        return resource["id"] if self.name == "checkpoint" else resource["checkpoint_id"]


def _checkpoint_columns(resource: Mapping[str, Any]) -> dict[str, Any]:
    local_names = resource.get("local_names") or {}
    return {
        "search": search_text(
            [resource["name"], resource.get("counterpart"), *local_names.values()]
        ),
        "country_a": resource["countries"][0],
        "country_b": resource["countries"][1],
        "kind": resource["kind"],
    }


def _rule_columns(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "mode": resource["mode"],
        "valid_from": stamp(resource["valid_from"]),
        "valid_until": stamp(resource.get("valid_until")),
    }


def _closure_columns(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "starts_at": stamp(resource["starts_at"]),
        "ends_at": stamp(resource.get("ends_at")),
        "reason": resource["reason"],
        # Delimited so that one mode is found with LIKE '%,mode,%'.
        "modes": "," + ",".join(resource["modes"]) + ",",
    }


KINDS: dict[str, Kind] = {
    "checkpoint": Kind("checkpoint", "checkpoints", _checkpoint_columns),
    "rule": Kind("rule", "rules", _rule_columns),
    "closure": Kind("closure", "closures", _closure_columns),
}
