"""``/v1/checkpoints/{id}/closures``, ``/v1/closures`` and ``/v1/closures/{closure_id}``."""

from __future__ import annotations

from flask.views import MethodView

from schemas.closures import (
    CLOSURE_EXAMPLE,
    CLOSURE_PAGE_EXAMPLE,
    CLOSURE_READ_EXAMPLE,
    AllClosuresQuerySchema,
    ClosureListQuerySchema,
    ClosurePageSchema,
    ClosureSchema,
)
from service.storage import ClosureFilter

from .auth import require_role
from .blueprint import CONDITIONAL_ERRORS, WRITE_ERRORS, Blueprint, headers
from .pagination import decode_cursor, page_body
from .resources import (
    body_doc,
    create_child,
    delete_item,
    get_item,
    replace_child,
    store,
    time_key,
)
from .revisions import add_revision_routes

blp = Blueprint(
    "closures",
    __name__,
    url_prefix="/v1",
    description="Periods in which a checkpoint, or some of its modes, is shut. Closures may "
    "overlap; an extended or lifted closure is a new revision of the same closure.",
)
_schema = ClosureSchema()
ETAG = headers("ETag")


def _list(cursor, limit, **filters):
    filters = {
        k: time_key(v) if k in {"active_at", "start", "end"} else v for k, v in filters.items()
    }
    page = store().list_closures(
        filters=ClosureFilter(**filters), after=decode_cursor(cursor, "pair"), limit=limit
    )
    return page_body(page.items, page.next_after)


@blp.route("/checkpoints/<checkpoint_id>/closures")
class CheckpointClosures(MethodView):
    @blp.arguments(ClosureListQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, ClosurePageSchema, headers=headers("Link"), example=CLOSURE_PAGE_EXAMPLE)
    @blp.operation("listCheckpointClosures", errors=(404, 422))
    def get(self, checkpoint_id, limit, cursor=None, **filters):
        """A checkpoint's closure history.

        Past, present and future closures ordered by `starts_at`. `active_at` keeps those in
        effect at that time; `from`/`to` keep those in effect at some time in [from, to).
        """
        return _list(cursor, limit, checkpoint_id=checkpoint_id, **filters)

    @blp.response(
        201, ClosureSchema, headers=headers("ETag", "Location"), example=CLOSURE_READ_EXAMPLE
    )
    @blp.doc(**body_doc(ClosureSchema, CLOSURE_EXAMPLE))
    @blp.operation(
        "createClosure",
        errors=(*WRITE_ERRORS, 404, 409),
        write=True,
        request_headers=("Idempotency-Key",),
    )
    def post(self, checkpoint_id):
        """Create a closure."""
        actor = require_role("editor")
        return create_child(
            "closure",
            checkpoint_id,
            _schema,
            actor=actor,
            endpoint="closures.Closure",
            url_arg="closure_id",
        )


@blp.route("/closures")
class Closures(MethodView):
    @blp.arguments(AllClosuresQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, ClosurePageSchema, headers=headers("Link"), example=CLOSURE_PAGE_EXAMPLE)
    @blp.operation("listClosures", errors=(422,))
    def get(self, limit, cursor=None, **filters):
        """Every checkpoint's closures.

        The same filters as a checkpoint's closure history, plus `country`.
        """
        return _list(cursor, limit, **filters)


@blp.route("/closures/<closure_id>")
class Closure(MethodView):
    @blp.response(200, ClosureSchema, headers=ETAG, example=CLOSURE_READ_EXAMPLE)
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("getClosure", errors=(404,), request_headers=("If-None-Match",))
    def get(self, closure_id):
        """Get a closure."""
        return get_item("closure", closure_id)

    @blp.response(200, ClosureSchema, headers=ETAG)
    @blp.doc(**body_doc(ClosureSchema, CLOSURE_EXAMPLE))
    @blp.operation("replaceClosure", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS), write=True)
    def put(self, closure_id):
        """Replace a closure (needs `If-Match`)."""
        actor = require_role("editor")
        return replace_child("closure", closure_id, _schema, actor=actor, patch=False)

    @blp.response(200, ClosureSchema, headers=ETAG)
    @blp.doc(**body_doc(ClosureSchema, {"ends_at": "2025-11-20T00:00:00+02:00"}, patch=True))
    @blp.operation("patchClosure", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS), write=True)
    def patch(self, closure_id):
        """Change a closure (JSON Merge Patch; needs `If-Match`): extend, shorten or lift it."""
        actor = require_role("editor")
        return replace_child("closure", closure_id, _schema, actor=actor, patch=True)

    @blp.response(204)
    @blp.operation("deleteClosure", errors=(401, 403, *CONDITIONAL_ERRORS), write=True)
    def delete(self, closure_id):
        """Delete a closure (needs `If-Match`); its history stays readable."""
        actor = require_role("editor")
        return delete_item("closure", closure_id, actor=actor)


add_revision_routes(blp, "closure", "closure_id", prefix="/closures")
