"""Cross-origin requests from browsers: reads from any origin, writes only from the origins
in the configuration (``Config.cors_write_origins``).

flask-cors decides by path; here one path takes both reads and writes, so the request's
method (or, for a preflight, the method it announces) picks which of its option sets
applies. flask-cors then writes the headers.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request
from flask_cors.core import (
    ACL_REQUEST_HEADER_PRIVATE_NETWORK,
    FLASK_CORS_EVALUATED,
    get_cors_headers,
    get_cors_options,
    set_cors_headers,
)
from werkzeug.datastructures import Headers

#: Reads: answered to any origin.
READ_METHODS = ("GET", "HEAD")
#: Writes: answered only to the configured origins.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: URL rules whose POST is a read with a body, open to any origin like the other reads.
PUBLIC_POST_RULES = frozenset({"/v1/decisions"})
#: Request headers a browser client may send (besides the CORS-safelisted ones).
ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Last-Event-ID",
)
#: Response headers a browser client may read (besides the CORS-safelisted ones).
EXPOSE_HEADERS = (
    "ETag",
    "Location",
    "Link",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "Cache-Control",
    "WWW-Authenticate",
)
#: How long a browser may cache a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = 600
_ORIGIN = re.compile(r"^https?://[^/?#*\s]+$")


def _options(app: Flask, origins, methods):
    public = origins == "*"
    return get_cors_options(
        app,
        {
            "origins": origins,
            # A public answer says so even to a request without Origin: a shared cache may
            # serve it to a browser later (decisions are `Cache-Control: public`).
            "always_send": public,
            "methods": [*methods, "OPTIONS"],
            "allow_headers": list(ALLOW_HEADERS),
            "expose_headers": list(EXPOSE_HEADERS),
            "max_age": PREFLIGHT_MAX_AGE,
            # No cookies are read: a token travels in Authorization, which a page sends itself.
            "supports_credentials": False,
            "send_wildcard": True,
            "vary_header": True,
        },
    )


def _write_origins(origins: tuple[str, ...]) -> list[re.Pattern[str]]:
    """The configured origins as exact, case-insensitive patterns (never wildcards)."""
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ValueError(
                f"CHECKPOINTS_CORS_WRITE_ORIGINS: {origin!r} is not an origin "
                "(scheme://host[:port], no path, no wildcard)"
            )
    return [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in origins]


def init_app(app: Flask) -> None:
    """Answer CORS requests and preflights on every response, errors included."""
    write_origins = _write_origins(app.config["CHECKPOINTS"].cors_write_origins)
    reads = _options(app, "*", READ_METHODS)
    public_posts = _options(app, "*", (*READ_METHODS, "POST"))
    # With no origin configured, no origin matches: browsers are refused every write.
    writes = _options(app, write_origins or [re.compile(r"(?!)")], (*READ_METHODS, *WRITE_METHODS))
    # A read that is not a preflight gets the same headers whatever its Origin (the wildcard)
    # and whichever read options apply: flask-cors's answer, worked out once.
    read_headers = list(get_cors_headers(reads, Headers(), "GET").items(multi=True))

    @app.after_request
    def _cors(response: Response) -> Response:
        method = request.method
        if (
            method in READ_METHODS
            and ACL_REQUEST_HEADER_PRIVATE_NETWORK not in request.headers
            and not hasattr(response, FLASK_CORS_EVALUATED)
        ):
            headers = response.headers
            for name, value in read_headers:
                headers.add(name, value)
            return response
        if method == "OPTIONS":
            method = request.headers.get("Access-Control-Request-Method", "GET").upper()
        rule = request.url_rule.rule if request.url_rule is not None else None
        if rule in PUBLIC_POST_RULES:
            options = public_posts if method in (*READ_METHODS, "POST") else writes
        else:
            options = reads if method in (*READ_METHODS, "OPTIONS") else writes
        set_cors_headers(response, options)
        return response
