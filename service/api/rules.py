"""``/v1/checkpoints/{id}/rules`` and ``/v1/rules/{rule_id}``: per-mode rules."""

from __future__ import annotations

from flask.views import MethodView

from schemas.rules import (
    RULE_EXAMPLE,
    RULE_PAGE_EXAMPLE,
    RULE_READ_EXAMPLE,
    RuleListQuerySchema,
    RulePageSchema,
    RuleSchema,
)
from service.storage import RuleFilter

from .machinery.auth import require_role
from .machinery.blueprint import CONDITIONAL_ERRORS, WRITE_ERRORS, Blueprint, headers
from .machinery.held import hold, holds_answers
from .machinery.pagination import decode_cursor, page_body
from .machinery.representations import (
    CSV,
    JSON,
    RULE_COLUMNS,
    csv_response,
    csv_text,
    negotiate,
    vary,
)
from .machinery.resources import (
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
    "rules",
    __name__,
    url_prefix="/v1",
    description="What one mode (pedestrian, cyclist, vehicle, goods) may do at a checkpoint "
    "over a period. Rules of one checkpoint and mode never overlap in time.",
)
_schema = RuleSchema()
ETAG = headers("ETag")
AS_CSV = (
    "The page as JSON, or as CSV (`Accept: text/csv`): a header row, then one rule per row; "
    "`condition` as JSON, `conditions_text` joined by `; `, `source` in three columns."
)


@blp.route("/checkpoints/<checkpoint_id>/rules")
class CheckpointRules(MethodView):
    @blp.arguments(RuleListQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        RulePageSchema,
        headers=headers("Link"),
        example=RULE_PAGE_EXAMPLE,
        description=AS_CSV,
    )
    @blp.alt_response(
        200,
        content_type=CSV,
        schema={"type": "string", "maxLength": 10_000_000},
        example=csv_text(RULE_COLUMNS, [RULE_READ_EXAMPLE]),
        description=AS_CSV,
    )
    @blp.operation("listRules", errors=(404, 406, 422))
    def get(self, checkpoint_id, limit, cursor=None, mode=None, at=None):
        """List a checkpoint's rules.

        Ordered by `valid_from`. `at` keeps the rules in force at that time. As JSON, or as
        CSV with `Accept: text/csv` (a cell that a spreadsheet would read as a formula,
        starting with `=`, `+`, `-` or `@`, is prefixed with `'`); any other `Accept` is a
        `406`.
        """
        media_type = negotiate(JSON, CSV)
        page = store().list_rules(
            filters=RuleFilter(checkpoint_id=checkpoint_id, mode=mode, at=time_key(at)),
            after=decode_cursor(cursor, "pair"),
            limit=limit,
        )
        body, links = page_body(page.items, page.next_after)
        if media_type == CSV:
            return csv_response(RULE_COLUMNS, body["items"], links)
        return body, 200, vary(links)

    @blp.response(201, RuleSchema, headers=headers("ETag", "Location"), example=RULE_READ_EXAMPLE)
    @blp.doc(**body_doc(RuleSchema, RULE_EXAMPLE))
    @blp.operation(
        "createRule",
        errors=(*WRITE_ERRORS, 404, 409),
        write=True,
        request_headers=("Idempotency-Key",),
    )
    def post(self, checkpoint_id):
        """Create a rule.

        `409` when it would overlap another rule of the same checkpoint and mode (the problem
        names that rule in `conflicting`).
        """
        actor = require_role("editor")
        return create_child(
            "rule", checkpoint_id, _schema, actor=actor, endpoint="rules.Rule", url_arg="rule_id"
        )


@blp.route("/rules/<rule_id>")
class Rule(MethodView):
    @holds_answers
    @blp.response(200, RuleSchema, headers=ETAG, example=RULE_READ_EXAMPLE)
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("getRule", errors=(404,), request_headers=("If-None-Match",))
    def get(self, rule_id):
        """Get a rule.

        With its `ETag`: send it back in `If-Match` to change or delete the rule.
        """
        hold()
        return get_item("rule", rule_id)

    @blp.response(200, RuleSchema, headers=ETAG)
    @blp.doc(**body_doc(RuleSchema, RULE_EXAMPLE))
    @blp.operation("replaceRule", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS, 409), write=True)
    def put(self, rule_id):
        """Replace a rule (needs `If-Match`).

        Fields left out take their defaults; `checkpoint_id` stays. A write that would overlap
        another rule of the same checkpoint and mode is a `409`.
        """
        actor = require_role("editor")
        return replace_child("rule", rule_id, _schema, actor=actor, patch=False)

    @blp.response(200, RuleSchema, headers=ETAG)
    @blp.doc(**body_doc(RuleSchema, {"valid_until": "2025-11-20T00:00:00+02:00"}, patch=True))
    @blp.operation("patchRule", errors=(*WRITE_ERRORS, *CONDITIONAL_ERRORS, 409), write=True)
    def patch(self, rule_id):
        """Change a rule (JSON Merge Patch; needs `If-Match`).

        Only the fields sent change; `null` removes an optional one. A write that would overlap
        another rule of the same checkpoint and mode is a `409`.
        """
        actor = require_role("editor")
        return replace_child("rule", rule_id, _schema, actor=actor, patch=True)

    @blp.response(204)
    @blp.operation("deleteRule", errors=(401, 403, *CONDITIONAL_ERRORS), write=True)
    def delete(self, rule_id):
        """Delete a rule (needs `If-Match`); its history stays readable.

        The deletion is a new revision (action `deleted`); the rule then answers `404`.
        """
        actor = require_role("editor")
        return delete_item("rule", rule_id, actor=actor)


add_revision_routes(blp, "rule", "rule_id", prefix="/rules")
