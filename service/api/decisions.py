"""``/v1/decisions``, ``/v1/checkpoints/{id}/status`` and ``/v1/status``: the crossing answer.

The decision itself is ``service.domain.decide``; this module only feeds it stored resources
and sets how long the answer may be cached. Current answers are made from the inputs this
process holds (``service.storage.held``, revalidated by one query per request), and an answer
about a given time is held with them. With ``as_of`` (transaction time) the resources are read
as they were recorded then, never from the held inputs, and an answer about a settled past is
cached for good.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import current_app, json
from flask.views import MethodView
from marshmallow import ValidationError

from schemas.decisions import (
    BATCH_EXAMPLE,
    BATCH_RESULT_EXAMPLE,
    DECISION_EXAMPLE,
    STATUS_EXAMPLE,
    STATUS_PAGE_EXAMPLE,
    AllStatusQuerySchema,
    BatchItemSchema,
    BatchRequestSchema,
    BatchResultSchema,
    BatchSchema,
    DecisionQuerySchema,
    DecisionSchema,
    StatusPageSchema,
    StatusQuerySchema,
    StatusSchema,
)
from schemas.geojson import StatusFeatureCollectionSchema
from service.domain import (
    FACTS,
    MODES,
    Decision,
    decide,
    derive_state,
    format_time,
)
from service.storage import DecisionInput, NotFound
from service.storage.held import HeldInputs
from service.storage.times import to_stamp

from .machinery.answers import answered
from .machinery.blueprint import Blueprint, headers
from .machinery.bodies import read_json_object
from .machinery.errors import Problem, flatten_errors
from .machinery.etags import not_modified
from .machinery.held import held, hold, holds_answers
from .machinery.history import IMMUTABLE, settled
from .machinery.pagination import decode_cursor, page_body
from .machinery.representations import GEOJSON, JSON, feature, geojson_response, negotiate, vary
from .machinery.resources import store

blp = Blueprint(
    "decisions",
    __name__,
    url_prefix="/v1",
    description="May this mode cross here at this time — and until when does the answer hold?",
)
CACHE_HEADERS = headers("ETag", "Cache-Control")
# Statuses are dumped once, in the view (their ETag is over the dumped content), by the same
# answered form the operations declare; the view then answers with the dumped content.
STATUS_SCHEMA = answered(StatusSchema)()
STATUS_PAGE_SCHEMA = answered(StatusPageSchema)()

GEOJSON_STATUS_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": STATUS_EXAMPLE["checkpoint_id"],
            "geometry": {"type": "Point", "coordinates": [25.655, 54.538]},
            "properties": STATUS_EXAMPLE,
        }
    ],
    "next_cursor": None,
}


def decide_with(item: DecisionInput, mode: str, at: datetime, facts: dict[str, str]) -> Decision:
    """One mode's decision at ``at`` from a checkpoint's decision inputs."""
    return decide(
        checkpoint=item.checkpoint,
        rules=item.rules,
        closures=item.closures,
        mode=mode,
        at=at,
        facts=facts,
    )


def status(
    item: DecisionInput, at: datetime, facts: dict[str, str], held: HeldInputs | None = None
) -> dict[str, Any]:
    """The four decisions of one checkpoint, its derived state and the earliest valid_until.
    ``held``: the held inputs ``item`` comes from, when ``at`` is now (each decision is then
    reused within the interval it holds for, as ``current_decision`` does)."""
    checkpoint = item.checkpoint
    if held is not None:
        decisions = {
            mode: current_decision(held, checkpoint.id, mode, facts, now=at) for mode in MODES
        }
    else:
        decisions = {mode: decide_with(item, mode, at, facts) for mode in MODES}
    ends = [d.valid_until for d in decisions.values() if d.valid_until is not None]
    return {
        "checkpoint_id": checkpoint.id,
        "at": at,
        "state": derive_state(decisions),
        "modes": {mode: d.to_dict() for mode, d in decisions.items()},
        "valid_until": min(ends) if ends else None,
    }


#: The ``at`` of a status as dumped (a status about now is its held form at another instant).
_AT = STATUS_SCHEMA.fields["at"]


def dumped_status(
    held_now: HeldInputs, item: DecisionInput, at: datetime, facts: dict[str, str], *, now=False
) -> tuple[dict[str, Any], datetime | None]:
    """One checkpoint's status as dumped, and its valid_until, from the held inputs (held
    with them: dumping is most of a status's cost). About now (``now``), the status dumped
    at an earlier instant of the interval it holds for is the same but for its ``at``s."""
    key = ("status", item.checkpoint.id, None if now else at, tuple(sorted(facts.items())))
    found = held_now.derived.get(key)
    if found is not None and not now:
        return found
    if found is not None:
        dumped, since, valid_until = found
        if since <= at and (valid_until is None or at < valid_until):
            text = _AT.serialize("at", {"at": at})
            modes = {mode: {**one, "at": text} for mode, one in dumped["modes"].items()}
            return {**dumped, "at": text, "modes": modes}, valid_until
    body = status(item, at, facts, held_now if now else None)
    dumped = STATUS_SCHEMA.dump(body)
    valid_until = body["valid_until"]
    held_now.remember(key, (dumped, at, valid_until) if now else (dumped, valid_until))
    return dumped, valid_until


def current_states(country: str | None = None) -> tuple[dict[str, str], datetime | None]:
    """Each live checkpoint's derived state now (for the list's ``state`` filter), and the
    earliest instant at which one of them could change (None: none can)."""
    now = datetime.now(UTC)
    # Not through the memo of decisions about now (every checkpoint would fill it), nor
    # through the held inputs (they hold a bounded number of checkpoints).
    statuses = [status(item, now, {}) for item in store().each_decision_input(country=country)]
    ends = [s["valid_until"] for s in statuses if s["valid_until"] is not None]
    return {s["checkpoint_id"]: s["state"] for s in statuses}, min(ends) if ends else None


def inputs(
    *,
    checkpoint_id: str | None = None,
    country: str | None = None,
    as_of: datetime | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[DecisionInput]:
    """The decision inputs as stored now, or as they were recorded at ``as_of``."""
    return store().decision_inputs(
        checkpoint_id=checkpoint_id,
        country=country,
        as_of=None if as_of is None else to_stamp(as_of),
        after=after,
        limit=limit,
    )


def with_as_of(body: dict, as_of: datetime | None) -> dict:
    """The answer stating the ``as_of`` it was given for, when one was asked."""
    return body if as_of is None else {**body, "as_of": format_time(as_of)}


def cacheable(
    body: dict,
    valid_until: datetime | None,
    at_given: bool,
    dumped: dict,
    as_of: datetime | None = None,
    *,
    etag: str | None = None,
):
    """The response with an ETag over its content (``etag``: computed already from the same
    content) and a bounded Cache-Control (for good, for an answer about a settled past)."""
    ceiling = current_app.config["CHECKPOINTS"].decision_max_age
    max_age = ceiling
    if not at_given and as_of is None and valid_until is not None:
        remaining = (valid_until - datetime.now(UTC)).total_seconds()
        max_age = max(0, min(ceiling, int(remaining)))
    etag = etag or content_etag(dumped)
    cache_control = IMMUTABLE if settled(as_of) else f"public, max-age={max_age}"
    headers = {"Cache-Control": cache_control, "ETag": f'"{etag}"'}
    cached = not_modified(etag)
    if cached is not None:
        cached.headers["Cache-Control"] = headers["Cache-Control"]
        return cached
    return body, 200, headers


def content_etag(dumped: dict) -> str:
    """The ETag of an answer: a digest of its content."""
    return hashlib.blake2s(json.dumps(dumped, sort_keys=True).encode(), digest_size=12).hexdigest()


def dumped_response(result):
    """``cacheable``'s answer for content dumped already: a 200 is sent as it is."""
    if not isinstance(result, tuple):
        return result
    dumped, status_code, headers = result
    response = current_app.json.response(dumped)
    response.status_code = status_code
    response.headers.update(headers)
    return response


