"""``/v1/checkpoints/{id}/closures``, ``/v1/closures`` and ``/v1/closures/{closure_id}``."""

from __future__ import annotations

from flask import current_app, url_for
from flask.views import MethodView

from schemas.closures import (
    CALENDAR_EXAMPLE,
    CLOSURE_EXAMPLE,
    CLOSURE_PAGE_EXAMPLE,
    CLOSURE_READ_EXAMPLE,
    AllClosuresQuerySchema,
    CalendarQuerySchema,
    ClosureListQuerySchema,
    ClosurePageSchema,
    ClosureSchema,
)
from service.storage import CheckpointFilter, ClosureFilter

from .machinery.auth import require_role
from .machinery.blueprint import CONDITIONAL_ERRORS, WRITE_ERRORS, Blueprint, headers
from .machinery.held import hold, holds_answers
from .machinery.pagination import decode_cursor, page_body
from .machinery.representations import (
    CLOSURE_COLUMNS,
    CSV,
    ICALENDAR,
    JSON,
    calendar_response,
    closure_event,
    csv_response,
    csv_text,
    negotiate,
    vary,
)
from .machinery.resources import (
    body_doc,
    create_child,
    delete_item,
    get_item,
    replace_child,
    store,
    time_key,
)
from .revisions import add_revision_routes

blp = Blueprint(
    "closures",
    __name__,
    url_prefix="/v1",
    description="Periods in which a checkpoint, or some of its modes, is shut. Closures may "
    "overlap; an extended or lifted closure is a new revision of the same closure.",
)
_schema = ClosureSchema()
ETAG = headers("ETag")


#: The most closures one calendar holds (the newest are kept).
CALENDAR_MAX_EVENTS = 5000
#: The 200 response's description of a list that is also CSV.
AS_CSV = (
    "The page as JSON, or as CSV (`Accept: text/csv`): a header row, then one closure per "
    "row; `modes` joined by `; `, `source` in three columns."
)
CSV_DOC = {
    "description": AS_CSV,
    "schema": {"type": "string", "maxLength": 10_000_000},
    "example": csv_text(CLOSURE_COLUMNS, [CLOSURE_READ_EXAMPLE]),
}


def _filters(filters: dict) -> ClosureFilter:
    return ClosureFilter(
        **{k: time_key(v) if k in {"active_at", "start", "end"} else v for k, v in filters.items()}
    )


def _list(cursor, limit, **filters):
    media_type = negotiate(JSON, CSV)
    page = store().list_closures(
        filters=_filters(filters), after=decode_cursor(cursor, "pair"), limit=limit
    )
    body, links = page_body(page.items, page.next_after)
    if media_type == CSV:
        return csv_response(CLOSURE_COLUMNS, body["items"], links)
    return body, 200, vary(links)


def _calendar(name: str, checkpoints: dict[str, dict], **filters):
    """Every closure the filters keep, as one calendar (RFC 5545)."""
    negotiate(ICALENDAR)
    closures: list[dict] = []
    after = None
    while len(closures) < CALENDAR_MAX_EVENTS:
        page = store().list_closures(filters=_filters(filters), after=after, limit=500)
        closures.extend(page.items)
        after = page.next_after
        if after is None:
            break
    base = current_app.config["CHECKPOINTS"].public_url.rstrip("/")
    events = (
        closure_event(
            closure,
            checkpoints.get(closure["checkpoint_id"]),
            base + url_for("closures.Closure", closure_id=closure["id"]),
        )
        for closure in closures[-CALENDAR_MAX_EVENTS:]
    )
    return calendar_response(events, name=name)


def _calendar_doc(summary_of: str) -> dict:
    return {
        "responses": {
            "200": {
                "description": f"{summary_of} as an iCalendar (RFC 5545) feed: one VEVENT per "
                "closure, with UID `<closure id>@checkpoints`, SEQUENCE = the closure's "
                "revision and times in UTC. A closure without `ends_at` has no DTEND (a "
                "calendar shows it at its start) and says `(until further notice)` in its "
                "SUMMARY; subscribe again, or poll, to see it end. Deleted closures are left "
                "out.",
                "content": {
                    ICALENDAR: {
                        "schema": {"type": "string", "maxLength": 50_000_000},
                        "example": CALENDAR_EXAMPLE,
                    }
                },
            }
        }
    }


