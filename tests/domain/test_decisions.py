"""decide() and derive_state() as tables, plus the valid_until property over random histories."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.domain.decisions import decide, derive_state
from service.domain.model import (
    ACCESS,
    CLOSURE_REASONS,
    MODES,
    REASON_CODES,
    TIME_END,
    Checkpoint,
    Closure,
    Decision,
    Reason,
    ResourceRef,
    Rule,
)
from tests.properties import examples


def t(text: str) -> datetime:
    """A UTC instant from "2024-03-02T10:00" (or with seconds)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def checkpoint(opening_hours: str = "24/7") -> Checkpoint:
    return Checkpoint(id="medininkai", timezone="Europe/Vilnius", opening_hours=opening_hours)


def rule(id, access="allowed", start="2024-01-01T00:00", end=None, mode="pedestrian", **extra):
    return Rule(
        id=id,
        checkpoint_id=extra.pop("checkpoint_id", "medininkai"),
        mode=mode,
        access=access,
        valid_from=t(start),
        valid_until=None if end is None else t(end),
        **extra,
    )


def closure(id, start, end=None, modes=MODES, reason="security", checkpoint_id="medininkai"):
    return Closure(
        id=id,
        checkpoint_id=checkpoint_id,
        starts_at=t(start),
        ends_at=None if end is None else t(end),
        modes=modes,
        reason=reason,
    )


BY_CARS = {
    "not": {
        "all": [
            {"fact": "direction", "in": ["entry"]},
            {"fact": "vehicle_registration", "in": ["BY"]},
        ]
    }
}
FEW_TRAVELLERS = {"fact": "traveller_category", "in": ["diplomat", "kaliningrad_transit"]}
TEXT = ("Only diplomats and Kaliningrad transit travellers.",)

# 2024-03-02 is a Saturday; 10:00Z is 12:00 in Vilnius (EET, UTC+2).
AT = "2024-03-02T10:00"


def expect(allowed, access, reasons, valid_until=None, conditions_text=(), missing_facts=()):
    """The fields of a decision a case pins: reasons as (code, resource type, resource id)."""
    return {
        "allowed": allowed,
        "access": access,
        "reasons": list(reasons),
        "conditions_text": list(conditions_text),
        "missing_facts": list(missing_facts),
        "valid_until": None if valid_until is None else t(valid_until),
    }


def summary(decision: Decision) -> dict:
    return {
        "allowed": decision.allowed,
        "access": decision.access,
        "reasons": [
            (r.code, *((r.resource.type, r.resource.id) if r.resource else (None, None)))
            for r in decision.reasons
        ],
        "conditions_text": list(decision.conditions_text),
        "missing_facts": list(decision.missing_facts),
        "valid_until": decision.valid_until,
    }


