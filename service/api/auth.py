"""Bearer tokens: secrets are hashed before they are stored or looked up; the token's name
is the actor of every write it makes."""

from __future__ import annotations

import hmac

from flask import current_app, request

from service.bearer_tokens import hash_secret
from service.domain.model import ROLES

from .errors import Problem

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def require_role(role: str) -> str:
    """Return the calling token's name if it holds ``role`` (or higher); else 401 or 403."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    challenge = {"WWW-Authenticate": 'Bearer realm="checkpoints"'}
    if scheme.lower() != "bearer" or not secret:
        raise Problem(
            401,
            "Writes need an Authorization: Bearer <token> header.",
            kind="unauthorized",
            headers=challenge,
        )
    secret_hash = hash_secret(secret)
    token = current_app.extensions["checkpoints.store"].token_by_hash(secret_hash=secret_hash)
    # Secrets are looked up by their SHA-256 digest, never compared as text, so the lookup's
    # timing says nothing about the secret; the digests are then compared in constant time.
    if token is None or not hmac.compare_digest(token.secret_hash, secret_hash):
        raise Problem(
            401,
            "The token is not valid (unknown or revoked).",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="checkpoints", error="invalid_token"'},
        )
    if ROLE_RANK.get(token.role, 0) < ROLE_RANK[role]:
        raise Problem(
            403,
            f"The token {token.name!r} has the role {token.role!r}; this write needs {role!r}.",
            kind="forbidden",
        )
    return token.name