@blp.route("/checkpoints/<checkpoint_id>/closures")
class CheckpointClosures(MethodView):
    @blp.arguments(ClosureListQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        ClosurePageSchema,
        headers=headers("Link"),
        example=CLOSURE_PAGE_EXAMPLE,
        description=AS_CSV,
    )
    @blp.alt_response(200, content_type=CSV, **CSV_DOC)
    @blp.operation("listCheckpointClosures", errors=(404, 406, 422))
    def get(self, checkpoint_id, limit, cursor=None, **filters):
        """A checkpoint's closure history.

        Past, present and future closures ordered by `starts_at`. `active_at` keeps those in
        effect at that time; `from`/`to` keep those in effect at some time in [from, to).
        As JSON, or as CSV with `Accept: text/csv` (a cell that a spreadsheet would read as a
        formula, starting with `=`, `+`, `-` or `@`, is prefixed with `'`); any other `Accept`
        is a `406`.
        """
        return _list(cursor, limit, checkpoint_id=checkpoint_id, **filters)

    @blp.response(
        201, ClosureSchema, headers=headers("ETag", "Location"), example=CLOSURE_READ_EXAMPLE
    )
    @blp.doc(**body_doc(ClosureSchema, CLOSURE_EXAMPLE))
    @blp.operation(
        "createClosure",
        errors=(*WRITE_ERRORS, 404, 409),
        write=True,
        request_headers=("Idempotency-Key",),
    )
    def post(self, checkpoint_id):
        """Create a closure.

        The server assigns its `id`; `modes` defaults to all four. Closures may overlap.
        """
        actor = require_role("editor")
        return create_child(
            "closure",
            checkpoint_id,
            _schema,
            actor=actor,
            endpoint="closures.Closure",
            url_arg="closure_id",
        )


@blp.route("/closures")
class Closures(MethodView):
    @blp.arguments(AllClosuresQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        ClosurePageSchema,
        headers=headers("Link"),
        example=CLOSURE_PAGE_EXAMPLE,
        description=AS_CSV,
    )
    @blp.alt_response(200, content_type=CSV, **CSV_DOC)
    @blp.operation("listClosures", errors=(406, 422))
    def get(self, limit, cursor=None, **filters):
        """Every checkpoint's closures.

        The same filters and representations (JSON, CSV) as a checkpoint's closure history,
        plus `country`.
        """
        return _list(cursor, limit, **filters)


@blp.route("/closures.ics")
class ClosuresCalendar(MethodView):
    @blp.arguments(CalendarQuerySchema, location="query", as_kwargs=True)
    @blp.doc(**_calendar_doc("Every checkpoint's closures"))
    @blp.operation("getClosuresCalendar", errors=(406, 422))
    def get(self, **filters):
        """Every checkpoint's closures as a calendar (iCalendar).

        One event per closure the filters keep (at most 5000), for calendar applications to
        subscribe to.
        """
        checkpoints = {}
        after = None
        while True:
            page = store().list_checkpoints(filters=CheckpointFilter(), after=after, limit=500)
            checkpoints.update((c["id"], c) for c in page.items)
            after = page.next_after
            if after is None:
                break
        return _calendar("Border crossing closures", checkpoints, **filters)


@blp.route("/checkpoints/<checkpoint_id>/closures.ics")
class CheckpointClosuresCalendar(MethodView):
    @blp.arguments(CalendarQuerySchema, location="query", as_kwargs=True)
    @blp.doc(**_calendar_doc("A checkpoint's closures"))
    @blp.operation("getCheckpointClosuresCalendar", errors=(404, 406, 422))
    def get(self, checkpoint_id, **filters):
        """A checkpoint's closures as a calendar (iCalendar).

        One event per closure the filters keep (at most 5000), for calendar applications to
        subscribe to.
        """
        checkpoint = store().get(resource_type="checkpoint", resource_id=checkpoint_id).data
        return _calendar(
            f"{checkpoint['name']}: closures",
            {checkpoint_id: checkpoint},
            checkpoint_id=checkpoint_id,
            **filters,
        )


@blp.route("/closures/<closure_id>")
class Closure(MethodView):
    @holds_answers
    @blp.response(200, ClosureSchema, headers=ETAG, example=CLOSURE_READ_EXAMPLE)
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("getClosure", errors=(404,), request_headers=("If-None-Match",))
    def get(self, closure_id):
        """Get a closure.

        With its `ETag`: send it back in `If-Match` to change or delete the closure.
        """
        hold()
        return get_item("closure", closure_id)

    @blp.response(200, ClosureSchema, headers=ETAG)
    @blp.doc(**body_doc(ClosureSchema, CLOSURE_EXAMPLE))
    @blp.operation("replaceClosure", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS), write=True)
    def put(self, closure_id):
        """Replace a closure (needs `If-Match`).

        Fields left out take their defaults; `checkpoint_id` stays. Closures may overlap.
        """
        actor = require_role("editor")
        return replace_child("closure", closure_id, _schema, actor=actor, patch=False)

    @blp.response(200, ClosureSchema, headers=ETAG)
    @blp.doc(**body_doc(ClosureSchema, {"ends_at": "2025-11-20T00:00:00+02:00"}, patch=True))
    @blp.operation("patchClosure", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS), write=True)
    def patch(self, closure_id):
        """Change a closure (JSON Merge Patch; needs `If-Match`): extend, shorten or lift it.

        Only the fields sent change; `null` removes an optional one (`ends_at: null`: until
        further notice).
        """
        actor = require_role("editor")
        return replace_child("closure", closure_id, _schema, actor=actor, patch=True)

    @blp.response(204)
    @blp.operation("deleteClosure", errors=(401, 403, *CONDITIONAL_ERRORS), write=True)
    def delete(self, closure_id):
        """Delete a closure (needs `If-Match`); its history stays readable.

        The deletion is a new revision (action `deleted`); the closure then answers `404`.
        """
        actor = require_role("editor")
        return delete_item("closure", closure_id, actor=actor)


add_revision_routes(blp, "closure", "closure_id", prefix="/closures")
