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


def _is_pair(key: Any) -> bool:
    return isinstance(key, list) and len(key) == 2 and all(isinstance(x, str) for x in key)


#: The key shapes cursors carry: an id (str), a revision number (int), or (time, id).
KEY_SHAPES = {
    str: lambda key: isinstance(key, str),
    int: lambda key: isinstance(key, int) and not isinstance(key, bool) and key >= 0,
    "pair": _is_pair,
}


def decode_cursor(cursor: str | None, shape: Any) -> Any:
    """The key a cursor stands for (None without a cursor); 422 when it is not one this API
    issued for this list (undecodable, or a key of another shape)."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        key = None
    if key is None or not KEY_SHAPES[shape](key):
        raise Problem(
            422,
            "The cursor is not valid; pass next_cursor from a previous page unchanged.",
            kind="validation",
            errors={"cursor": ["Not a cursor issued by this API."]},
        )
    return key


def page_body(items: list[Any], next_key: Any | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The list body and its headers (a ``Link`` to the next page while there is one)."""
    if next_key is None:
        return {"items": items, "next_cursor": None}, {}
    cursor = encode_cursor(next_key)
    args = request.args.to_dict(flat=False)
    args["cursor"] = [cursor]
    url = f"{request.base_url}?{urlencode(args, doseq=True)}"
    return {"items": items, "next_cursor": cursor}, {"Link": f'<{url}>; rel="next"'}
