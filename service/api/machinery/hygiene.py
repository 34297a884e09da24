"""Response hygiene: gzip for large JSON, ``X-Content-Type-Options: nosniff`` everywhere, and
a strict Content-Security-Policy (the docs page's own, or one that allows nothing)."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request
from flask_compress import Compress

#: Smaller JSON bodies are sent as they are: gzip would save too little to be worth it.
COMPRESS_MIN_BYTES = 1024
#: Every response that is not the docs page: nothing may be loaded, framed or run from it.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: flask-swagger-ui's blueprint: the only HTML pages (/docs/).
DOCS_BLUEPRINT = "swagger_ui"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _source_hash(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def _docs_csp(app: Flask) -> str:
    """The docs page's policy: its own scripts, styles and images from /docs/, the one inline
    script of flask-swagger-ui's template (by its hash), and fetches to this API only."""
    with app.test_request_context("/docs/"):
        page = app.view_functions[f"{DOCS_BLUEPRINT}.show"]()
    hashes = " ".join(_source_hash(script) for script in _INLINE_SCRIPT.findall(page))
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {hashes}",
            # swagger-ui-bundle.js injects a <style> element of its own at run time.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            # The spec's server is relative ("/"): "Try it out" fetches from this origin.
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _compressible(response: Response) -> bool:
    """Large read answers are gzipped; a resource's own representation never is, so that the
    ETag a client reads is the one its If-Match is compared with."""
    if response.status_code != 200 or request.method not in {"GET", "HEAD", "POST"}:
        return False
    if response.mimetype != "application/json" or response.is_streamed:
        return False
    rule = request.url_rule
    return rule is not None and not (rule.methods or set()) & {"PUT", "PATCH", "DELETE"}


def init_app(app: Flask) -> None:
    """Register the after-request hygiene; call it after the docs blueprint, whose page's
    inline script it hashes."""
    app.config.update(
        COMPRESS_REGISTER=False,
        COMPRESS_ALGORITHM=["gzip"],
        COMPRESS_MIMETYPES=["application/json"],
        COMPRESS_MIN_SIZE=COMPRESS_MIN_BYTES,
        # Streams (Server-Sent Events) are passed through as they are produced.
        COMPRESS_STREAMS=False,
    )
    compress = Compress(app)
    docs_csp = _docs_csp(app)

    @app.after_request
    def _hygiene(response: Response) -> Response:
        if _compressible(response):
            response = compress.after_request(response)
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.mimetype == "text/html" and request.blueprint == DOCS_BLUEPRINT:
            response.headers["Content-Security-Policy"] = docs_csp
        elif "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = API_CSP
        return response
