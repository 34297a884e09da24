"""Content negotiation, and the representations besides JSON: GeoJSON (RFC 7946) for maps,
CSV (RFC 4180) for spreadsheets and iCalendar (RFC 5545) for calendars."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Response, json, request
from icalendar import Calendar, Event

from .errors import Problem

JSON = "application/json"
GEOJSON = "application/geo+json"
CSV = "text/csv"
ICALENDAR = "text/calendar"
HTML = "text/html"

#: A CSV cell starting with one of these is a formula to a spreadsheet: it gets a leading '.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Open-ended closures: said in the event's summary and description (see ``closure_event``).
UNTIL_FURTHER_NOTICE = "until further notice"


def negotiate(*offered: str) -> str:
    """The media type to answer with, from ``offered`` (the first is the default): without an
    ``Accept`` header, or with ``*/*``, the first; a 406 problem when none is acceptable."""
    if not request.headers.get("Accept", "").strip():
        return offered[0]
    best = request.accept_mimetypes.best_match(offered)
    if best is None:
        raise Problem(
            406,
            f"Available as {', '.join(offered)}; the Accept header allows none of them.",
            kind="not-acceptable",
            extra={"available": list(offered)},
        )
    return best


def vary(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """Response headers of a negotiated answer: caches key it on ``Accept`` too."""
    return {**(headers or {}), "Vary": "Accept"}


# --- GeoJSON ----------------------------------------------------------------------------------
def feature(feature_id: str, location: Mapping[str, float] | None, properties: dict) -> dict:
    """A GeoJSON Feature: a Point at ``[lon, lat]``, or no geometry for a point not located."""
    geometry = None
    if location is not None:
        geometry = {"type": "Point", "coordinates": [location["lon"], location["lat"]]}
    return {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": properties}


def geojson_response(features: list[dict], headers: Mapping[str, str], **members: Any):
    """A FeatureCollection; ``members`` (such as ``next_cursor``) are foreign members."""
    body = {"type": "FeatureCollection", "features": features, **members}
    response = Response(json.dumps(body), 200, mimetype=GEOJSON)
    response.headers.update(vary(headers))
    return response


# --- CSV --------------------------------------------------------------------------------------
Column = tuple[str, Callable[[Mapping[str, Any]], Any]]


def _field(name: str, *path: str) -> Column:
    def get(item: Mapping[str, Any]) -> Any:
        value: Any = item
        for key in path or (name,):
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    return name, get


_SOURCE = [
    _field("source_authority", "source", "authority"),
    _field("source_reference", "source", "reference"),
    _field("source_url", "source", "url"),
]
_STAMPS = [_field("revision"), _field("created_at"), _field("updated_at")]
CLOSURE_COLUMNS: list[Column] = [
    _field("id"),
    _field("checkpoint_id"),
    _field("modes"),
    _field("starts_at"),
    _field("ends_at"),
    _field("reason"),
    _field("description"),
    *_SOURCE,
    _field("announced_at"),
    *_STAMPS,
]
RULE_COLUMNS: list[Column] = [
    _field("id"),
    _field("checkpoint_id"),
    _field("mode"),
    _field("access"),
    _field("valid_from"),
    _field("valid_until"),
    _field("condition"),
    _field("conditions_text"),
    _field("opening_hours"),
    _field("note"),
    *_SOURCE,
    *_STAMPS,
]


def csv_cell(value: Any) -> str:
    """One cell: lists joined by ``; ``, objects as JSON, and a text that a spreadsheet would
    run as a formula (starting with ``= + - @``, tab or carriage return) prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = "; ".join(value)
    elif isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_text(columns: Sequence[Column], items: Iterable[Mapping[str, Any]]) -> str:
    """A header row, then one row per item (RFC 4180: CRLF, quoted where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(name for name, _ in columns)
    for item in items:
        writer.writerow(csv_cell(get(item)) for _, get in columns)
    return out.getvalue()


def csv_response(columns: Sequence[Column], items: Iterable[Mapping[str, Any]], headers):
    response = Response(csv_text(columns, items), 200)
    response.headers["Content-Type"] = f"{CSV}; charset=utf-8; header=present"
    response.headers.update(vary(headers))
    return response


# --- iCalendar --------------------------------------------------------------------------------
def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def closure_event(closure: Mapping[str, Any], checkpoint: Mapping[str, Any] | None, url: str):
    """One VEVENT: UID ``<closure id>@checkpoints``, SEQUENCE = the closure's revision, times
    in UTC. An open-ended closure has no DTEND (RFC 5545: the event is its start) and says
    "until further notice" in its summary and description."""
    name = checkpoint["name"] if checkpoint else closure["checkpoint_id"]
    modes = closure["modes"]
    shut = "closed" if len(modes) == 4 else f"closed to {', '.join(modes)}"
    open_ended = closure.get("ends_at") is None
    summary = f"{name} {shut}: {closure['reason']}"
    lines = [closure.get("description") or ""]
    if open_ended:
        summary += f" ({UNTIL_FURTHER_NOTICE})"
        lines.append(f"No end announced: closed {UNTIL_FURTHER_NOTICE}.")
    source = closure.get("source") or {}
    if source.get("authority") or source.get("reference"):
        named = (source.get("authority"), source.get("reference"))
        lines.append("Source: " + ", ".join(v for v in named if v))
    event = Event()
    event.add("uid", f"{closure['id']}@checkpoints")
    event.add("sequence", closure["revision"])
    event.add("dtstamp", _time(closure["updated_at"]).astimezone(UTC))
    event.add("created", _time(closure["created_at"]).astimezone(UTC))
    event.add("last-modified", _time(closure["updated_at"]).astimezone(UTC))
    event.add("dtstart", _time(closure["starts_at"]).astimezone(UTC))
    if not open_ended:
        event.add("dtend", _time(closure["ends_at"]).astimezone(UTC))
    event.add("summary", summary)
    event.add("description", "\n".join(line for line in lines if line))
    event.add("categories", [closure["reason"]])
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    event.add("url", url)
    if checkpoint:
        event.add("location", name)
        location = checkpoint.get("location")
        if location:
            event.add("geo", (location["lat"], location["lon"]))
    return event


def calendar_response(events: Iterable[Event], *, name: str) -> Response:
    calendar = Calendar()
    calendar.add("prodid", "-//checkpoints//closures//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for event in events:
        calendar.add_component(event)
    response = Response(calendar.to_ical(), 200)
    response.headers["Content-Type"] = f"{ICALENDAR}; charset=utf-8"
    return response
