"""Opening hours through opening-hours-py: validation, holidays, and clock changes in Vilnius."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain import hours
from service.domain.hours import open_state, validate_opening_hours
from tests.properties import examples

VILNIUS = "Europe/Vilnius"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["24/7", "Mo-Fr 08:00-20:00", "06:00-22:00", "Mo-Su 00:00-24:00; PH off", "sunrise-sunset"],
)
def test_valid_hours(text):
    assert validate_opening_hours(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "24/7 x",
            "Invalid opening hours at column 6: expected EOI, any_rule_separator, "
            "or rules_modifier.",
            id="trailing-junk",
        ),
        pytest.param(
            "Mo-Fr 08:00-20:00;",
            "Invalid opening hours at column 19: unexpected EOI.",
            id="dangling-separator",
        ),
        pytest.param(
            "2099-2000",
            "Invalid opening hours: Inverted year ranges are ambiguous, do you mean '2000-2099'?",
            id="one-line-diagnostic",
        ),
        pytest.param("", "Must not be empty.", id="empty"),
        pytest.param(None, "Must be a string.", id="not-a-string"),
    ],
)
def test_invalid_hours_give_one_line(text, message):
    assert validate_opening_hours(text) == message


@pytest.mark.parametrize(
    ("text", "country", "at", "state", "change"),
    [
        pytest.param("24/7", "LT", "2024-03-02T10:00", "open", None, id="always-open"),
        pytest.param("24/7 off", "LT", "2024-03-02T10:00", "closed", None, id="always-closed"),
        pytest.param(
            "Mo-Fr 08:00-20:00", "LT", "2024-03-01T17:59", "open", "2024-03-01T18:00", id="fri"
        ),
        pytest.param(
            "Mo-Fr 08:00-20:00", "LT", "2024-03-02T10:00", "closed", "2024-03-04T06:00", id="sat"
        ),
        pytest.param(
            "Mo-Fr 08:00-20:00", "LT", "2024-03-04T06:00", "open", "2024-03-04T18:00", id="opening"
        ),
        pytest.param(
            "Mo-Su 08:00-20:00 unknown",
            "LT",
            "2024-03-02T10:00",
            "unknown",
            "2024-03-02T18:00",
            id="unknown",
        ),
        pytest.param(
            "Mo-Su 00:00-24:00; PH off",
            "LT",
            "2024-12-24T10:00",
            "closed",
            "2024-12-26T22:00",
            id="lithuanian-christmas",
        ),
        pytest.param(
            "Mo-Su 00:00-24:00; PH off",
            "BY",
            "2024-12-24T10:00",
            "open",
            "2024-12-24T22:00",
            id="belarus-works-on-christmas-eve",
        ),
        pytest.param(
            "Mo-Su 00:00-24:00; PH off",
            None,
            "2024-12-25T10:00",
            "open",
            None,
            id="no-country-no-holidays",
        ),
        pytest.param(
            "Mo-Su 00:00-24:00; PH off",
            "XK",
            "2024-12-25T10:00",
            "open",
            None,
            id="country-without-holiday-calendar",
        ),
        # Clocks go forward at 03:00 EET on 2024-03-31 (01:00Z) and back at 04:00 EEST on
        # 2024-10-27 (01:00Z).
        pytest.param(
            "06:00-22:00", "LT", "2024-03-30T21:00", "closed", "2024-03-31T03:00", id="spring-night"
        ),
        pytest.param(
            "06:00-22:00", "LT", "2024-03-31T03:00", "open", "2024-03-31T19:00", id="spring-day"
        ),
        pytest.param(
            "06:00-22:00", "LT", "2024-10-26T20:00", "closed", "2024-10-27T04:00", id="autumn-night"
        ),
        pytest.param(
            "03:00-05:00",
            "LT",
            "2024-10-26T22:00",
            "closed",
            "2024-10-27T00:00",
            id="opens-at-first-03:00-of-the-repeated-hour",
        ),
        pytest.param(
            "03:00-05:00",
            "LT",
            "2024-10-27T00:30",
            "open",
            "2024-10-27T03:00",
            id="open-across-the-repeated-hour",
        ),
        pytest.param(
            "02:00-03:30",
            "LT",
            "2024-10-26T23:30",
            "open",
            "2024-10-27T00:30",
            id="closes-in-first-pass-of-the-repeated-hour",
        ),
        pytest.param(
            "02:00-03:30",
            "LT",
            "2024-10-27T00:45",
            "closed",
            "2024-10-27T01:00",
            id="reopens-when-the-hour-repeats",
        ),
        pytest.param(
            "03:00-05:00",
            "LT",
            "2024-03-30T23:30",
            "closed",
            "2024-03-31T01:00",
            id="opens-when-the-clock-skips-ahead",
        ),
        pytest.param(
            "03:30-03:45",
            "LT",
            "2024-03-30T23:30",
            "closed",
            "2024-04-01T00:30",
            id="skipped-hours-never-open",
        ),
    ],
)
def test_open_state(text, country, at, state, change):
    assert open_state(text, VILNIUS, country, t(at)) == (state, change and t(change))


def test_open_state_accepts_any_aware_time():
    local = datetime(2024, 3, 4, 8, 0, tzinfo=ZoneInfo(VILNIUS))
    assert open_state("Mo-Fr 08:00-20:00", VILNIUS, "LT", local) == ("open", t("2024-03-04T18:00"))


def test_open_state_rejects_naive_times_and_invalid_hours():
    with pytest.raises(ValueError, match="timezone-aware"):
        open_state("24/7", VILNIUS, "LT", datetime(2024, 3, 2, 10))
    with pytest.raises(ValueError, match="column 6"):
        open_state("24/7 x", VILNIUS, "LT", t("2024-03-02T10:00"))


def test_parsed_hours_are_cached():
    before = hours._parse.cache_info()
    for _ in range(3):
        open_state("Mo-Th 07:00-19:00", VILNIUS, "LT", t("2024-03-02T10:00"))
    after = hours._parse.cache_info()
    assert after.hits - before.hits >= 2
    assert after.misses - before.misses <= 1


@pytest.mark.parametrize(
    "text", ["01:00-05:00", "03:00-05:00", "02:00-03:30", "00:00-03:15,03:45-24:00", "22:00-02:00"]
)
@pytest.mark.parametrize("zone", ["Europe/Vilnius", "America/New_York"])
@pytest.mark.parametrize(
    "night", ["2024-03-30T18:00", "2024-10-26T18:00", "2024-03-09T18:00", "2024-11-02T18:00"]
)
def test_next_change_is_exact_around_clock_changes(text, zone, night):
    """Every 10 minutes over a night: the state holds until the change and differs at it."""
    samples = [t(night) + timedelta(minutes=10 * step) for step in range(18 * 6)]
    answers = [open_state(text, zone, "LT", instant) for instant in samples]
    for index, (instant, (state, change)) in enumerate(zip(samples, answers, strict=True)):
        assert change is not None and change > instant
        assert open_state(text, zone, "LT", change)[0] != state
        for later, later_answer in zip(samples[index + 1 :], answers[index + 1 :], strict=True):
            if later >= change:
                break
            assert later_answer == (state, change), (instant, later)


# As a property: random hours and instants close to the clock changes ------------------------

DST_SENSITIVE_HOURS = (
    "24/7",
    "06:00-22:00",
    "Mo-Fr 08:00-20:00",
    "Mo-Su 00:00-24:00; PH off",
    "03:00-05:00",
    "02:00-03:30",
    "03:30-03:45",
    "00:00-03:15,03:45-24:00",
    "22:00-02:00",
)
CLOCK_CHANGES = (t("2024-03-31T01:00"), t("2024-10-27T01:00"))


@settings(max_examples=examples(300), deadline=None, database=None)
@given(
    text=st.sampled_from(DST_SENSITIVE_HOURS),
    clock_change=st.sampled_from(CLOCK_CHANGES),
    seconds=st.integers(-12 * 3600, 12 * 3600),
    fractions=st.lists(st.floats(0, 1), max_size=4),
)
def test_state_holds_until_the_change_and_differs_at_it(text, clock_change, seconds, fractions):
    at = clock_change + timedelta(seconds=seconds)
    state, change = open_state(text, VILNIUS, "LT", at)
    if change is None:
        # No change ever: the same answer every 15 minutes over the next two days (the
        # clock change among them) and at instants spread over the next ten years.
        later = [at + timedelta(minutes=15 * step) for step in range(1, 2 * 24 * 4 + 1)]
        later += [at + timedelta(days=3650) * fraction for fraction in fractions]
        for instant in later:
            assert open_state(text, VILNIUS, "LT", instant) == (state, None), instant
        return
    assert change > at
    assert open_state(text, VILNIUS, "LT", change)[0] != state
    last = change - timedelta(microseconds=1)
    for instant in [last, *(at + (change - at) * fraction for fraction in fractions)]:
        assert open_state(text, VILNIUS, "LT", min(instant, last)) == (state, change)


def local(text: str, zone: str = VILNIUS) -> datetime:
    """The UTC instant of a wall-clock time in ``zone`` (whatever offset its data gives then)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "at", "state", "change"),
    [
        # Vilnius kept local mean time (+01:24) then: hours are read on that clock.
        pytest.param(
            "Mo-Fr 08:00-20:00", "1900-01-01T00:00", "closed", "1900-01-01T08:00", id="1900-first"
        ),
        pytest.param(
            "Mo-Fr 08:00-20:00", "1900-01-01T12:00", "open", "1900-01-01T20:00", id="1900-monday"
        ),
        pytest.param(
            "Mo-Fr 08:00-20:00",
            "1901-06-08T12:00",
            "closed",
            "1901-06-10T08:00",
            id="1901-saturday",
        ),
        pytest.param("24/7", "1900-06-01T12:00", "open", None, id="1900-always-open"),
        pytest.param(
            "Mo-Fr 08:00-20:00", "1901-12-31T21:00", "closed", "1902-01-01T08:00", id="1901-last"
        ),
    ],
)
def test_hours_in_1900_and_1901_are_read_on_the_local_clock(text, at, state, change):
    expected = None if change is None else local(change)
    assert open_state(text, VILNIUS, "LT", local(at)) == (state, expected)


