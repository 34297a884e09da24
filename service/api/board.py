"""``/``: the index of links for programs, the status board for browsers (``Accept:
text/html``); ``/checkpoints/{id}``: one checkpoint's page with its history and a map.

Server-rendered pages that work without a script. Every state shown comes from ``status()``,
the same function ``/v1/status`` answers with: the board decides nothing itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint as FlaskBlueprint
from flask import Response, render_template, request
from flask.views import MethodView
from marshmallow import ValidationError

from schemas.common import MAX_INTEGER, Time
from schemas.index import INDEX_EXAMPLE, INDEX_LINKS, IndexQuerySchema, IndexSchema
from service.domain import MODES
from service.storage import ClosureFilter, FeedAhead, NotFound, RuleFilter
from service.storage.times import to_stamp

from .decisions import status
from .machinery.blueprint import Blueprint
from .machinery.representations import HTML, JSON, negotiate, vary
from .machinery.resources import store

blp = Blueprint("board", __name__, description="Where to start: links, or the status board.")
#: The HTML pages that are not part of the API (a checkpoint's page).
pages = FlaskBlueprint("board_pages", __name__)

#: The board's own policy: its stylesheet and script from this origin, the change stream,
#: GET forms to itself; nothing inline, nothing from elsewhere.
BOARD_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
MODE_LABELS = {
    "pedestrian": "Pedestrians",
    "cyclist": "Cyclists",
    "vehicle": "Vehicles",
    "goods": "Goods",
}
STATE_LABELS = {
    "open": "Open",
    "restricted": "Restricted",
    "closed": "Closed",
    "unknown": "Unknown",
}
#: The form's ``datetime-local`` value: a wall-clock time, read as UTC.
_FORM_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
_TIME = Time()


@blp.route("/")
class Index(MethodView):
    @blp.arguments(IndexQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        IndexSchema,
        example=INDEX_EXAMPLE,
        description="Links to the API as JSON; the status board as HTML for "
        "`Accept: text/html` (browsers).",
    )
    @blp.alt_response(
        200,
        content_type=HTML,
        schema={"type": "string", "maxLength": 10_000_000},
        example="<!DOCTYPE html>",
        description="Links to the API as JSON; the status board as HTML for "
        "`Accept: text/html` (browsers).",
    )
    @blp.operation("getIndex", errors=(406, 422))
    def get(self, at=None):
        """Where to start: links, or the status board.

        JSON (the default, and for `*/*`): links to the documentation, the OpenAPI document
        and the main collections. `text/html`: the status board, every checkpoint's state and
        what each mode may do at `at` (default now), server-rendered.
        """
        if negotiate(JSON, HTML) == JSON:
            return {"title": "Checkpoints API", "links": INDEX_LINKS}, 200, vary()
        moment, error = _parse_at(at)
        context = _board(moment)
        return _page("board.html", 422 if error else 200, at_error=error, **context)


@pages.route("/checkpoints/<checkpoint_id>")
def checkpoint_page(checkpoint_id: str):
    """One checkpoint: its status at ``at``, its closures and rules as a timeline, a map."""
    moment, error = _parse_at(_query_at())
    try:
        (item,) = store().decision_inputs(checkpoint_id=checkpoint_id)
    except NotFound:
        return _page("missing.html", 404, checkpoint_id=checkpoint_id, **_times(moment))
    board = _board(moment)
    row = next(r for r in board["rows"] if r["checkpoint"]["id"] == checkpoint_id)
    rules = _all(
        lambda after: store().list_rules(
            filters=RuleFilter(checkpoint_id=checkpoint_id), after=after, limit=500
        )
    )
    closures = _all(
        lambda after: store().list_closures(
            filters=ClosureFilter(checkpoint_id=checkpoint_id), after=after, limit=500
        )
    )
    history = {
        c["id"]: store()
        .revisions(resource_type="closure", resource_id=c["id"], after=0, limit=100)
        .items
        for c in closures
    }
    return _page(
        "checkpoint.html",
        422 if error else 200,
        at_error=error,
        row=row,
        timeline=_timeline(item.stored_checkpoint, rules, closures, history),
        map=_map(board["rows"], highlight=checkpoint_id),
        **{k: v for k, v in board.items() if k not in {"rows", "map"}},
    )


def _query_at() -> str | None:
    return request.args.get("at")


def _parse_at(text: str | None) -> tuple[datetime | None, str | None]:
    """The requested time (None = now) and, for a time that cannot be read, why."""
    if not text:
        return None, None
    if _FORM_TIME.match(text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC), None
    try:
        return _TIME.deserialize(text), None
    except ValidationError:
        return None, (
            f"“{text[:40]}” is not a time: use the field, or RFC 3339 such as "
            "2025-11-10T12:00:00Z. Showing now instead."
        )


def _times(moment: datetime | None) -> dict[str, Any]:
    at = moment or datetime.now(UTC)
    return {
        "at": at,
        "at_given": moment is not None,
        "at_field": at.strftime("%Y-%m-%dT%H:%M"),
        "at_query": at.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None,
    }


def _all(fetch) -> list[dict]:
    items, after = [], None
    for _ in range(100):
        page = fetch(after)
        items.extend(page.items)
        after = page.next_after
        if after is None:
            break
    return items


def _feed_head() -> int:
    """The newest seq: the board's script follows the change stream from there."""
    try:
        store().feed_page(after=MAX_INTEGER, limit=1)
    except FeedAhead as exc:
        return exc.last_seq
    return 0


