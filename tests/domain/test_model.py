"""The domain values: their checks, the decision's JSON shape and answer equality."""

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from service.domain.model import (
    Checkpoint,
    Closure,
    Decision,
    Reason,
    ResourceRef,
    Rule,
    format_time,
    to_utc,
)

AT = datetime(2024, 3, 2, 10, tzinfo=UTC)


def make_decision(**changes) -> Decision:
    fields = {
        "checkpoint_id": "medininkai",
        "mode": "pedestrian",
        "at": AT,
        "allowed": False,
        "access": "prohibited",
        "reasons": (
            Reason("rule", "Pedestrian crossing is prohibited", ResourceRef("rule", "r1", 2)),
        ),
        "conditions_text": (),
        "missing_facts": (),
        "valid_until": datetime(2024, 6, 1, tzinfo=UTC),
    }
    return Decision(**{**fields, **changes})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(AT, "2024-03-02T10:00:00Z", id="utc"),
        pytest.param(
            datetime(2024, 3, 2, 12, tzinfo=timezone(timedelta(hours=2))),
            "2024-03-02T10:00:00Z",
            id="offset",
        ),
        pytest.param(AT.replace(microsecond=120), "2024-03-02T10:00:00.000120Z", id="micro"),
    ],
)
def test_format_time(value, text):
    assert format_time(value) == text


def test_decision_to_dict_is_the_api_shape():
    assert make_decision().to_dict() == {
        "checkpoint_id": "medininkai",
        "mode": "pedestrian",
        "at": "2024-03-02T10:00:00Z",
        "allowed": False,
        "access": "prohibited",
        "reasons": [
            {
                "code": "rule",
                "message": "Pedestrian crossing is prohibited",
                "resource": {"type": "rule", "id": "r1", "revision": 2},
            }
        ],
        "conditions_text": [],
        "missing_facts": [],
        "valid_until": "2024-06-01T00:00:00Z",
    }
    no_rule = make_decision(
        allowed=None,
        access="unknown",
        reasons=(Reason("no_rule", "No rule in force for pedestrian", None),),
        valid_until=None,
        missing_facts=("direction",),
    ).to_dict()
    assert no_rule["reasons"] == [
        {"code": "no_rule", "message": "No rule in force for pedestrian", "resource": None}
    ]
    assert no_rule["valid_until"] is None
    assert no_rule["allowed"] is None
    assert no_rule["missing_facts"] == ["direction"]


def test_same_answer_ignores_only_at():
    decision = make_decision()
    assert decision.same_answer(make_decision(at=AT + timedelta(hours=1)))
    assert not decision.same_answer(make_decision(valid_until=None))
    assert not decision.same_answer(make_decision(allowed=None))
    assert not decision.same_answer(make_decision(mode="cyclist"))
    assert not decision.same_answer(make_decision(conditions_text=("x",)))


def test_values_are_frozen_and_normalised():
    rule = Rule(
        id="r1",
        checkpoint_id="medininkai",
        mode="vehicle",
        access="restricted",
        valid_from=datetime(2024, 8, 16, 0, tzinfo=timezone(timedelta(hours=3))),
        conditions_text=["Cars registered in Belarus may not enter."],
    )
    assert rule.valid_from == datetime(2024, 8, 15, 21, tzinfo=UTC)
    assert rule.valid_from.tzinfo is UTC
    assert rule.conditions_text == ("Cars registered in Belarus may not enter.",)
    with pytest.raises(AttributeError):
        rule.access = "allowed"
    assert Checkpoint(
        id="medininkai", timezone="Europe/Vilnius", countries=["LT", "BY"]
    ).countries == (
        "LT",
        "BY",
    )
    closure = Closure(id="c1", checkpoint_id="medininkai", starts_at=AT, modes=["goods"])
    assert closure.modes == ("goods",)
    assert closure.ref == ResourceRef("closure", "c1", 1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda: Rule("r", "cp", "horse", "allowed", AT),
            "mode must be one of pedestrian, cyclist, vehicle, goods; got 'horse'",
            id="mode",
        ),
        pytest.param(
            lambda: Rule("r", "cp", "goods", "maybe", AT), "access must be one of", id="access"
        ),
        pytest.param(
            lambda: Rule("r", "cp", "goods", "allowed", AT.replace(tzinfo=None)),
            "valid_from must be timezone-aware",
            id="naive",
        ),
        pytest.param(
            lambda: Rule("r", "cp", "goods", "allowed", AT, AT),
            "valid_until must be after valid_from",
            id="empty-span",
        ),
        pytest.param(
            lambda: Closure("c", "cp", AT, modes=()),
            "a closure shuts at least one mode",
            id="no-modes",
        ),
        pytest.param(
            lambda: Closure("c", "cp", AT, modes=("horse",)),
            "mode must be one of",
            id="closed-mode",
        ),
        pytest.param(
            lambda: Closure("c", "cp", AT, reason="boredom"), "reason must be one of", id="reason"
        ),
        pytest.param(
            lambda: Closure("c", "cp", AT, AT), "ends_at must be after starts_at", id="closure-span"
        ),
        pytest.param(
            lambda: Rule("r", "cp", "goods", "allowed", AT, AT.replace(tzinfo=None)),
            "valid_until must be timezone-aware",
            id="naive-until",
        ),
        pytest.param(
            lambda: Closure("c", "cp", AT.replace(tzinfo=None)),
            "starts_at must be timezone-aware",
            id="naive-start",
        ),
        pytest.param(
            lambda: Closure("c", "cp", AT, AT.replace(tzinfo=None)),
            "ends_at must be timezone-aware",
            id="naive-end",
        ),
        pytest.param(lambda: ResourceRef("rules", "r", 1), "type", id="resource-type"),
    ],
)
def test_invalid_values_are_refused(make, message):
    with pytest.raises(ValueError) as refused:
        make()
    assert str(refused.value).startswith(message), refused.value


class _NoOffset(tzinfo):
    """A time zone that does not know its offset."""

    def utcoffset(self, dt):
        return None


@pytest.mark.parametrize(
    "instant", [AT.replace(tzinfo=None), AT.replace(tzinfo=_NoOffset())], ids=["naive", "no-offset"]
)
def test_a_time_without_an_offset_is_refused_by_name(instant):
    with pytest.raises(ValueError) as refused:
        to_utc(instant, "starts_at")
    assert str(refused.value) == "starts_at must be timezone-aware"
    with pytest.raises(ValueError) as refused:
        format_time(instant)
    assert str(refused.value) == "time must be timezone-aware"