@pytest.mark.parametrize("text", ["24/7", "Mo-Fr 08:00-20:00", "Mo-Fr 08:00-20:00 unknown"])
def test_hours_are_unknown_where_the_local_clock_is_before_1900(text):
    """The range starts at 1900-01-01T00:00Z, when Los Angeles's clock still read 1899 (the
    library calls every schedule closed there): unknown until its clock reaches 1900."""
    zone = "America/Los_Angeles"
    first_wall_1900 = local("1900-01-01T00:00", zone)
    state, change = open_state(text, zone, "US", t("1900-01-01T00:00"))
    assert (state, change) == ("unknown", first_wall_1900)
    assert open_state(text, zone, "US", first_wall_1900)[0] != "unknown" or "unknown" in text


@pytest.mark.parametrize(
    ("text", "at", "state"),
    [
        pytest.param("Mo-Fr 08:00-20:00", "2999-12-31T23:00", "closed", id="weekend-in-3000"),
        pytest.param("Mo-Fr 08:00-20:00", "2999-12-31T23:59:59.999999", "closed", id="last-µs"),
        pytest.param(
            "2999 Dec 31 open; 3000 Jan 01 open", "2999-12-31T10:00", "open", id="open-past-end"
        ),
    ],
)
def test_a_change_after_the_supported_range_is_not_reported(text, at, state):
    assert open_state(text, VILNIUS, "LT", t(at)) == (state, None)