CASES = [
    # 1. Closures.
    pytest.param(
        checkpoint(),
        [rule("r1")],
        [closure("c1", "2024-03-01T00:00", "2024-03-05T00:00")],
        "pedestrian",
        AT,
        {},
        expect(False, "prohibited", [("closure", "closure", "c1")], "2024-03-05T00:00"),
        id="closed-by-closure",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", mode="cyclist")],
        [closure("c1", "2024-03-01T00:00", "2024-03-05T00:00", modes=("cyclist",))],
        "cyclist",
        AT,
        {},
        expect(False, "prohibited", [("closure", "closure", "c1")], "2024-03-05T00:00"),
        id="closed-for-cyclists",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1")],
        [closure("c1", "2024-03-01T00:00", "2024-03-05T00:00", modes=("vehicle", "goods"))],
        "pedestrian",
        AT,
        {},
        expect(True, "allowed", [("allowed", "rule", "r1")]),
        id="closure-of-other-modes-ignored",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", conditions_text=TEXT)],
        [
            closure("c3", "2024-03-01T12:00", "2024-03-09T00:00", reason="weather"),
            closure("c2", "2024-03-01T12:00", None),
            closure("c1", "2024-03-01T00:00", "2024-03-04T00:00"),
        ],
        "pedestrian",
        AT,
        {},
        expect(
            False,
            "prohibited",
            [
                ("closure", "closure", "c1"),
                ("closure", "closure", "c2"),
                ("closure", "closure", "c3"),
            ],
            "2024-03-04T00:00",
        ),
        id="overlapping-closures-ordered-by-start-then-id",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1")],
        [closure("c1", "2023-08-18T00:00", None)],
        "pedestrian",
        AT,
        {},
        expect(False, "prohibited", [("closure", "closure", "c1")]),
        id="open-ended-closure-never-changes",
    ),
    pytest.param(
        checkpoint(),
        [],
        [closure("c1", "2024-03-01T00:00", None), closure("c2", "2024-03-10T00:00", None)],
        "pedestrian",
        AT,
        {},
        expect(False, "prohibited", [("closure", "closure", "c1")], "2024-03-10T00:00"),
        id="closure-before-no-rule-until-next-closure-starts",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="prohibited", conditions_text=TEXT)],
        [closure("c1", AT, "2024-03-02T12:00")],
        "pedestrian",
        AT,
        {},
        expect(False, "prohibited", [("closure", "closure", "c1")], "2024-03-02T12:00"),
        id="closure-start-is-inclusive-and-wins-over-rule",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1")],
        [closure("c1", "2024-03-01T00:00", AT)],
        "pedestrian",
        AT,
        {},
        expect(True, "allowed", [("allowed", "rule", "r1")]),
        id="closure-end-is-exclusive",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1")],
        [closure("c1", "2024-03-02T18:00", "2024-03-03T00:00")],
        "pedestrian",
        AT,
        {},
        expect(True, "allowed", [("allowed", "rule", "r1")], "2024-03-02T18:00"),
        id="future-closure-bounds-valid-until",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1")],
        [closure("c1", "2024-03-01T00:00", "2024-03-05T00:00", checkpoint_id="salcininkai")],
        "pedestrian",
        AT,
        {},
        expect(True, "allowed", [("allowed", "rule", "r1")]),
        id="closure-of-another-checkpoint-ignored",
    ),
    # 2. No rule in force.
    pytest.param(
        checkpoint(),
        [],
        [],
        "cyclist",
        AT,
        {},
        expect(None, "unknown", [("no_rule", None, None)]),
        id="no-rule",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", mode="vehicle"), rule("r2", start="2024-04-01T00:00")],
        [closure("c0", "2024-01-01T00:00", "2024-02-01T00:00")],
        "pedestrian",
        AT,
        {},
        expect(None, "unknown", [("no_rule", None, None)], "2024-04-01T00:00"),
        id="no-rule-until-the-next-one-starts",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", end=AT)],
        [],
        "pedestrian",
        AT,
        {},
        expect(None, "unknown", [("no_rule", None, None)]),
        id="rule-end-is-exclusive",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", checkpoint_id="salcininkai")],
        [],
        "pedestrian",
        AT,
        {},
        expect(None, "unknown", [("no_rule", None, None)]),
        id="rule-of-another-checkpoint-ignored",
    ),
    # 3. The rule prohibits.
    pytest.param(
        checkpoint(),
        [rule("r1", access="prohibited", end="2024-06-01T00:00", conditions_text=TEXT)],
        [],
        "pedestrian",
        AT,
        {},
        expect(False, "prohibited", [("rule", "rule", "r1")], "2024-06-01T00:00", TEXT),
        id="prohibited-by-rule",
    ),
    pytest.param(
        checkpoint("Mo-Fr 08:00-20:00"),
        [rule("r1", access="prohibited", start=AT)],
        [],
        "pedestrian",
        AT,
        {},
        expect(False, "prohibited", [("rule", "rule", "r1")]),
        id="prohibited-by-rule-regardless-of-hours",
    ),
    pytest.param(
        checkpoint(),
        [
            rule("r1", access="prohibited", end="2024-03-05T00:00"),
            rule("r2", start="2024-03-05T00:00"),
        ],
        [],
        "pedestrian",
        AT,
        {},
        expect(False, "prohibited", [("rule", "rule", "r1")], "2024-03-05T00:00"),
        id="prohibited-until-the-next-rule",
    ),
    # 4. Opening hours.
    pytest.param(
        checkpoint("Mo-Fr 08:00-20:00"),
        [rule("r1", conditions_text=TEXT)],
        [],
        "pedestrian",
        AT,
        {},
        # Monday 08:00 in Vilnius.
        expect(
            False,
            "prohibited",
            [("outside_hours", "checkpoint", "medininkai")],
            "2024-03-04T06:00",
            TEXT,
        ),
        id="outside-checkpoint-hours",
    ),
    pytest.param(
        checkpoint("Mo-Fr 08:00-20:00"),
        [rule("r1", end="2024-03-03T00:00")],
        [],
        "pedestrian",
        AT,
        {},
        expect(
            False, "prohibited", [("outside_hours", "checkpoint", "medininkai")], "2024-03-03T00:00"
        ),
        id="outside-hours-until-rule-ends-first",
    ),
    pytest.param(
        checkpoint("Mo-Fr 08:00-20:00"),
        [rule("r1", opening_hours="24/7")],
        [],
        "pedestrian",
        AT,
        {},
        expect(True, "allowed", [("allowed", "rule", "r1")]),
        id="rule-hours-override-checkpoint-hours-open",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", opening_hours="06:00-22:00")],
        [],
        "pedestrian",
        "2024-03-02T21:00",
        {},
        # 23:00 in Vilnius; opens at 06:00 local, 04:00Z.
        expect(False, "prohibited", [("outside_hours", "rule", "r1")], "2024-03-03T04:00"),
        id="rule-hours-override-checkpoint-hours-closed",
    ),
    pytest.param(
        checkpoint("Mo-Su 00:00-24:00; PH off"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-02-16T10:00",
        {},
        # Lithuania's Restoration of the State Day; open again at local midnight.
        expect(
            False, "prohibited", [("outside_hours", "checkpoint", "medininkai")], "2024-02-16T22:00"
        ),
        id="closed-on-lithuanian-public-holiday",
    ),
    pytest.param(
        checkpoint("Mo-Su 00:00-24:00; PH off"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-02-15T10:00",
        {},
        expect(True, "allowed", [("allowed", "rule", "r1")], "2024-02-15T22:00"),
        id="open-until-lithuanian-public-holiday",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", opening_hours="Mo-Su 08:00-20:00 unknown", conditions_text=TEXT)],
        [],
        "pedestrian",
        AT,
        {},
        expect(None, "unknown", [("hours_unknown", "rule", "r1")], "2024-03-02T18:00", TEXT),
        id="hours-unknown",
    ),
    pytest.param(
        checkpoint("06:00-22:00"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-03-30T21:00",
        {},
        # 23:00 EET; the clocks go forward at 03:00, so 06:00 EEST is 03:00Z.
        expect(
            False, "prohibited", [("outside_hours", "checkpoint", "medininkai")], "2024-03-31T03:00"
        ),
        id="outside-hours-across-spring-dst-change",
    ),
    pytest.param(
        checkpoint("06:00-22:00"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-10-26T20:00",
        {},
        # 23:00 EEST; the clocks go back at 04:00, so 06:00 EET is 04:00Z.
        expect(
            False, "prohibited", [("outside_hours", "checkpoint", "medininkai")], "2024-10-27T04:00"
        ),
        id="outside-hours-across-autumn-dst-change",
    ),
    pytest.param(
        checkpoint("06:00-22:00"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-03-31T12:00",
        {},
        # 15:00 EEST; closes at 22:00 EEST, 19:00Z (an hour earlier in UTC than the day before).
        expect(True, "allowed", [("allowed", "rule", "r1")], "2024-03-31T19:00"),
        id="open-after-spring-dst-change",
    ),
    pytest.param(
        checkpoint("03:00-05:00"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-10-26T22:00",
        {},
        # 01:00 EEST; 03:00 first occurs at 00:00Z (the library alone says 01:00Z).
        expect(
            False, "prohibited", [("outside_hours", "checkpoint", "medininkai")], "2024-10-27T00:00"
        ),
        id="opens-in-the-repeated-autumn-hour",
    ),
    pytest.param(
        checkpoint("03:00-05:00"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-10-27T00:30",
        {},
        # 03:30 EEST, first pass; open through the repeated hour until 05:00 EET, 03:00Z.
        expect(True, "allowed", [("allowed", "rule", "r1")], "2024-10-27T03:00"),
        id="open-through-the-repeated-autumn-hour",
    ),
    pytest.param(
        checkpoint("03:00-05:00"),
        [rule("r1")],
        [],
        "pedestrian",
        "2024-03-30T23:30",
        {},
        # 01:30 EET; 03:00-04:00 never happens that night: open from 04:00 EEST, 01:00Z.
        expect(
            False, "prohibited", [("outside_hours", "checkpoint", "medininkai")], "2024-03-31T01:00"
        ),
        id="opens-when-the-spring-clock-skips-ahead",
    ),
    # 5. The rule's access and condition.
    pytest.param(
        checkpoint("06:00-22:00"),
        [rule("r1", end="2024-12-31T00:00")],
        [],
        "pedestrian",
        AT,
        {},
        # Closes at 22:00 EET, 20:00Z: the hours bound valid_until.
        expect(True, "allowed", [("allowed", "rule", "r1")], "2024-03-02T20:00"),
        id="allowed-until-closing-time",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", end="2024-12-31T00:00", conditions_text=TEXT, mode="goods")],
        [],
        "goods",
        AT,
        {"direction": "entry"},
        expect(True, "allowed", [("allowed", "rule", "r1")], "2024-12-31T00:00", TEXT),
        id="allowed-until-rule-ends",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="restricted", condition=FEW_TRAVELLERS, conditions_text=TEXT)],
        [],
        "pedestrian",
        AT,
        {"traveller_category": "diplomat"},
        expect(True, "restricted", [("condition_met", "rule", "r1")], None, TEXT),
        id="restricted-condition-met",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="restricted", condition=FEW_TRAVELLERS, conditions_text=TEXT)],
        [],
        "pedestrian",
        AT,
        {"traveller_category": "tourist"},
        expect(False, "restricted", [("condition_not_met", "rule", "r1")], None, TEXT),
        id="restricted-condition-not-met",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="restricted", condition=BY_CARS, mode="vehicle")],
        [],
        "vehicle",
        AT,
        {"nationality": "LT"},
        expect(
            None,
            "restricted",
            [("facts_needed", "rule", "r1")],
            missing_facts=("direction", "vehicle_registration"),
        ),
        id="restricted-facts-needed-sorted",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="restricted", condition=BY_CARS, mode="vehicle")],
        [],
        "vehicle",
        AT,
        {"direction": "entry"},
        expect(
            None,
            "restricted",
            [("facts_needed", "rule", "r1")],
            missing_facts=("vehicle_registration",),
        ),
        id="restricted-facts-needed-partly-known",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="restricted", condition=BY_CARS, mode="vehicle")],
        [],
        "vehicle",
        AT,
        {"direction": "exit"},
        expect(True, "restricted", [("condition_met", "rule", "r1")]),
        id="restricted-decided-without-every-fact",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="restricted", condition=BY_CARS, mode="vehicle")],
        [],
        "vehicle",
        AT,
        {"direction": "entry", "vehicle_registration": "BY"},
        expect(False, "restricted", [("condition_not_met", "rule", "r1")]),
        id="restricted-belarusian-car-entering",
    ),
    pytest.param(
        checkpoint(),
        [rule("r1", access="restricted", conditions_text=TEXT)],
        [],
        "pedestrian",
        AT,
        {},
        expect(True, "restricted", [("allowed", "rule", "r1")], None, TEXT),
        id="restricted-without-condition",
    ),
    pytest.param(
        checkpoint("Mo-Fr 08:00-20:00"),
        [rule("r1", access="restricted", condition=FEW_TRAVELLERS)],
        [],
        "pedestrian",
        AT,
        {"traveller_category": "diplomat"},
        expect(
            False, "prohibited", [("outside_hours", "checkpoint", "medininkai")], "2024-03-04T06:00"
        ),
        id="hours-before-condition",
    ),
]


