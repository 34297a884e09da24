"""``/v1/checkpoints/{id}/timeline``: a checkpoint's answers over a range of instants.

The walk is ``service.domain.timeline``; this module feeds it the stored resources (as they
were recorded at ``as_of``, if asked) and caches the answer as decisions are cached.
"""

from __future__ import annotations

from flask.views import MethodView

from schemas.timeline import (
    MAX_TIMELINE_STEPS,
    TIMELINE_EXAMPLE,
    TimelineQuerySchema,
    TimelineSchema,
)
from service.domain import MODES
from service.domain.timeline import TooManyIntervals, walk

from .decisions import CACHE_HEADERS, cacheable, facts_of, inputs, with_as_of
from .machinery.blueprint import Blueprint
from .machinery.errors import Problem

blp = Blueprint(
    "timeline",
    __name__,
    url_prefix="/v1",
    description="A checkpoint's answers over time, as intervals, as recorded now or at any "
    "past time.",
)


@blp.route("/checkpoints/<checkpoint_id>/timeline")
class CheckpointTimeline(MethodView):
    @blp.arguments(TimelineQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, TimelineSchema, headers=CACHE_HEADERS, example=TIMELINE_EXAMPLE)
    @blp.alt_response(304, "NOT_MODIFIED")
    @blp.operation("getCheckpointTimeline", errors=(404, 422), request_headers=("If-None-Match",))
    def get(self, checkpoint_id, start, end, mode=None, as_of=None, **facts):
        """A checkpoint's decisions over `[from, to)`, per mode, as intervals.

        Each interval holds one answer (`allowed`, `access`) and its `reasons`, which name the
        rule or closure revisions behind it; together the intervals cover the range, walked
        from each answer's `valid_until` to the next (equal neighbours merged). With `as_of`,
        as recorded at that time. Bounded: the range spans at most 3660 days, and the answer
        of a mode may change at most 1000 times in it (else `422`: narrow the range).
        """
        (item,) = inputs(checkpoint_id=checkpoint_id, as_of=as_of)
        modes = {}
        for name in [mode] if mode else MODES:
            try:
                intervals = walk(
                    checkpoint=item.checkpoint,
                    rules=item.rules,
                    closures=item.closures,
                    mode=name,
                    start=start,
                    end=end,
                    facts=facts_of(facts),
                    max_steps=MAX_TIMELINE_STEPS,
                )
            except TooManyIntervals as exc:
                raise Problem(
                    422,
                    f"The timeline is too long: {exc}. Narrow the range.",
                    kind="validation",
                    errors={"to": [f"At most {MAX_TIMELINE_STEPS} changes per mode."]},
                ) from exc
            modes[name] = [interval.to_dict() for interval in intervals]
        body = with_as_of({"checkpoint_id": checkpoint_id, "start": start, "end": end}, as_of)
        body["modes"] = modes
        dumped = TimelineSchema().dump(body)
        return cacheable(body, None, True, dumped, as_of)
