"""API token secrets: how they are made and hashed. Only the hash is ever stored or looked
up; the API and the operator CLI share these."""

from __future__ import annotations

import hashlib
import secrets

_PREFIX = "cpt_"


def new_secret() -> str:
    """A fresh token secret (256 bits of randomness)."""
    return _PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
