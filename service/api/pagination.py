"""Cursor pagination: opaque URL-safe cursors and the ``Link: rel="next"`` header."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from flask import request

from .errors import Problem


def encode_cursor(key: Any) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """The key a cursor stands for; 422 when it is not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            "The cursor is not valid; pass next_cursor from a previous page unchanged.",
            kind="validation",
            errors={"cursor": ["Not a cursor issued by this API."]},
        ) from exc


def page_body(items: list[Any], next_key: Any | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The list body and its headers (a ``Link`` to the next page while there is one)."""
    if next_key is None:
        return {"items": items, "next_cursor": None}, {}
    cursor = encode_cursor(next_key)
    args = request.args.to_dict(flat=False)
    args["cursor"] = [cursor]
    url = f"{request.base_url}?{urlencode(args, doseq=True)}"
    return {"items": items, "next_cursor": cursor}, {"Link": f'<{url}>; rel="next"'}