@pytest.mark.parametrize(
    ("checkpoint_", "rules", "closures", "mode", "at", "facts", "expected"), CASES
)
def test_decide(checkpoint_, rules, closures, mode, at, facts, expected):
    decision = decide(
        checkpoint=checkpoint_, rules=rules, closures=closures, mode=mode, at=t(at), facts=facts
    )
    assert summary(decision) == expected
    assert decision.checkpoint_id == checkpoint_.id
    assert decision.mode == mode
    assert decision.at == t(at)
    assert all(reason.code in REASON_CODES for reason in decision.reasons)
    assert decision.valid_until is None or decision.valid_until > decision.at
    # The answer holds until valid_until (its last microsecond included) and never beyond need.
    if decision.valid_until is not None:
        for instant in (decision.valid_until - timedelta(microseconds=1),):
            later = decide(
                checkpoint=checkpoint_,
                rules=rules,
                closures=closures,
                mode=mode,
                at=instant,
                facts=facts,
            )
            assert later.same_answer(decision)


def test_every_reason_code_is_covered_by_a_case():
    codes = set()
    for case in CASES:
        checkpoint_, rules, closures, mode, at, facts, _ = case.values
        decision = decide(
            checkpoint=checkpoint_, rules=rules, closures=closures, mode=mode, at=t(at), facts=facts
        )
        codes.update(reason.code for reason in decision.reasons)
    assert codes == set(REASON_CODES)


