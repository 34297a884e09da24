"""``/v1/checkpoints``: border crossing points."""

from __future__ import annotations

from flask.views import MethodView

from schemas.checkpoints import (
    CHECKPOINT_EXAMPLE,
    CHECKPOINT_PAGE_EXAMPLE,
    CHECKPOINT_READ_EXAMPLE,
    CheckpointItemQuerySchema,
    CheckpointListQuerySchema,
    CheckpointPageSchema,
    CheckpointSchema,
)
from schemas.geojson import CheckpointFeatureCollectionSchema
from service.storage import CheckpointFilter

from .decisions import current_states
from .machinery.auth import require_role
from .machinery.blueprint import CONDITIONAL_ERRORS, WRITE_ERRORS, Blueprint, headers
from .machinery.bodies import read_json_object
from .machinery.held import hold, holds_answers
from .machinery.pagination import decode_cursor, page_body
from .machinery.representations import GEOJSON, JSON, feature, geojson_response, negotiate, vary
from .machinery.resources import (
    body_doc,
    create_item,
    delete_item,
    get_item,
    load_fields,
    replace_item,
    store,
)
from .revisions import add_revision_routes

blp = Blueprint(
    "checkpoints",
    __name__,
    url_prefix="/v1/checkpoints",
    description="Border crossing points, versioned: every write is a new revision.",
)

#: Fields the server sets; a PUT or PATCH may echo them back unchanged.
READ_ONLY = ("revision", "created_at", "updated_at")
_schema = CheckpointSchema()
GEOJSON_PAGE_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": CHECKPOINT_READ_EXAMPLE["id"],
            "geometry": {"type": "Point", "coordinates": [25.655, 54.538]},
            "properties": CHECKPOINT_READ_EXAMPLE,
        }
    ],
    "next_cursor": None,
}


@blp.route("")
class Checkpoints(MethodView):
    @holds_answers
    @blp.arguments(CheckpointListQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        CheckpointPageSchema,
        headers=headers("Link"),
        example=CHECKPOINT_PAGE_EXAMPLE,
        description="The page as JSON, or as GeoJSON (`Accept: application/geo+json`).",
    )
    @blp.alt_response(
        200,
        schema=CheckpointFeatureCollectionSchema,
        content_type=GEOJSON,
        example=GEOJSON_PAGE_EXAMPLE,
        description="The page as JSON, or as GeoJSON (`Accept: application/geo+json`).",
    )
    @blp.operation("listCheckpoints", errors=(406, 422))
    def get(self, limit, cursor=None, country=None, kind=None, q=None, state=None):
        """List checkpoints.

        Ordered by id. Filters combine with AND. `q` matches the name, the local names and the
        counterpart, ignoring case and diacritics; `state` is the derived state now (see
        `getCheckpointStatus`). With `Accept: application/geo+json`, an RFC 7946
        FeatureCollection: a Point `[lon, lat]` per checkpoint (`geometry: null` without a
        `location`), the checkpoint's JSON fields as `properties`, `next_cursor` as a foreign
        member. Any other `Accept` than these two (or `*/*`) is a `406`.
        """
        media_type = negotiate(JSON, GEOJSON)
        after = decode_cursor(cursor, str)
        ids, until = None, None
        if state is not None:
            states, until = current_states(country)
            ids = frozenset(i for i, s in states.items() if s == state)
        # A page depends on the stored checkpoints alone; by state, until a state can change.
        hold(until=until)
        page = store().list_checkpoints(
            filters=CheckpointFilter(country=country, kind=kind, q=q, ids=ids),
            after=after,
            limit=limit,
        )
        body, links = page_body(page.items, page.next_after)
        if media_type == GEOJSON:
            # The properties are the checkpoints as the JSON page gives them (times in UTC
            # with "Z", fractions only when there are some), not as stored.
            items = _schema.dump(body["items"], many=True)
            features = [feature(c["id"], c.get("location"), c) for c in items]
            return geojson_response(features, links, next_cursor=body["next_cursor"])
        return body, 200, vary(links)

    @blp.response(
        201,
        CheckpointSchema,
        headers=headers("ETag", "Location"),
        example={**CHECKPOINT_READ_EXAMPLE, "revision": 1},
    )
    @blp.doc(**body_doc(CheckpointSchema, CHECKPOINT_EXAMPLE))
    @blp.operation(
        "createCheckpoint",
        errors=(*WRITE_ERRORS, 409),
        write=True,
        request_headers=("Idempotency-Key",),
    )
    def post(self):
        """Create a checkpoint.

        The body carries the client-chosen `id`; `409` if that id is live. A deleted id may be
        created again: its history continues.
        """
        actor = require_role("editor")
        body = read_json_object()
        fields = load_fields(_schema, body, read_only=READ_ONLY)
        return create_item(
            "checkpoint",
            fields["id"],
            fields,
            actor=actor,
            endpoint="checkpoints.Checkpoint",
            url_arg="checkpoint_id",
        )


@blp.route("/<checkpoint_id>")
class Checkpoint(MethodView):
    @holds_answers
    @blp.arguments(CheckpointItemQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, CheckpointSchema, headers=headers("ETag"), example=CHECKPOINT_READ_EXAMPLE)
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("getCheckpoint", errors=(404, 422), request_headers=("If-None-Match",))
    def get(self, checkpoint_id, as_of=None):
        """Get a checkpoint.

        With `as_of`, the checkpoint as it was recorded at that time (404 before it was created
        or while it was deleted); as of a time at least a minute past, also with
        `Cache-Control: public, max-age=31536000, immutable`. `If-None-Match` gives `304`.
        """
        if as_of is None:
            hold()
        return get_item("checkpoint", checkpoint_id, as_of=as_of)

    @blp.response(200, CheckpointSchema, headers=headers("ETag"))
    @blp.doc(**body_doc(CheckpointSchema, CHECKPOINT_EXAMPLE))
    @blp.operation("replaceCheckpoint", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS), write=True)
    def put(self, checkpoint_id):
        """Replace a checkpoint.

        Needs `If-Match`. Read-only fields may be sent back only unchanged; `id` must equal the
        path's.
        """
        actor = require_role("editor")
        return replace_item(
            "checkpoint",
            checkpoint_id,
            _schema,
            actor=actor,
            read_only=READ_ONLY,
            pinned={"id": checkpoint_id},
        )

    @blp.response(200, CheckpointSchema, headers=headers("ETag"))
    @blp.doc(**body_doc(CheckpointSchema, {"opening_hours": "Mo-Fr 08:00-20:00"}, patch=True))
    @blp.operation("patchCheckpoint", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS), write=True)
    def patch(self, checkpoint_id):
        """Change a checkpoint (JSON Merge Patch, RFC 7396).

        Needs `If-Match`. `null` removes an optional field.
        """
        actor = require_role("editor")
        return replace_item(
            "checkpoint",
            checkpoint_id,
            _schema,
            actor=actor,
            read_only=READ_ONLY,
            patch=True,
            pinned={"id": checkpoint_id},
        )

    @blp.response(204)
    @blp.operation("deleteCheckpoint", errors=(401, 403, *CONDITIONAL_ERRORS), write=True)
    def delete(self, checkpoint_id):
        """Delete a checkpoint (admin).

        Needs `If-Match`. Leaves a tombstone revision; its rules and closures go too.
        """
        actor = require_role("admin")
        return delete_item("checkpoint", checkpoint_id, actor=actor)


add_revision_routes(blp, "checkpoint", "checkpoint_id", prefix="")
