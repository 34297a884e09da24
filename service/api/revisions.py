"""``/{resource}/{id}/revisions`` and ``/{resource}/{id}/revisions/{n}``, for every kind."""

from __future__ import annotations

from flask.views import MethodView

from schemas.common import MAX_INTEGER, PaginationQuerySchema, RevisionPageSchema, RevisionSchema

from .machinery.blueprint import Blueprint, headers
from .machinery.pagination import decode_cursor, page_body
from .machinery.resources import store


def add_revision_routes(blp: Blueprint, resource_type: str, id_param: str, *, prefix: str) -> None:
    """Register the two revision routes of ``resource_type`` on ``blp``."""
    plural = resource_type.capitalize() + "s"

    class RevisionList(MethodView):
        @blp.arguments(PaginationQuerySchema, location="query", as_kwargs=True)
        @blp.response(200, RevisionPageSchema, headers=headers("Link"))
        @blp.operation(f"list{resource_type.capitalize()}Revisions", errors=(404, 422))
        def get(self, limit, cursor=None, **ids):
            """Its revisions, oldest first (deletions included).

            Each with its action, time, actor and the whole resource as of that revision
            (null for a deletion); still readable after the resource is deleted.
            """
            after = decode_cursor(cursor, int) or 0
            page = store().revisions(
                resource_type=resource_type, resource_id=ids[id_param], after=after, limit=limit
            )
            return page_body([item.as_dict() for item in page.items], page.next_after)

    class RevisionItem(MethodView):
        @blp.response(200, RevisionSchema)
        @blp.operation(f"get{resource_type.capitalize()}Revision", errors=(404,))
        def get(self, number, **ids):
            """One revision.

            Numbered from 1 (the creation); a number beyond the newest is a `404`.
            """
            return (
                store()
                .revision(resource_type=resource_type, resource_id=ids[id_param], number=number)
                .as_dict()
            )

    # flask-smorest names endpoints after the class: give each kind's classes their own names.
    RevisionList.__name__ = f"{plural}RevisionList"
    RevisionItem.__name__ = f"{plural}RevisionItem"
    blp.route(f"{prefix}/<{id_param}>/revisions")(RevisionList)
    blp.route(f"{prefix}/<{id_param}>/revisions/<int(min=1, max={MAX_INTEGER}):number>")(
        RevisionItem
    )
