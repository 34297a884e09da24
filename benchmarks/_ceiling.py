"""The ceiling that ``crossing.py`` measures the service against: a bare Flask app with one
route answering a constant JSON body (a real decision's bytes, read once from the file named
by ``BENCH_CEILING_BODY``), served by the same ``gunicorn.conf.py``.

It carries the service's store only because ``gunicorn.conf.py``'s worker hook checks that
store's integrity when a worker boots; no request touches it.

``floor()`` is the service's own application with the same route (and one answering a bare
304) added: every hook the service runs for every request (metrics, CORS, compression,
security headers, the checks of headers and bodies) and no work, so no answer of the service
can cost less."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response

from service.config import Config
from service.storage import open_store

BODY = Path(os.environ["BENCH_CEILING_BODY"]).read_bytes()

app = Flask(__name__)
app.extensions["checkpoints.store"] = open_store(Config.from_env().database_url)


@app.get("/ceiling")
def ceiling() -> Response:
    return Response(BODY, mimetype="application/json")


@app.get("/readyz")
def ready() -> Response:
    return Response(b"{}", mimetype="application/json")


def floor() -> Flask:
    from service import create_app

    service = create_app()

    @service.get("/ceiling")
    def constant() -> Response:
        return Response(BODY, mimetype="application/json")

    @service.get("/ceiling-304")
    def not_modified() -> Response:
        answer = Response(status=304)
        answer.set_etag("ceiling")
        return answer

    return service