@pytest.mark.parametrize(
    ("text", "at", "expected"),
    [
        # Closed on the evening before the spring change (01:00Z on 31 March 2024): the next
        # morning's 08:00 is in summer time, 05:00Z, not 06:00Z.
        pytest.param(
            "Mo-Su 08:00-20:00", "2024-03-30T19:00", ("closed", "2024-03-31T05:00"),
            id="across-the-spring-change",
        ),
        # Closed from November to March: the change, in April, comes after the next year's
        # spring change, found in the year after the one asked about.
        pytest.param(
            "Apr-Oct 08:00-20:00", "2024-12-01T12:00", ("closed", "2025-04-01T05:00"),
            id="after-next-year's-change",
        ),
        # Only the comment changes at noon: the state changes at 20:00 (18:00Z in winter).
        pytest.param(
            'Mo-Su 08:00-12:00 "morning", Mo-Su 12:00-20:00 "afternoon"', "2024-02-01T08:00",
            ("open", "2024-02-01T18:00"),
            id="a-comment-change-is-no-change",
        ),
    ],
)  # fmt: skip
def test_the_next_change_in_vilnius_found_afresh(text, at, expected):
    # The zone's offset changes are cached per year: found afresh here, not by an earlier test.
    hours._offset_changes.cache_clear()
    hours._first_offset_change_from.cache_clear()
    state, change = open_state(text, VILNIUS, "LT", datetime.fromisoformat(at).replace(tzinfo=UTC))
    state_expected, change_expected = expected
    assert (state, change) == (
        state_expected,
        datetime.fromisoformat(change_expected).replace(tzinfo=UTC),
    )


def test_the_instant_must_be_aware():
    with pytest.raises(ValueError) as refused:
        open_state("24/7", VILNIUS, "LT", datetime(2024, 2, 1, 8))
    assert str(refused.value) == "at must be timezone-aware"
