"""Rate limits, by Flask-Limiter: writes per token, everything else per client address.

Two policies, each one limit (``Config.ratelimit_read`` and ``Config.ratelimit_write``):

- ``write``: a write (POST, PUT, PATCH, DELETE; not ``POST /v1/decisions``) with a valid
  token counts against that token's name.
- ``read``: every other request counts against the client's address: reads, the batch of
  decisions (weighed by its number of queries) and writes without a valid token (so guessing
  tokens costs what reading does).

The probes, ``/metrics``, ``/openapi.json`` and ``/docs`` are exempt. A long-poll or an event
stream counts once, when it starts. Every counted answer carries ``RateLimit`` and
``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers); a refusal is a ``429`` problem
with ``Retry-After`` as well.

Counters live in ``Config.ratelimit_storage_url``: ``memory://`` counts in each worker
process on its own, ``redis://…`` is shared. When that store cannot be reached, each worker
falls back to counting in its own memory (one warning per worker), and goes back to the
store once it answers again: an outage never turns into errors.
"""

from __future__ import annotations

import logging
import math
import sys
import time

from flask import Flask, Response, current_app, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import parse_many
from limits.errors import StorageError

from service import storage

from . import auth
from .bodies import read_json
from .cors import PUBLIC_POST_RULES, WRITE_METHODS
from .errors import Problem

#: Endpoints outside the API's blueprints that are never limited.
EXEMPT_ENDPOINTS = frozenset({"api-docs.openapi_json", "prometheus_metrics", "docs_redirect"})
EXEMPT_BLUEPRINTS = frozenset({"api-docs", "swagger_ui"})
#: How long a request waits for the shared store before it counts as unreachable, in seconds.
STORE_TIMEOUT = 0.5
_LOGGER = "flask-limiter"
_WHAT = {"read": "requests from this client address", "write": "writes with this token"}


def _limit(setting: str, value: str):
    """The one limit of a setting such as ``600/minute``, over at most a day (the longest
    ``Retry-After`` the spec allows)."""
    try:
        items = parse_many(value)
    except ValueError:
        items = []
    if len(items) != 1 or items[0].get_expiry() > 86400:
        raise ValueError(
            f"{setting}: {value!r} is not one rate limit such as 600/minute "
            "(N per second, minute, hour or day)"
        )
    return items[0]


def _token_name() -> str | None:
    """The name of the valid token a write carries; None for a read, a public POST or a write
    without a valid token."""
    if request.method not in WRITE_METHODS:
        return None
    if request.url_rule is not None and request.url_rule.rule in PUBLIC_POST_RULES:
        return None
    try:
        token = auth.current_token()
    except storage.StorageError:
        return None  # the view answers the storage failure itself
    return token.name if token is not None else None


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _exempt() -> bool:
    blueprint = current_app.blueprints.get(request.blueprint or "")
    return (
        request.endpoint in EXEMPT_ENDPOINTS
        or request.blueprint in EXEMPT_BLUEPRINTS
        or getattr(blueprint, "rate_limited", True) is False
    )


def _batch_weight(cap: int):
    """The cost of a read: a batch of decisions weighs its number of queries (at most the
    whole limit, so the largest batch still fits in a fresh window); anything else 1."""

    def cost() -> int:
        if request.method != "POST" or request.url_rule is None:
            return 1
        if request.url_rule.rule not in PUBLIC_POST_RULES:
            return 1
        try:
            body = read_json()
        except Problem:  # an unreadable body weighs 1; the view answers what is wrong
            return 1
        queries = body.get("queries") if isinstance(body, dict) else None
        return min(max(len(queries), 1), cap) if isinstance(queries, list) else 1

    return cost


def _headers(response: Response) -> Response:
    """``RateLimit`` and ``RateLimit-Policy`` on every counted answer; on a 429, also
    ``Retry-After``. Written here only."""
    limiter: Limiter = current_app.extensions["checkpoints.limiter"]
    current = limiter.current_limit
    if current is None:
        return response
    try:
        reset_time, remaining = current.window
    except Exception:  # the store went away after counting: answer without the headers
        return response
    policy = current.request_args[-1]
    item = current.limit
    seconds = max(0, math.ceil(reset_time - time.time()))
    response.headers["RateLimit-Policy"] = f'"{policy}";q={item.amount};w={item.get_expiry()}'
    response.headers["RateLimit"] = f'"{policy}";r={max(remaining, 0)};t={seconds}'
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(seconds, 1))
    return response


def _refused(error: RateLimitExceeded) -> Response:
    policy = error.limit.scope
    return Problem(
        429,
        f"Too many {_WHAT.get(policy, 'requests')}: the limit is {error.limit.limit}. "
        "Retry after the seconds in Retry-After.",
        kind="rate-limited",
    ).response()


class _Stderr(logging.StreamHandler):
    """Standard error as it is when a record is written (gunicorn's log, or a test's capture)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


_WARNINGS = _Stderr()
_WARNINGS.setLevel(logging.WARNING)


def _told_once(record: logging.LogRecord) -> bool:
    """An outage of the store is told once, by Flask-Limiter's warning as it falls back to
    memory; requests that were already waiting on the store then are let through without a
    traceback each."""
    return not (record.exc_info and isinstance(record.exc_info[1], StorageError))


def init_app(app: Flask) -> Limiter | None:
    """Count requests against their policy before any view runs; None when switched off."""
    config = app.config["CHECKPOINTS"]
    read = _limit("CHECKPOINTS_RATELIMIT_READ", config.ratelimit_read)
    _limit("CHECKPOINTS_RATELIMIT_WRITE", config.ratelimit_write)
    if not config.ratelimit_enabled:
        return None
    url = config.ratelimit_storage_url
    # Failures of the store come as limits' StorageError, which _told_once recognises.
    options: dict = {"wrap_exceptions": True}
    if url.startswith(("redis://", "rediss://", "redis+unix://")):
        options |= {"socket_connect_timeout": STORE_TIMEOUT, "socket_timeout": STORE_TIMEOUT}
    limiter = Limiter(
        key_func=_client_address,
        application_limits=[
            ApplicationLimit(
                config.ratelimit_read,
                key_function=_client_address,
                scope="read",
                cost=_batch_weight(read.amount),
                exempt_when=lambda: _token_name() is not None,
            ),
            ApplicationLimit(
                config.ratelimit_write,
                key_function=lambda: _token_name() or "",
                scope="write",
                exempt_when=lambda: _token_name() is None,
            ),
        ],
        storage_uri=url,
        storage_options=options,
        key_prefix=config.ratelimit_key_prefix,
        strategy="fixed-window",
        headers_enabled=False,  # _headers writes the draft's fields instead of X-RateLimit-*
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    # Flask-Limiter gives its logger a NullHandler, which silences its warnings (a store that
    # cannot be reached) where nothing else configures logging, as under gunicorn.
    logger = logging.getLogger(_LOGGER)
    if _WARNINGS not in logger.handlers:
        logger.addHandler(_WARNINGS)
        logger.addFilter(_told_once)
    limiter.request_filter(_exempt)
    limiter.init_app(app)
    app.extensions["checkpoints.limiter"] = limiter
    app.errorhandler(RateLimitExceeded)(_refused)
    app.after_request(_headers)
    return limiter
