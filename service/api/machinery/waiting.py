"""Requests that wait for the feed (long-polls, event streams): how they notice new events
from any worker process, how many one worker holds, and how they end on shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, current_app

from service.storage import Store

from .errors import Problem

#: Set when this worker process is shutting down: waits and streams end at once.
shutting_down = threading.Event()


class _Slots:
    """A per-process bound on held-open requests (a plain counter under a lock)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.held >= self.limit:
                return False
            self.held += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.held -= 1


def _slots() -> _Slots:
    return current_app.extensions["checkpoints.held"]


def take_slot() -> Callable[[], None]:
    """Reserve a held-open slot or answer 503; returns the function that frees it."""
    slots = _slots()
    if not slots.acquire():
        raise Problem(
            503,
            f"This server holds {slots.limit} waiting requests already; retry shortly.",
            kind="too-many-waiting",
            headers={"Retry-After": "2"},
        )
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            slots.release()

    return release


@contextmanager
def held_slot() -> Iterator[None]:
    release = take_slot()
    try:
        yield
    finally:
        release()


def wait_for(store: Store, after: int, timeout: float) -> bool:
    """Wait until the feed passes ``after`` (True), or timeout or shutdown (False).

    A commit may come from another worker process or another host: the store says how it
    is noticed (SQLite: one indexed single-row read per poll interval; PostgreSQL: a
    notification sent with the commit).
    """
    if shutting_down.is_set():
        return store.feed_position() > after
    return store.wait_for_change(after, timeout, shutting_down)


def init_app(app: Flask) -> None:
    app.extensions["checkpoints.held"] = _Slots(app.config["CHECKPOINTS"].max_held_requests)