def facts_of(args: dict) -> dict[str, str]:
    return {name: args[name] for name in FACTS if args.get(name) is not None}


def current_decision(
    held: HeldInputs,
    checkpoint_id: str,
    mode: str,
    facts: dict[str, str],
    *,
    now: datetime | None = None,
) -> Decision:
    """The decision about now from the held inputs. A decision holds from its ``at`` until its
    ``valid_until``: one computed earlier is reused within that interval, with ``at`` now."""
    if now is None:
        now = datetime.now(UTC)
    key = ("now", checkpoint_id, mode, tuple(sorted(facts.items())))
    decision = held.derived.get(key)
    if (
        decision is not None
        and decision.at <= now
        and (decision.valid_until is None or now < decision.valid_until)
    ):
        return replace(decision, at=now)
    decision = decide_with(held.one(checkpoint_id), mode, now, facts)
    held.remember(key, decision)
    return decision


def _decision(
    checkpoint_id: str, mode: str, at: datetime, facts: dict[str, str], as_of: datetime | None
) -> Decision:
    (item,) = inputs(checkpoint_id=checkpoint_id, as_of=as_of)
    return decide_with(item, mode, at, facts)


@blp.route("/decisions")
class Decisions(MethodView):
    @holds_answers
    @blp.arguments(DecisionQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, DecisionSchema, headers=CACHE_HEADERS, example=DECISION_EXAMPLE)
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("getDecision", errors=(404, 422), request_headers=("If-None-Match",))
    def get(self, checkpoint_id, mode, at=None, as_of=None, **facts):
        """Decide one crossing.

        Precedence (first match wins): a closure covering the mode → prohibited; no rule in
        force → unknown; the rule prohibits → prohibited; outside opening hours → prohibited;
        otherwise allowed, or for a restricted rule its condition over the stated facts
        (true → allowed, false → not allowed, undecidable → `allowed: null` with
        `missing_facts`).

        With `as_of`, the answer the service would have given at that time, from the rules
        and closures as recorded then; `at` defaults to `as_of`. In the example data,
        `checkpoint_id=salcininkai&mode=goods&as_of=2025-10-28T12:00:00Z&at=2025-12-15T12:00:00Z`
        is closed "until further notice" (closure revision 1, as first announced), with
        `as_of=2025-11-01T12:00:00Z` it is allowed (revision 2 set the end to 2025-11-30),
        and `as_of=2025-11-01T12:00:00Z&at=2025-11-25T12:00:00Z` is closed until
        2025-11-30T22:00:00Z (the reopening of 2025-11-20 was recorded only on 2025-11-19).
        """
        facts = facts_of(facts)
        if as_of is not None:
            decision = _decision(checkpoint_id, mode, at or as_of, facts, as_of)
            body = with_as_of(decision.to_dict(), as_of)
            return cacheable(body, decision.valid_until, at is not None, body, as_of)
        held_now = held()
        if at is None:
            decision = current_decision(held_now, checkpoint_id, mode, facts)
            body = decision.to_dict()
            return cacheable(body, decision.valid_until, False, body)
        # An answer about a given time depends on the inputs alone: held with them, so a
        # repeated question (or its If-None-Match) costs a look-up.
        key = ("decision", checkpoint_id, mode, at, tuple(sorted(facts.items())))
        answer = held_now.derived.get(key)
        if answer is None:
            body = decide_with(held_now.one(checkpoint_id), mode, at, facts).to_dict()
            answer = held_now.remember(key, (body, content_etag(body)))
        body, etag = answer
        hold()
        return cacheable(body, None, True, body, etag=etag)

    @blp.response(200, BatchResultSchema, example=BATCH_RESULT_EXAMPLE)
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": BatchRequestSchema, "example": BATCH_EXAMPLE}
            },
        }
    )
    @blp.operation("decideMany", errors=(400, 413, 415, 422))
    def post(self):
        """Decide up to 1,000 crossings at once.

        Results come in the order of the queries; a query that cannot be answered gets a
        problem object (with its `status`) in its place, and the others are still answered.
        `as_of` applies to every query that does not give its own; each decision states the
        `as_of` it was given for.
        """
        batch = BatchSchema().load(read_json_object())
        now = datetime.now(UTC)
        item_schema = BatchItemSchema()
        read: dict[tuple[str, datetime | None], DecisionInput | None] = {}
        results = []
        for index, raw in enumerate(batch["queries"]):
            try:
                query = item_schema.load(raw)
            except ValidationError as exc:
                results.append(
                    Problem(
                        422,
                        f"Query {index} is not valid.",
                        kind="validation",
                        errors=flatten_errors(exc.messages),
                    ).body()
                )
                continue
            checkpoint_id = query["checkpoint_id"]
            as_of = query.get("as_of") or batch.get("as_of")
            key = (checkpoint_id, as_of)
            if key not in read:
                try:
                    (read[key],) = inputs(checkpoint_id=checkpoint_id, as_of=as_of)
                except NotFound:
                    read[key] = None
            if read[key] is None:
                detail = f"checkpoint {checkpoint_id!r} does not exist"
                if as_of is not None:
                    detail = f"checkpoint {checkpoint_id!r} did not exist then"
                results.append(Problem(404, detail, kind="not-found").body())
                continue
            at = query.get("at") or as_of or now
            decision = decide_with(read[key], query["mode"], at, query["facts"])
            results.append(with_as_of(decision.to_dict(), as_of))
        return {"results": results}


