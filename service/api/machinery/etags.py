"""Revision ETags and conditional requests, on werkzeug's helpers.

``If-Match`` is checked here against the revision read before the write, and the store
re-checks the same revision inside its write transaction: of N writers holding one ETag,
exactly one wins.
"""

from __future__ import annotations

from flask import Response, request

from service.storage import Record

from .errors import Problem
from .tags import quoted, record_etag


def not_modified(etag: str) -> Response | None:
    """A 304 (carrying the ETag) when ``If-None-Match`` matches, weakly; else None."""
    if request.if_none_match.contains_weak(etag) or request.if_none_match.star_tag:
        response = Response(status=304)
        response.set_etag(etag)
        return response
    return None


def expected_revision(record: Record) -> int | None:
    """The revision a conditional write expects, from ``If-Match`` (strong comparison).

    Missing → 428; not matching the current revision → 412 with the current ETag.
    ``If-Match: *`` matches whatever revision is current (returns None).
    """
    if "If-Match" not in request.headers:
        raise Problem(
            428,
            "This write needs an If-Match header with the resource's current ETag.",
            kind="precondition-required",
        )
    etag = record_etag(record)
    if request.if_match.star_tag:
        return None
    if not request.if_match.contains(etag):
        raise Problem(
            412,
            f"The {record.type} is at revision {record.revision}; If-Match does not match its "
            "ETag. Read it again and retry.",
            kind="precondition-failed",
            headers={"ETag": quoted(etag)},
        )
    return record.revision