def _board(moment: datetime | None) -> dict[str, Any]:
    times = _times(moment)
    at = times["at"]
    active = _all(
        lambda after: store().list_closures(
            filters=ClosureFilter(active_at=to_stamp(at)), after=after, limit=500
        )
    )
    rows = []
    for item in store().each_decision_input():
        answer = status(item, at, {})
        rows.append(
            {
                "checkpoint": item.stored_checkpoint,
                "state": answer["state"],
                "modes": [_mode(mode, answer["modes"][mode]) for mode in MODES],
                "valid_until": answer["valid_until"],
                "closures": [c for c in active if c["checkpoint_id"] == item.checkpoint.id],
            }
        )
    return {**times, "rows": rows, "map": _map(rows), "seq": _feed_head()}


def _mode(mode: str, decision: dict[str, Any]) -> dict[str, Any]:
    """How the board words one mode's decision."""
    if decision["allowed"] is True:
        answer, words = "yes", "Allowed"
    elif decision["allowed"] is False:
        answer, words = "no", "Not allowed"
    elif decision["access"] == "restricted":
        answer, words = "maybe", "Depends on who and what"
    else:
        answer, words = "unknown", "Unknown"
    return {
        "mode": mode,
        "label": MODE_LABELS[mode],
        "answer": answer,
        "words": words,
        "conditions": decision["conditions_text"],
        "reasons": [r["message"] for r in decision["reasons"]],
    }


def _timeline(checkpoint, rules, closures, history) -> list[dict[str, Any]]:
    """The checkpoint's rules and closures as dated entries, oldest first."""
    entries = []
    for rule in rules:
        entries.append(
            {
                "when": _time(rule["valid_from"]),
                "until": _time(rule.get("valid_until")),
                "kind": "rule",
                "title": f"{MODE_LABELS[rule['mode']]}: {rule['access']}",
                "texts": [*(rule.get("conditions_text") or ()), *filter(None, [rule.get("note")])],
                "source": rule.get("source"),
                "resource": rule,
                "revisions": [],
            }
        )
    for closure in closures:
        modes = closure["modes"]
        shut = (
            "every mode"
            if len(modes) == len(MODES)
            else ", ".join(MODE_LABELS[m].lower() for m in modes)
        )
        entries.append(
            {
                "when": _time(closure["starts_at"]),
                "until": _time(closure.get("ends_at")),
                "kind": "closure",
                "title": f"Closed to {shut}: {closure['reason']}",
                "texts": list(filter(None, [closure.get("description")])),
                "source": closure.get("source"),
                "resource": closure,
                "revisions": history.get(closure["id"], []),
            }
        )
    entries.sort(key=lambda e: (e["when"], e["kind"]))
    return entries


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _map(rows: Iterable[dict[str, Any]], highlight: str | None = None) -> dict[str, Any]:
    """Points on a plain equirectangular frame (no tiles): SVG coordinates per checkpoint."""
    located = [r for r in rows if r["checkpoint"].get("location")]
    width, pad = 480, 36
    if not located:
        return {"width": width, "height": 0, "points": [], "lines": []}
    lats = [r["checkpoint"]["location"]["lat"] for r in located]
    lons = [r["checkpoint"]["location"]["lon"] for r in located]
    squeeze = math.cos(math.radians(sum(lats) / len(lats)))
    span_x = max((max(lons) - min(lons)) * squeeze, 0.2)
    span_y = max(max(lats) - min(lats), 0.2)
    scale = (width - 2 * pad) / span_x
    height = round(min(span_y * scale + 2 * pad, 600))
    scale = min(scale, (height - 2 * pad) / span_y)

    def x(lon):
        return round(pad + (lon - min(lons)) * squeeze * scale, 1)

    def y(lat):
        return round(height - pad - (lat - min(lats)) * scale, 1)

    points = [
        {
            "number": number,
            "id": r["checkpoint"]["id"],
            "name": r["checkpoint"]["name"],
            "state": r["state"],
            "x": x(r["checkpoint"]["location"]["lon"]),
            "y": y(r["checkpoint"]["location"]["lat"]),
            "current": r["checkpoint"]["id"] == highlight,
        }
        for number, r in enumerate(located, start=1)
    ]
    lines = []
    for lat in range(math.floor(min(lats) * 2), math.ceil(max(lats) * 2) + 1):
        if pad / 2 <= y(lat / 2) <= height - pad / 2:
            level = y(lat / 2)
            lines.append({"y": level, "width": width, "label": f"{lat / 2:.1f}° N"})
    return {"width": width, "height": height, "points": points, "lines": lines}


def _page(template: str, code: int, **context) -> Response:
    html = render_template(
        template,
        mode_labels=MODE_LABELS,
        state_labels=STATE_LABELS,
        local=_local,
        iso=_iso,
        **context,
    )
    response = Response(html, code, mimetype=HTML)
    response.headers.update(vary({"Content-Security-Policy": BOARD_CSP}))
    return response


def _iso(moment: datetime | str) -> str:
    """A time (or a stored RFC 3339 text) as RFC 3339 in UTC."""
    moment = _time(moment) if isinstance(moment, str) else moment
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _local(moment: datetime | str | None, timezone: str = "Europe/Vilnius") -> str:
    """A time as the checkpoint's wall clock, with its zone's abbreviation, and in UTC."""
    if moment is None:
        return ""
    moment = _time(moment) if isinstance(moment, str) else moment
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({moment.astimezone(UTC):%H:%M} UTC)"


def init_app(app) -> None:
    app.register_blueprint(pages)