@pytest.mark.parametrize(
    ("rules", "closures", "mode", "facts", "message"),
    [
        pytest.param(
            [],
            [closure("c1", "2024-03-01T00:00", "2025-11-20T00:00")],
            "pedestrian",
            {},
            "Closed for security until 2025-11-20T00:00:00Z",
            id="closure",
        ),
        pytest.param(
            [],
            [closure("c1", "2024-03-01T00:00", None, reason="other")],
            "pedestrian",
            {},
            "Closed until further notice",
            id="closure-other-open-ended",
        ),
        pytest.param([], [], "cyclist", {}, "No rule in force for cyclist", id="no-rule"),
        pytest.param(
            [rule("r1", access="prohibited", mode="goods")],
            [],
            "goods",
            {},
            "Goods crossing is prohibited",
            id="rule",
        ),
        pytest.param(
            [rule("r1", opening_hours="Mo-Fr 08:00-20:00")],
            [],
            "pedestrian",
            {},
            "Outside the rule's opening hours (Mo-Fr 08:00-20:00)",
            id="outside-hours",
        ),
        pytest.param([rule("r1")], [], "pedestrian", {}, "Pedestrian crossing is allowed", id="ok"),
        pytest.param(
            [rule("r1", access="restricted", condition=BY_CARS, mode="vehicle")],
            [],
            "vehicle",
            {},
            "Facts needed (direction, vehicle_registration) for the condition: "
            "not (direction is entry and vehicle_registration is BY)",
            id="facts-needed",
        ),
        pytest.param(
            [rule("r1", access="restricted", condition=FEW_TRAVELLERS)],
            [],
            "pedestrian",
            {"traveller_category": "tourist"},
            "Condition not met: traveller_category is one of diplomat, kaliningrad_transit",
            id="condition-not-met",
        ),
    ],
)
def test_reason_messages(rules, closures, mode, facts, message):
    decision = decide(
        checkpoint=checkpoint(), rules=rules, closures=closures, mode=mode, at=t(AT), facts=facts
    )
    assert [reason.message for reason in decision.reasons] == [message]