@blp.route("/checkpoints/<checkpoint_id>/status")
class CheckpointStatus(MethodView):
    @holds_answers
    @blp.arguments(StatusQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, StatusSchema, headers=CACHE_HEADERS, example=STATUS_EXAMPLE)
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("getCheckpointStatus", errors=(404, 422), request_headers=("If-None-Match",))
    def get(self, checkpoint_id, at=None, as_of=None, **facts):
        """A checkpoint's status: the four modes' decisions and the derived state.

        `state`: `unknown` (no rule or closure for any mode), `closed` (every mode with a rule
        or closure is refused), `open` (no closure, every ruled mode `allowed`), else
        `restricted`. `valid_until` is the earliest of the four. With `as_of`, the status as
        recorded then (`at` defaults to it): in the example data, Medininkai
        `as_of=2024-02-20T12:00:00Z&at=2024-03-05T12:00:00Z` lets pedestrians cross (the ban
        was decided on 2024-02-21), `as_of=2024-02-22T12:00:00Z` does not.
        """
        at_given = at is not None
        facts = facts_of(facts)
        if as_of is not None:
            (item,) = inputs(checkpoint_id=checkpoint_id, as_of=as_of)
            body = with_as_of(status(item, at or as_of, facts), as_of)
            dumped, valid_until = STATUS_SCHEMA.dump(body), body["valid_until"]
        else:
            held_now = held()
            item = held_now.one(checkpoint_id)
            moment = at or datetime.now(UTC)
            dumped, valid_until = dumped_status(held_now, item, moment, facts, now=not at_given)
            if at_given:
                hold()
        return dumped_response(cacheable(dumped, valid_until, at_given, dumped, as_of))


