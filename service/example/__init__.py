"""The bundled example: the six Lithuania–Belarus road border points and their 2023–2025
timeline of rules and closures, written through the normal write path in the order of the
announcements, so that revision history and the change feed tell the story."""

from __future__ import annotations

from service.storage import Store

from .data import CHECKPOINTS, TIMELINE
from .timeline import ACTOR, Loader

__all__ = ["ACTOR", "CHECKPOINTS", "TIMELINE", "load"]


def load(store: Store) -> int:
    """Write the example through the normal write path, in time order; return the writes."""
    return Loader(store, ACTOR).apply_steps(TIMELINE)
