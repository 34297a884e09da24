"""HTTP: the flask-smorest Api, its blueprints, the error shape and the interactive docs."""

from __future__ import annotations

import http

import flask_smorest
from flask import Flask, redirect
from flask_smorest.utils import prepare_response
from flask_swagger_ui import get_swaggerui_blueprint

from schemas.common import ProblemSchema

from . import bodies, errors
from .errors import PROBLEM_JSON

API_DESCRIPTION = """\
The state of border crossing points: checkpoints, what each mode of travel (pedestrian,
cyclist, vehicle, goods) may do there over time, and closures. Every resource is versioned:
each write is a new revision, every past revision stays readable, and writes are
conditional on the revision the writer read (`If-Match`).

Reads are public. Writes need `Authorization: Bearer <token>`. Every error is
`application/problem+json` (RFC 9457). Times are RFC 3339 and come back in UTC with `Z`.
"""


class Api(flask_smorest.Api):
    """flask-smorest's Api, answering and documenting errors as problem+json."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):
        return errors.handle_http_exception(error)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = ProblemSchema
                prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)


def init_app(app: Flask) -> Api:
    """Wire the API into ``app``: configuration, blueprints, error handlers and docs."""
    from . import checkpoints, closures, decisions, feed, health, rules, waiting

    app.config.update(
        API_TITLE="Checkpoints API",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": API_DESCRIPTION,
                "license": {"name": "MIT", "identifier": "MIT"},
            },
            "servers": [{"url": app.config["CHECKPOINTS"].public_url}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A token made by `checkpoints token create`.",
                    }
                }
            },
        },
    )
    api = Api(app)
    errors.init_app(app)
    bodies.init_app(app)
    api.register_blueprint(health.blp)
    api.register_blueprint(checkpoints.blp)
    api.register_blueprint(rules.blp)
    api.register_blueprint(closures.blp)
    api.register_blueprint(decisions.blp)
    api.register_blueprint(feed.blp)
    waiting.init_app(app)

    docs = get_swaggerui_blueprint("/docs", "/openapi.json", config={"app_name": "Checkpoints API"})
    app.register_blueprint(docs, url_prefix="/docs")
    app.add_url_rule("/docs", "docs_redirect", lambda: redirect("/docs/", 308), strict_slashes=True)
    return api
