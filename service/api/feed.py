"""``/v1/changes`` (long-poll), ``/v1/changes/stream`` (Server-Sent Events) and
``/v1/snapshot``: what integrations follow to keep their own copy."""

from __future__ import annotations

import re
import time

from flask import Response, current_app, json, request
from flask.views import MethodView

from schemas.feed import (
    ChangeSchema,
    ChangesPageSchema,
    ChangesQuerySchema,
    SnapshotSchema,
    StreamQuerySchema,
)
from service.storage import FeedAhead, FeedGone

from .machinery.blueprint import Blueprint
from .machinery.errors import Problem
from .machinery.resources import store
from .machinery.waiting import held_slot, shutting_down, take_slot, wait_for

blp = Blueprint(
    "feed",
    __name__,
    url_prefix="/v1",
    description="Every write as one event, in commit order with a gap-free `seq`: follow it "
    "with `after`, as a long-poll or as Server-Sent Events, starting from a snapshot.",
)
_change = ChangeSchema()
#: The documented form of ``Last-Event-ID`` (blueprint.REQUEST_HEADERS): a seq, ASCII digits.
_LAST_EVENT_ID = re.compile(r"[0-9]{1,16}")


def _config():
    return current_app.config["CHECKPOINTS"]


@blp.route("/changes")
class Changes(MethodView):
    @blp.arguments(ChangesQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, ChangesPageSchema)
    @blp.alt_response(409, "CONFLICT")
    @blp.alt_response(410, "GONE")
    @blp.operation("listChanges", errors=(422,))
    def get(self, after, limit, wait, resource_type=None, checkpoint_id=None):
        """Read the change feed after a position.

        Pass the previous page's `last_seq` as `after`: every write is seen exactly once, in
        order, whatever the concurrency of writers. `last_seq` also advances past events a
        filter skipped. With `wait`, the request is held (up to that many seconds) until at
        least one event exists after `after`. `410` when `after` is older than the retained
        feed, and `409` (with the feed's `last_seq`) when it lies beyond the newest event (a
        position kept from another or a restored deployment): in both cases read
        `/v1/snapshot` and follow from its `seq`.
        """
        filters = {"resource_type": resource_type, "checkpoint_id": checkpoint_id}
        page = store().feed_page(after=after, limit=limit, **filters)
        if wait and not page.changes and page.last_seq == after:
            with held_slot():
                if wait_for(store(), after, wait):
                    page = store().feed_page(after=after, limit=limit, **filters)
        return {"changes": page.changes, "last_seq": page.last_seq, "has_more": page.has_more}


#: The largest ``data`` of one event: a change carries one resource, whose fields are bounded
#: far below this (a request body is at most 1 MiB; escaped JSON may be a few times longer).
MAX_EVENT_DATA = 4 * 1024 * 1024
#: One event of the stream (schemathesis and OpenAPI 3.2's ``itemSchema`` read a
#: text/event-stream schema as the schema of each event that has data).
STREAM_EVENT_SCHEMA = {
    "type": "object",
    "description": "One Server-Sent Event: `event: change` with `id: <seq>` and the change as "
    "JSON in `data`; or `event: gone` with `data: {}` when the stream's position fell out of "
    "the retained feed (reconnecting then is a `410`).",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["change", "gone"]},
        "id": {
            "type": "string",
            "pattern": "^[0-9]{1,16}$",
            "maxLength": 16,
            "description": "The event's `seq`: browsers send the last one back as "
            "`Last-Event-ID` when they reconnect.",
        },
        "data": {
            "type": "string",
            "maxLength": MAX_EVENT_DATA,
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/Change"},
            "description": "A change (the same object as in `/v1/changes`) as one line of "
            "JSON; `{}` for `gone`.",
        },
        "retry": {
            "type": "integer",
            "minimum": 0,
            "maximum": 60000,
            "description": "The reconnection delay in milliseconds (sent first, on its own).",
        },
    },
    "additionalProperties": False,
}
STREAM_EXAMPLE = {
    "id": "42",
    "event": "change",
    "data": '{"seq":42,"recorded_at":"2025-10-27T06:00:03Z","resource_type":"closure",'
    '"resource_id":"closure-3f9a1c2b7d4e5a60","checkpoint_id":"medininkai","revision":3,'
    '"action":"deleted","actor":"alice","data":null}',
}


