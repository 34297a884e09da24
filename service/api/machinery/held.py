"""Held answers: a read whose answer depends only on the stored resources (the feed position)
— and, for an answer about now, on the time until it could change — is answered again from
the bytes and headers its view answered with, before its query is even parsed.

An operation declares it once (``holds_answers`` on its view) and its view says, per answer,
whether that answer may be held (``hold``). The answers are held with the decision inputs of
this process (``service.storage.held``), which are revalidated by one query per request: a
write anywhere brings new inputs and none of the old answers. An answer about now is held
only until the instant it could change (``hold(until=...)``); only answers whose headers stay
right until then are held (no ``max-age`` that counts down). The held answer is what the view
returned, before the application's own hooks (rate limits, CORS, compression, metrics), which
still run for every request as they do for a computed answer. A repeated request is the same
method class (GET and HEAD share answers), scheme, host, path, query string and ``Accept``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Response, current_app, g, request

from service.storage import StorageError
from service.storage.held import HeldInputs

from .etags import not_modified
from .resources import store


def tally() -> Counter:
    """How many answers this application held (``kept``) and sent again (``sent``): for tests
    and diagnostics."""
    return current_app.extensions.setdefault("checkpoints.held_answers", Counter())


def held() -> HeldInputs:
    """The current decision inputs, revalidated once per request."""
    if "held_inputs" not in g:
        g.held_inputs = store().held_inputs()
    return g.held_inputs


@dataclass(frozen=True, slots=True)
class HeldAnswer:
    """One answer as its view returned it: the 200's body and headers (None when only a 304
    was seen), its ETag, and the instants between which it holds (``until`` None: as long
    as the inputs)."""

    body: bytes | None
    headers: list[tuple[str, str]]
    etag: str | None
    since: datetime
    until: datetime | None

    def holds(self, now: datetime) -> bool:
        return self.since <= now and (self.until is None or now < self.until)

    def response(self) -> Response | None:
        """A 304 when ``If-None-Match`` holds the ETag, else the 200 (None without one)."""
        if self.etag is not None and request.if_none_match:
            cached = not_modified(self.etag)
            if cached is not None:
                # As the views answer a 304: the 200's caching headers, without its content.
                for name, value in self.headers:
                    if name in ("Cache-Control", "Vary"):
                        cached.headers[name] = value
                return cached
        if self.body is None:
            return None
        return current_app.response_class(self.body, 200, self.headers)


def _key() -> tuple | None:
    """What a repeated request has in common with the first: None for one never held."""
    if request.method not in ("GET", "HEAD"):
        return None
    return (
        "held-answer",
        request.scheme,
        request.host,
        request.root_path,
        request.path,
        request.query_string,
        request.headers.get("Accept"),
    )


def hold(*, until: datetime | None = None) -> None:
    """Let the answer to this request be held while the inputs are unchanged and, for an
    answer about now, until ``until`` (the instant it could change). Its headers must stay
    right until then."""
    g.held_answer = (datetime.now(UTC), until)


def holds_answers(view: Callable) -> Callable:
    """Declare a read operation whose answers may be held (the outermost decorator of its
    view, so that a held answer is sent before the arguments are parsed)."""

    @functools.wraps(view)
    def answer(*args, **kwargs):
        key = _key()
        if key is None:
            return view(*args, **kwargs)
        try:
            inputs = held()
        except StorageError:
            # Nothing can be held now: the view answers as it would (an item may still be
            # readable when the decision inputs are not, on a damaged database).
            return view(*args, **kwargs)
        found = inputs.derived.get(key)
        if found is not None and found.holds(datetime.now(UTC)):
            response = found.response()
            if response is not None:
                tally()["sent"] += 1
                return response
        g.pop("held_answer", None)
        response = view(*args, **kwargs)
        allowed = g.pop("held_answer", None)
        if allowed is not None and isinstance(response, Response):
            _keep(inputs, key, response, *allowed, found)
        return response

    return answer


def _keep(
    inputs: HeldInputs,
    key: tuple,
    response: Response,
    since: datetime,
    until: datetime | None,
    found: HeldAnswer | None,
) -> None:
    if response.is_streamed or response.status_code not in (200, 304):
        return
    etag, _ = response.get_etag()
    if response.status_code == 304:
        if found is not None and found.body is not None and found.holds(datetime.now(UTC)):
            return  # a 200 is held already
        body = None
    else:
        body = response.get_data()
    # Held in the inputs' memo, which bounds what it holds by bytes (the oldest go first).
    headers = list(response.headers.items())
    inputs.remember(key, HeldAnswer(body, headers, etag, since, until))
    tally()["kept"] += 1
