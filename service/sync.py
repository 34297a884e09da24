"""The reference sync client: mirrors another deployment into a local database through its
public API only (snapshot, then the change feed), resuming where it stopped."""

from __future__ import annotations

import json
import logging
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .storage import Store

log = logging.getLogger(__name__)

PAGE = 1000
WAIT = 25


class SourceError(Exception):
    """The source answered with an error that retrying will not fix."""


class Gone(Exception):
    """The source no longer retains the events after our position (HTTP 410)."""


class Ahead(Exception):
    """Our position lies beyond the source's newest event (HTTP 409 feed-position-ahead): the
    source was reset or restored, so the history we copied is not its history."""


_AHEAD = "urn:checkpoints:problem:feed-position-ahead"


class Stopped(Exception):
    """A stop was asked for (SIGTERM or SIGINT) while the mirror waited on the source."""


class StopSignal:
    """SIGTERM and SIGINT ask the mirror to stop. A request to the source in progress (a
    long-poll waits up to 25 s) is cut at once: while it runs no transaction is open, so
    nothing is half-written; anywhere else the mirror stops at its next step."""

    def __init__(self) -> None:
        self.asked = False
        self._waiting = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        self.asked = True
        if self._waiting:
            raise Stopped()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a request to the source: a stop asked for meanwhile interrupts it."""
        self._waiting = True
        try:
            if self.asked:
                raise Stopped()
            yield
        finally:
            self._waiting = False


def _get(url: str, *, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 410:
            raise Gone() from exc
        if exc.code == 409 and _problem_type(exc) == _AHEAD:
            raise Ahead() from exc
        if exc.code < 500 and exc.code != 429:
            raise SourceError(f"{url}: HTTP {exc.code}") from exc
        raise


def _problem_type(error: urllib.error.HTTPError) -> str | None:
    try:
        return json.loads(error.read(65536)).get("type")
    except (ValueError, AttributeError, OSError):
        return None


class Mirror:
    """A local database kept equal to ``source`` (a base URL such as http://host:8000)."""

    def __init__(
        self, source: str, store: Store, *, timeout: float = 60.0, stop: StopSignal | None = None
    ):
        self.source = source.rstrip("/")
        self.store = store
        self.timeout = timeout
        self.stop = stop or StopSignal()

    def snapshot(self, *, replace_history: bool = False) -> int:
        """Replace the mirror's content with a fresh snapshot; return its seq. With
        ``replace_history``, the revisions copied so far are dropped too (the source's
        history is no longer the one they came from)."""
        with self.stop.waiting():
            snapshot = _get(f"{self.source}/v1/snapshot", timeout=self.timeout)
        self.store.load_snapshot(
            source=self.source, snapshot=snapshot, replace_history=replace_history
        )
        log.info("snapshot at seq %s", snapshot["seq"])
        return snapshot["seq"]

    def step(self, *, wait: int = 0) -> tuple[int, bool]:
        """Apply one page of events; return the position and whether more are waiting."""
        position = self.store.sync_position(source=self.source)
        if position is None:
            return self.snapshot(), True
        query = urllib.parse.urlencode({"after": position, "limit": PAGE, "wait": wait})
        try:
            with self.stop.waiting():
                page = _get(f"{self.source}/v1/changes?{query}", timeout=self.timeout + wait)
        except Gone:
            log.warning("events after %s are gone at the source: re-snapshotting", position)
            return self.snapshot(), True
        except Ahead:
            log.warning(
                "the source's feed ends before our position %s (reset or restored): "
                "re-snapshotting and dropping the history copied from it",
                position,
            )
            return self.snapshot(replace_history=True), True
        position = self.store.apply_changes(source=self.source, changes=page["changes"])
        return position, page["has_more"]

    def catch_up(self) -> int:
        """Apply everything the source has now; return the position."""
        while True:
            position, more = self.step()
            if not more:
                return position

    def follow(self, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Catch up, then long-poll for new events until ``should_stop()`` or a stop signal
        (``self.stop``)."""
        delay = 1.0
        while not (should_stop() or self.stop.asked):
            try:
                self.step(wait=WAIT)
                delay = 1.0
            except Stopped:
                return
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                log.warning("source unreachable (%s); retrying in %.0f s", exc, delay)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline and not self.stop.asked:
                    time.sleep(0.1)
                delay = min(delay * 2, 60.0)
