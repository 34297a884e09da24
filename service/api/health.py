"""Liveness and readiness probes."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from service.storage import StorageError

from .machinery.blueprint import Blueprint
from .machinery.errors import Problem
from .machinery.resources import store

blp = Blueprint(
    "health",
    __name__,
    description="Probes for load balancers and orchestrators (never rate-limited).",
    rate_limited=False,
)


class HealthSchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "ready"]), metadata={"example": "ok"})


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.operation("getHealth", errors=())
    def get(self):
        """Liveness: the process answers.

        Never rate-limited; it does not touch storage.
        """
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, HealthSchema)
    @blp.operation("getReadiness", errors=())
    def get(self):
        """Readiness: storage is ready.

        Storage is reachable, its schema current, not known to be damaged, and a write could
        succeed now (else 503). Never rate-limited.
        """
        try:
            store().check_ready()
        except StorageError as exc:
            raise Problem(
                503, f"Not ready: {exc}", kind="not-ready", headers={"Retry-After": "5"}
            ) from exc
        return {"status": "ready"}