@blp.route("/status")
class AllStatus(MethodView):
    @holds_answers
    @blp.arguments(AllStatusQuerySchema, location="query", as_kwargs=True)
    @blp.response(
        200,
        StatusPageSchema,
        headers=headers("ETag", "Cache-Control", "Link"),
        example=STATUS_PAGE_EXAMPLE,
        description="The page as JSON, or as GeoJSON (`Accept: application/geo+json`).",
    )
    @blp.alt_response(
        200,
        schema=StatusFeatureCollectionSchema,
        content_type=GEOJSON,
        example=GEOJSON_STATUS_EXAMPLE,
        description="The page as JSON, or as GeoJSON (`Accept: application/geo+json`).",
    )
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("listStatus", errors=(406, 422), request_headers=("If-None-Match",))
    def get(self, limit, cursor=None, at=None, as_of=None, country=None, **facts):
        """Every checkpoint's status (ordered by id, paginated).

        With `Accept: application/geo+json`, an RFC 7946 FeatureCollection: a Point
        `[lon, lat]` per checkpoint (`geometry: null` without a `location`), its status as
        `properties`, `next_cursor` as a foreign member. Any other `Accept` than these two (or
        `*/*`) is a `406`. With `as_of`, every status as recorded then (`at` defaults to it;
        the checkpoints are those that existed then).
        """
        media_type = negotiate(JSON, GEOJSON)
        at_given = at is not None
        at = at or as_of or datetime.now(UTC)
        after = decode_cursor(cursor, str)
        facts = facts_of(facts)
        if as_of is None:
            held_now = held()
            items = held_now.select(country=country, after=after, limit=limit + 1)
            statuses = [
                dumped_status(held_now, item, at, facts, now=not at_given) for item in items[:limit]
            ]
        else:
            items = inputs(country=country, as_of=as_of, after=after, limit=limit + 1)
            statuses = []
            for item in items[:limit]:
                one = status(item, at, facts)
                statuses.append((STATUS_SCHEMA.dump(one), one["valid_until"]))
        next_key = items[limit - 1].checkpoint.id if len(items) > limit else None
        body, headers = page_body([], next_key)
        # The page's own members dumped here, its statuses as dumped (and held) each.
        dumped = STATUS_PAGE_SCHEMA.dump(with_as_of({"at": at, **body}, as_of))
        dumped["items"] = [fragment for fragment, _ in statuses]
        ends = [valid_until for _, valid_until in statuses if valid_until is not None]
        if as_of is None and at_given:
            hold()
        if media_type == GEOJSON:
            located = {item.checkpoint.id: item.stored_checkpoint.get("location") for item in items}
            features = [
                feature(s["checkpoint_id"], located[s["checkpoint_id"]], s) for s in dumped["items"]
            ]
            dumped = {"type": "FeatureCollection", "features": features}
        response = cacheable(dumped, min(ends) if ends else None, at_given, dumped, as_of)
        if not isinstance(response, tuple):
            response.headers.update(vary())
            return response
        response[2].update(vary(headers))
        if media_type == GEOJSON:
            return geojson_response(features, response[2], next_cursor=body["next_cursor"])
        return dumped_response(response)
