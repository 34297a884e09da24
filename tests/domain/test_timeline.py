"""walk(): a mode's decisions over a range as intervals, as a table, plus the property that
every instant of the range is answered by its interval exactly as decide() answers it."""

import itertools
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.decisions import decide
from service.domain.timeline import TooManyIntervals, walk
from tests.domain.test_decisions import FEW_TRAVELLERS, checkpoint, closure, rule, t
from tests.properties import examples

RULES = [
    rule("r1", "allowed", "2024-01-01T00:00", "2024-03-01T00:00"),
    rule("r2", "prohibited", "2024-03-01T00:00"),
]


def pedestrians(closures=(), start="2024-02-01T00:00", end="2024-02-20T00:00", **changes):
    """The pedestrian walk over RULES at Medininkai, 24/7 unless ``hours`` is given."""
    hours = changes.pop("hours", "24/7")
    return walk(
        checkpoint=checkpoint(hours),
        rules=RULES,
        closures=closures,
        mode="pedestrian",
        start=t(start),
        end=t(end),
        facts={},
        max_steps=changes.pop("max_steps", 100),
    )


def spans(intervals) -> list[tuple]:
    return [
        (i.start.isoformat()[:16], i.end.isoformat()[:16], i.decision.allowed,
         tuple(r.resource.id for r in i.decision.reasons if r.resource))
        for i in intervals
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("closures", "start", "end", "expected"),
    [
        pytest.param(
            [], "2023-12-01T00:00", "2024-06-01T00:00",
            [("2023-12-01T00:00", "2024-01-01T00:00", None, ()),
             ("2024-01-01T00:00", "2024-03-01T00:00", True, ("r1",)),
             ("2024-03-01T00:00", "2024-06-01T00:00", False, ("r2",))],
            id="rules-one-after-another",
        ),
        pytest.param(
            [closure("c1", "2024-02-10T00:00", "2024-02-12T00:00")],
            "2024-02-01T00:00", "2024-02-20T00:00",
            [("2024-02-01T00:00", "2024-02-10T00:00", True, ("r1",)),
             ("2024-02-10T00:00", "2024-02-12T00:00", False, ("c1",)),
             ("2024-02-12T00:00", "2024-02-20T00:00", True, ("r1",))],
            id="a-closure-inside-a-rule",
        ),
        pytest.param(
            [closure("c1", "2024-02-10T00:00")], "2024-02-15T00:00", "2024-02-16T00:00",
            [("2024-02-15T00:00", "2024-02-16T00:00", False, ("c1",))],
            id="closed-throughout",
        ),
        pytest.param(
            [closure("c1", "2024-02-10T00:00", modes=("goods",))],
            "2024-02-01T00:00", "2024-02-20T00:00",
            [("2024-02-01T00:00", "2024-02-20T00:00", True, ("r1",))],
            id="another-modes-closure-changes-nothing",
        ),
    ],
)  # fmt: skip
def test_walk(closures, start, end, expected):
    assert spans(pedestrians(closures, start, end)) == expected


def test_neighbours_with_the_same_answer_and_reasons_are_merged():
    # Two closures back to back name different closures: two intervals. One closure ending
    # where the rule's answer resumes unchanged: the rule's intervals are not merged across it.
    closures = [
        closure("c1", "2024-02-10T00:00", "2024-02-11T00:00"),
        closure("c2", "2024-02-11T00:00", "2024-02-12T00:00"),
    ]
    intervals = pedestrians(closures, "2024-02-09T00:00", "2024-02-13T00:00")
    assert [s[3] for s in spans(intervals)] == [("r1",), ("c1",), ("c2",), ("r1",)]


def test_the_walk_is_bounded_and_the_range_not_empty():
    with pytest.raises(TooManyIntervals):
        pedestrians(hours="Mo-Fr 08:00-20:00", end="2024-03-29T00:00", max_steps=20)
    with pytest.raises(ValueError, match=r"^the range is empty: its end must come after"):
        pedestrians(start="2024-01-02T00:00", end="2024-01-02T00:00")


def test_the_bound_counts_the_decisions_taken_exactly():
    # Opening and closing twice a weekday: every decision starts an interval of its own.
    week = pedestrians(hours="Mo-Fr 08:00-20:00", end="2024-02-08T00:00", max_steps=1000)
    assert len(week) == 11
    assert spans(pedestrians(hours="Mo-Fr 08:00-20:00", end="2024-02-08T00:00", max_steps=11)) == (
        spans(week)
    )
    with pytest.raises(
        TooManyIntervals,
        match=r"^the answer for pedestrian could change more than 10 times in the range$",
    ):
        pedestrians(hours="Mo-Fr 08:00-20:00", end="2024-02-08T00:00", max_steps=10)


def test_the_walk_decides_with_the_facts_given():
    conditional = rule("r1", access="restricted", condition=FEW_TRAVELLERS)

    def walked(facts):
        intervals = walk(
            checkpoint=checkpoint(),
            rules=[conditional],
            closures=[],
            mode="pedestrian",
            start=t("2024-02-01T00:00"),
            end=t("2024-02-02T00:00"),
            facts=facts,
            max_steps=10,
        )
        return [(i.decision.allowed, i.decision.missing_facts) for i in intervals]

    assert walked({"traveller_category": "diplomat"}) == [(True, ())]
    assert walked({"traveller_category": "resident"}) == [(False, ())]
    assert walked({}) == [(None, ("traveller_category",))]


def test_an_interval_as_json_names_its_bounds_and_answer_but_not_the_query():
    (interval,) = pedestrians([], "2024-02-01T00:00", "2024-02-02T00:00")
    answer = interval.decision.to_dict()
    assert interval.to_dict() == {
        "from": "2024-02-01T00:00:00Z",
        "until": "2024-02-02T00:00:00Z",
        **{
            k: v
            for k, v in answer.items()
            if k not in ("checkpoint_id", "mode", "at", "valid_until")
        },
    }
    assert {"allowed", "access", "reasons"} <= interval.to_dict().keys()


INSTANT = st.integers(0, 24 * 120).map(lambda h: t("2024-01-01T00:00") + timedelta(hours=h))


@settings(max_examples=examples(60), deadline=None)
@given(
    edges=st.lists(st.tuples(INSTANT, st.integers(1, 24 * 10)), max_size=4),
    hours=st.sampled_from(["24/7", "Mo-Fr 08:00-20:00"]),
    probe=INSTANT,
)
def test_every_instant_is_answered_by_its_interval(edges, hours, probe):
    closures = [
        closure(f"c{n}", start.isoformat()[:16])
        if length > 24 * 9
        else closure(
            f"c{n}", start.isoformat()[:16], (start + timedelta(hours=length)).isoformat()[:16]
        )
        for n, (start, length) in enumerate(edges)
    ]
    start, end = t("2024-01-01T00:00"), t("2024-05-01T00:00")
    intervals = pedestrians(
        closures, "2024-01-01T00:00", "2024-05-01T00:00", hours=hours, max_steps=1000
    )
    assert intervals[0].start == start and intervals[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(intervals))
    (holding,) = [i for i in intervals if i.start <= probe < i.end] or [None]
    if holding is None:  # the probe lies at or after the end
        assert probe >= end
        return
    decision = decide(
        checkpoint=checkpoint(hours),
        rules=RULES,
        closures=closures,
        mode="pedestrian",
        at=probe,
        facts={},
    )
    assert (decision.allowed, decision.access, decision.reasons) == (
        holding.decision.allowed,
        holding.decision.access,
        holding.decision.reasons,
    )
