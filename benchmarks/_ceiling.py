"""The ceiling that ``crossing.py`` measures the service against: a bare Flask app with one
route answering a constant JSON body (a real decision's bytes, read once from the file named
by ``BENCH_CEILING_BODY``), served by the same ``gunicorn.conf.py``.

It carries the service's store only because ``gunicorn.conf.py``'s worker hook checks that
store's integrity when a worker boots; no request touches it."""

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
