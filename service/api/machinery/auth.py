"""Bearer tokens: secrets are hashed before they are stored or looked up; the token's name
is the actor of every write it makes."""

from __future__ import annotations

import hmac

from flask import current_app, g, request

from service.bearer_tokens import hash_secret
from service.domain.model import ROLES

from .errors import Problem

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


def _secret() -> str:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def current_token():
    """The request's token if it is valid (known and not revoked), else None; looked up once
    per request."""
    if "checkpoints_token" in g:
        return g.checkpoints_token
    secret = _secret()
    token = None
    if secret:
        secret_hash = hash_secret(secret)
        token = current_app.extensions["checkpoints.store"].token_by_hash(secret_hash=secret_hash)
        # Secrets are looked up by their SHA-256 digest, never compared as text, so the
        # lookup's timing says nothing about the secret; the digests are then compared in
        # constant time.
        if token is not None and not hmac.compare_digest(token.secret_hash, secret_hash):
            token = None
    g.checkpoints_token = token
    return token


def require_role(role: str) -> str:
    """Return the calling token's name if it holds ``role`` (or higher); else 401 or 403."""
    if not _secret():
        raise Problem(
            401,
            "Writes need an Authorization: Bearer <token> header.",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="checkpoints"'},
        )
    token = current_token()
    if token is None:
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