def test_reasons_reference_the_revision():
    decision = decide(
        checkpoint=checkpoint(),
        rules=[],
        closures=[
            Closure(
                id="c1", checkpoint_id="medininkai", starts_at=t("2024-01-01T00:00"), revision=3
            )
        ],
        mode="goods",
        at=t(AT),
        facts={},
    )
    assert decision.reasons == (
        Reason("closure", "Closed until further notice", ResourceRef("closure", "c1", 3)),
    )


def test_decide_rejects_a_naive_time_and_an_unknown_mode():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(
            checkpoint=checkpoint(),
            rules=[],
            closures=[],
            mode="pedestrian",
            at=datetime(2024, 3, 2, 10),
            facts={},
        )
    with pytest.raises(ValueError, match="mode"):
        decide(checkpoint=checkpoint(), rules=[], closures=[], mode="horse", at=t(AT), facts={})


def test_long_history_is_one_pass():
    """1,000 past rules and closures: only the ones around `at` matter."""
    start = t("2000-01-01T00:00")
    rules = [
        Rule(
            id=f"r{i}",
            checkpoint_id="medininkai",
            mode=MODES[i % 4],
            access="prohibited",
            valid_from=start + timedelta(days=7 * (i // 4)),
            valid_until=start + timedelta(days=7 * (i // 4 + 1)),
        )
        for i in range(1000)
    ]
    closures = [
        Closure(
            id=f"c{i}",
            checkpoint_id="medininkai",
            starts_at=start + timedelta(days=3 * i),
            ends_at=start + timedelta(days=3 * i + 1),
        )
        for i in range(1000)
    ]
    current = rule("now", start="2024-01-01T00:00")
    decision = decide(
        checkpoint=checkpoint(),
        rules=[*rules, current],
        closures=closures,
        mode="pedestrian",
        at=t(AT),
        facts={},
    )
    assert summary(decision) == expect(True, "allowed", [("allowed", "rule", "now")])


# derive_state --------------------------------------------------------------------------------


def stub_decision(
    code: str, allowed: bool | None, access: str, mode: str = "pedestrian"
) -> Decision:
    return Decision(
        checkpoint_id="medininkai",
        mode=mode,
        at=t(AT),
        allowed=allowed,
        access=access,
        reasons=(Reason(code, code, None),),
        conditions_text=(),
        missing_facts=(),
        valid_until=None,
    )


NO_RULE = stub_decision("no_rule", None, "unknown")
CLOSED = stub_decision("closure", False, "prohibited")
PROHIBITED = stub_decision("rule", False, "prohibited")
OUTSIDE_HOURS = stub_decision("outside_hours", False, "prohibited")
HOURS_UNKNOWN = stub_decision("hours_unknown", None, "unknown")
ALLOWED = stub_decision("allowed", True, "allowed")
CONDITION_MET = stub_decision("condition_met", True, "restricted")
CONDITION_NOT_MET = stub_decision("condition_not_met", False, "restricted")
FACTS_NEEDED = stub_decision("facts_needed", None, "restricted")


def modes(pedestrian, cyclist, vehicle, goods):
    return dict(zip(MODES, (pedestrian, cyclist, vehicle, goods), strict=True))


@pytest.mark.parametrize(
    ("decisions", "state"),
    [
        pytest.param(modes(NO_RULE, NO_RULE, NO_RULE, NO_RULE), "unknown", id="unknown"),
        pytest.param({}, "unknown", id="unknown-without-decisions"),
        pytest.param(modes(CLOSED, CLOSED, CLOSED, CLOSED), "closed", id="closed-by-closures"),
        pytest.param(
            modes(NO_RULE, NO_RULE, CLOSED, NO_RULE), "closed", id="closed-only-governed-mode"
        ),
        pytest.param(
            modes(PROHIBITED, CLOSED, OUTSIDE_HOURS, CONDITION_NOT_MET),
            "closed",
            id="closed-every-mode-refused-for-any-reason",
        ),
        pytest.param(modes(ALLOWED, ALLOWED, ALLOWED, ALLOWED), "open", id="open"),
        pytest.param(
            modes(ALLOWED, NO_RULE, ALLOWED, NO_RULE), "open", id="open-modes-without-rules-ignored"
        ),
        pytest.param(
            modes(CLOSED, ALLOWED, ALLOWED, ALLOWED), "restricted", id="restricted-one-mode-closed"
        ),
        pytest.param(
            modes(PROHIBITED, PROHIBITED, ALLOWED, ALLOWED),
            "restricted",
            id="restricted-some-modes-prohibited",
        ),
        pytest.param(
            modes(ALLOWED, ALLOWED, CONDITION_MET, ALLOWED),
            "restricted",
            id="restricted-conditional-even-when-met",
        ),
        pytest.param(
            modes(ALLOWED, ALLOWED, FACTS_NEEDED, ALLOWED),
            "restricted",
            id="restricted-depending-on-facts",
        ),
        pytest.param(
            modes(OUTSIDE_HOURS, ALLOWED, ALLOWED, ALLOWED),
            "restricted",
            id="restricted-one-mode-outside-hours",
        ),
        pytest.param(
            modes(HOURS_UNKNOWN, HOURS_UNKNOWN, HOURS_UNKNOWN, HOURS_UNKNOWN),
            "restricted",
            id="restricted-hours-unknown",
        ),
        pytest.param(
            modes(NO_RULE, NO_RULE, CONDITION_NOT_MET, NO_RULE),
            "closed",
            id="closed-condition-not-met-for-only-mode",
        ),
    ],
)
def test_derive_state(decisions, state):
    assert derive_state(decisions) == state


# valid_until as a property -------------------------------------------------------------------

HOURS = ("24/7", "Mo-Fr 08:00-20:00", "06:00-22:00", "Mo-Su 00:00-24:00; PH off", "03:00-05:00")
CONDITIONS = (None, BY_CARS, FEW_TRAVELLERS, {"fact": "vehicle_category", "not_in": ["bus"]})
# Close to Vilnius's 2024 clock changes, around them and public holidays, and anywhere in 2024.
ANCHORS = tuple(
    t(text)
    for text in (
        "2024-03-31T01:00",
        "2024-10-27T01:00",
        "2024-02-16T00:00",
        "2024-12-24T00:00",
        "2024-06-01T00:00",
    )
)
BASE = t("2024-01-01T00:00")

instants = st.one_of(
    st.builds(
        lambda anchor, minutes: anchor + timedelta(minutes=minutes),
        st.sampled_from(ANCHORS[:2]),
        st.integers(-6 * 60, 6 * 60),
    ),
    st.builds(
        lambda anchor, minutes: anchor + timedelta(minutes=minutes),
        st.sampled_from(ANCHORS),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
    ),
    st.integers(0, 366 * 24 * 60).map(lambda minutes: BASE + timedelta(minutes=minutes)),
)


@st.composite
def histories(draw):
    """`at`, and a checkpoint with non-overlapping rules per mode and some closures, whose
    edges fall mostly within two days of `at`; a mode and some facts."""
    at = draw(instants)
    edges_near_at = st.one_of(
        st.integers(-2 * 24 * 60, 2 * 24 * 60).map(lambda minutes: at + timedelta(minutes=minutes)),
        instants,
    )
    rules = []
    for mode in MODES:
        edges = sorted(draw(st.sets(edges_near_at, max_size=4)))
        open_ended = draw(st.booleans())
        spans = list(zip(edges, [*edges[1:], None], strict=False))
        if not open_ended and spans:
            spans = spans[:-1]
        for index, (start, end) in enumerate(spans):
            if draw(st.integers(0, 3)) == 0:
                continue  # a gap between rules
            access = draw(st.sampled_from(ACCESS))
            rules.append(
                Rule(
                    id=f"{mode}-{index}",
                    checkpoint_id="medininkai",
                    mode=mode,
                    access=access,
                    valid_from=start,
                    valid_until=end,
                    condition=draw(st.sampled_from(CONDITIONS)) if access == "restricted" else None,
                    conditions_text=draw(st.sampled_from(((), TEXT))),
                    opening_hours=draw(st.one_of(st.none(), st.sampled_from(HOURS))),
                )
            )
    closures = []
    for index in range(draw(st.integers(0, 3))):
        start = draw(edges_near_at)
        end = draw(st.one_of(st.none(), edges_near_at.filter(lambda end, start=start: end > start)))
        closures.append(
            Closure(
                id=f"c{index}",
                checkpoint_id="medininkai",
                starts_at=start,
                ends_at=end,
                modes=tuple(draw(st.sets(st.sampled_from(MODES), min_size=1))),
                reason=draw(st.sampled_from(CLOSURE_REASONS)),
            )
        )
    facts = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "direction": st.sampled_from(["entry", "exit"]),
                "vehicle_registration": st.sampled_from(["BY", "LT"]),
                "traveller_category": st.sampled_from(["diplomat", "tourist"]),
                "vehicle_category": st.sampled_from(["bus", "car"]),
            },
        )
    )
    history = {
        "checkpoint": checkpoint(draw(st.sampled_from(HOURS))),
        "rules": rules,
        "closures": closures,
        "mode": draw(st.sampled_from(MODES)),
        "facts": facts,
    }
    return at, history


@settings(
    max_examples=examples(300),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=histories(), fractions=st.lists(st.floats(0, 1), max_size=4))
def test_answer_holds_until_valid_until(case, fractions):
    at, history = case
    first = decide(at=at, **history)
    assert first.valid_until is None or first.valid_until > at
    end = first.valid_until or at + timedelta(days=30)
    last = end - timedelta(microseconds=1)
    span = end - at
    for instant in [last, *(at + span * fraction for fraction in fractions)]:
        instant = min(instant, last)
        later = decide(at=instant, **history)
        assert later.same_answer(first), (instant, first, later)


@pytest.mark.parametrize(
    "at",
    [
        pytest.param(t("1899-12-31T23:59:59.999999"), id="before-the-range"),
        pytest.param(t("3000-01-01T00:00"), id="the-exclusive-end"),
        pytest.param(datetime(1, 1, 1, tzinfo=UTC), id="year-1"),
    ],
)
def test_decide_refuses_a_time_outside_the_supported_range(at):
    with pytest.raises(ValueError, match="from 1900-01-01T00:00:00Z up to, not including"):
        decide(checkpoint=checkpoint(), rules=[], closures=[], mode="goods", at=at, facts={})


# Zones from the furthest west to the furthest east, and Vilnius's own history.
EDGE_ZONES = (
    "Pacific/Pago_Pago",
    "America/Los_Angeles",
    "Europe/Vilnius",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
)
EDGE_HOURS = ("Mo-Fr 08:00-20:00", "PH off; Mo-Su 06:00-22:00", "24/7", "22:00-02:00", "2999 Dec")


@settings(max_examples=examples(300), deadline=None, database=None)
@given(
    at=st.one_of(
        st.datetimes(datetime(1900, 1, 1), datetime(2999, 12, 31, 23, 59, 59, 999999)),
        st.datetimes(datetime(1900, 1, 1), datetime(1900, 1, 2)),
        st.datetimes(datetime(2999, 12, 30), datetime(2999, 12, 31, 23, 59, 59, 999999)),
    ).map(lambda naive: naive.replace(tzinfo=UTC)),
    zone=st.sampled_from(EDGE_ZONES),
    hours=st.sampled_from(EDGE_HOURS),
    own_hours=st.booleans(),
)
def test_every_time_in_the_range_is_decided(at, zone, hours, own_hours):
    """decide() never raises in the supported range, with opening hours in force, and its
    valid_until lies after `at` and inside the range (or is null)."""
    place = Checkpoint(id="medininkai", timezone=zone, opening_hours=hours)
    rules = [
        Rule(
            id=f"r-{mode}",
            checkpoint_id="medininkai",
            mode=mode,
            access="allowed",
            valid_from=t("1900-01-01T00:00"),
            valid_until=t("2999-12-31T23:59:59") if mode == "goods" else None,
            opening_hours=hours if own_hours else None,
        )
        for mode in MODES
    ]
    decisions = {
        mode: decide(checkpoint=place, rules=rules, closures=[], mode=mode, at=at, facts={})
        for mode in MODES
    }
    derive_state(decisions)
    for decision in decisions.values():
        assert decision.valid_until is None or at < decision.valid_until < TIME_END


def _message(checkpoint_=None, rules=(), closures=(), at=AT, facts=None) -> str:
    (reason,) = decide(
        checkpoint=checkpoint_ or checkpoint(),
        rules=rules,
        closures=closures,
        mode="pedestrian",
        at=t(at),
        facts=facts or {},
    ).reasons
    return reason.message


UNKNOWN_HOURS = "Mo-Su 08:00-20:00 unknown"


@pytest.mark.parametrize(
    ("situation", "message"),
    [
        pytest.param({}, "No rule in force for pedestrian", id="no-rule"),
        pytest.param(
            {"rules": [rule("r1", "prohibited")]}, "Pedestrian crossing is prohibited", id="rule"
        ),
        pytest.param(
            {"checkpoint_": checkpoint("Mo-Fr 08:00-20:00"), "rules": [rule("r1")]},
            "Outside the checkpoint's opening hours (Mo-Fr 08:00-20:00)",
            id="outside-the-checkpoint's-hours",
        ),
        pytest.param(
            {"rules": [rule("r1", opening_hours="Mo-Fr 08:00-20:00")]},
            "Outside the rule's opening hours (Mo-Fr 08:00-20:00)",
            id="outside-the-rule's-hours",
        ),
        pytest.param(
            {"checkpoint_": checkpoint(UNKNOWN_HOURS), "rules": [rule("r1")]},
            f"The checkpoint's opening hours ({UNKNOWN_HOURS}) do not say whether it is open",
            id="the-checkpoint's-hours-unknown",
        ),
        pytest.param(
            {"rules": [rule("r1", opening_hours=UNKNOWN_HOURS)]},
            f"The rule's opening hours ({UNKNOWN_HOURS}) do not say whether it is open",
            id="the-rule's-hours-unknown",
        ),
        pytest.param({"rules": [rule("r1")]}, "Pedestrian crossing is allowed", id="allowed"),
        pytest.param(
            {
                "rules": [rule("r1", condition=FEW_TRAVELLERS)],
                "facts": {"traveller_category": "resident"},
            },
            "Pedestrian crossing is allowed",
            id="an-allowed-rule's-condition-is-not-asked",
        ),
        pytest.param(
            {
                "rules": [rule("r1")],
                "closures": [
                    closure("c1", "2024-03-01T00:00", modes=("goods",)),
                    closure("c2", "2024-03-01T00:00", modes=("pedestrian",), reason="other"),
                ],
            },
            "Closed until further notice",
            id="a-closure-after-another-mode's",
        ),
        pytest.param(
            {
                "rules": [
                    rule("r0", "prohibited", mode="goods"),
                    rule("r1", "prohibited"),
                ],
            },
            "Pedestrian crossing is prohibited",
            id="a-rule-after-another-mode's",
        ),
        pytest.param(
            {"rules": [rule("r1", conditions_text=TEXT)]},
            "Pedestrian crossing is allowed",
            id="allowed-with-published-text",
        ),
        pytest.param(
            {"rules": [rule("r1", "restricted", conditions_text=TEXT)]},
            "Pedestrian crossing is allowed on the published conditions",
            id="restricted-by-published-text-only",
        ),
        pytest.param(
            {"rules": [rule("r1", "restricted")]},
            "Pedestrian crossing is allowed",
            id="restricted-without-condition-or-text",
        ),
        pytest.param(
            {
                "rules": [rule("r1", "restricted", condition=FEW_TRAVELLERS)],
                "facts": {"traveller_category": "diplomat"},
            },
            "Condition met: traveller_category is one of diplomat, kaliningrad_transit",
            id="condition-met",
        ),
        pytest.param(
            {
                "rules": [rule("r1", "restricted", condition=FEW_TRAVELLERS)],
                "facts": {"traveller_category": "resident"},
            },
            "Condition not met: traveller_category is one of diplomat, kaliningrad_transit",
            id="condition-not-met",
        ),
        pytest.param(
            {"rules": [rule("r1", "restricted", condition=FEW_TRAVELLERS)]},
            "Facts needed (traveller_category) for the condition: traveller_category is one of"
            " diplomat, kaliningrad_transit",
            id="facts-needed",
        ),
    ],
)
def test_each_reason_says_why_in_words(situation, message):
    # AT is a Saturday at noon in Vilnius: outside weekday hours, inside "unknown" ones.
    assert _message(**situation) == message


def test_the_instant_decided_must_be_aware_and_is_named_when_it_is_not():
    with pytest.raises(ValueError) as refused:
        decide(
            checkpoint=checkpoint(), rules=[], closures=[], mode="pedestrian",
            at=t(AT).replace(tzinfo=None), facts={},
        )  # fmt: skip
    assert str(refused.value) == "at must be timezone-aware"


def test_a_checkpoint_without_countries_reads_its_hours_without_holidays():
    # 16 February is a public holiday in Lithuania: "PH off" shuts a Lithuanian point only.
    def on_statehood_day(countries):
        return decide(
            checkpoint=Checkpoint(id="medininkai", timezone="Europe/Vilnius", countries=countries),
            rules=[rule("r1", opening_hours="Mo-Su 08:00-20:00; PH off")],
            closures=[], mode="pedestrian", at=t("2024-02-16T10:00"), facts={},
        )  # fmt: skip

    assert on_statehood_day(("LT", "BY")).allowed is False
    assert on_statehood_day(()).allowed is True
