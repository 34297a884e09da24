"""``Idempotency-Key`` on POST: the same key and body replay the first response; the same
key with another body is a 422. The key is looked up and stored in the create's own
transaction (see ``Store.create``)."""

from __future__ import annotations

import hashlib
import json

from flask import current_app, request

from service.storage import IdempotencyKey

from .bodies import read_json
from .errors import Problem

HEADER = "Idempotency-Key"
_MAX_LENGTH = 255


def fingerprint() -> str:
    """The request's identity: method, path and body (JSON compared by value)."""
    try:
        body = json.dumps(read_json(), sort_keys=True, separators=(",", ":")).encode()
    except Problem:
        body = request.get_data(cache=True)
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def key_of(actor: str) -> IdempotencyKey | None:
    """The request's idempotency key for ``actor``; None without one."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > _MAX_LENGTH or not key.isascii() or not key.isprintable():
        raise Problem(
            400,
            f"{HEADER} must be 1 to {_MAX_LENGTH} printable ASCII characters.",
            kind="bad-idempotency-key",
        )
    ttl = current_app.config["CHECKPOINTS"].idempotency_ttl
    return IdempotencyKey(actor, key, fingerprint(), ttl)