def _sse(event: dict) -> str:
    data = json.dumps(_change.dump(event), separators=(",", ":"))
    return f"id: {event['seq']}\nevent: change\ndata: {data}\n\n"


@blp.route("/changes/stream")
class ChangeStream(MethodView):
    @blp.arguments(StreamQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        STREAM_EVENT_SCHEMA,
        description="A `text/event-stream` (Server-Sent Events, as the HTML standard defines "
        "them) that stays open: read it event by event, never whole. It starts with "
        "`retry: 2000`; each event is `id: <seq>`, `event: change` and `data: <the change as "
        "JSON>`, ended by a blank line; a comment `: heartbeat` follows every 10 s of silence "
        "(`CHECKPOINTS_STREAM_HEARTBEAT`). The stream ends after an hour or when the server "
        "stops: reconnect with `Last-Event-ID` to resume. The schema is that of one event.",
        content_type="text/event-stream",
        example=STREAM_EXAMPLE,
    )
    @blp.alt_response(409, "CONFLICT")
    @blp.alt_response(410, "GONE")
    @blp.operation("streamChanges", errors=(400, 422), request_headers=("Last-Event-ID",))
    def get(self, after=None, resource_type=None, checkpoint_id=None):
        """Follow the change feed as Server-Sent Events.

        Resumes after the `Last-Event-ID` header (sent by browsers on reconnect) or `after`.
        The stream ends after a while or when the server restarts; reconnect with
        `Last-Event-ID` to resume. A position older than the retained feed is a `410`, one
        beyond its newest event a `409` carrying `last_seq`, before the stream starts.
        """
        last_event_id = request.headers.get("Last-Event-ID")
        if last_event_id is not None:
            if not _LAST_EVENT_ID.fullmatch(last_event_id):
                raise Problem(
                    400,
                    "Last-Event-ID must be a seq: 1 to 16 digits.",
                    kind="bad-last-event-id",
                )
            after = int(last_event_id)
        position = after or 0
        filters = {"resource_type": resource_type, "checkpoint_id": checkpoint_id}
        store().feed_page(after=position, limit=1, **filters)  # 410 before the stream starts
        config = _config()
        the_store = store()
        release = take_slot()

        def events():
            nonlocal position
            yield "retry: 2000\n\n"
            started = last_sent = time.monotonic()
            while not shutting_down.is_set():
                try:
                    page = the_store.feed_page(after=position, limit=500, **filters)
                except FeedGone:
                    yield "event: gone\ndata: {}\n\n"
                    return
                except FeedAhead:
                    return  # the feed was replaced under the stream: a reconnect gets the 409
                for event in page.changes:
                    yield _sse(event)
                    last_sent = time.monotonic()
                position = page.last_seq
                if page.has_more:
                    continue
                now = time.monotonic()
                if now - started > config.stream_max_seconds:
                    return
                if now - last_sent >= config.stream_heartbeat:
                    # A comment: keeps proxies from timing out and finds departed clients.
                    yield ": heartbeat\n\n"
                    last_sent = now
                wait_for(
                    the_store,
                    position,
                    max(0.0, config.stream_heartbeat - (time.monotonic() - last_sent)),
                )

        response = Response(events(), mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        # Runs even when the generator never started (a client that left at once).
        response.call_on_close(release)
        return response


@blp.route("/snapshot")
class Snapshot(MethodView):
    @blp.response(200, SnapshotSchema)
    @blp.operation("getSnapshot", errors=())
    def get(self):
        """Every live checkpoint, rule and closure, and the feed position they reflect.

        Read in one transaction: follow `/v1/changes?after=<seq>` from here and nothing is
        lost.
        """
        return store().snapshot()
