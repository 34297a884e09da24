"""Opening hours in OpenStreetMap syntax, read through opening-hours-py in a checkpoint's zone.

opening-hours-py evaluates on local wall-clock time. Across a daylight-saving change its own
time-zone handling attaches a repeated wall time to the second occurrence (so a change inside
the repeated hour was reported an hour late), so this module gives it naive wall-clock times
and converts its answers back to UTC itself, one stretch of constant UTC offset at a time.

The library reads wall times from 1900-01-01 00:00 on and calls every schedule closed before
(even ``24/7``). An instant in the supported range (model.TIME_MIN on) can still fall before
that on a local clock west of UTC, so there the state is "unknown" until the local clock
reaches 1900. A change at or after model.TIME_END is not reported (None).
"""

from __future__ import annotations

import bisect
import functools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import opening_hours

from service.domain.model import TIME_END

_POSITION = re.compile(r"-->\s*(\d+):(\d+)")
# A zone with no offset change in this many years is taken to have none later (IANA data
# carries no scheduled one-off changes that far ahead).
_QUIET_YEARS = 10
# Each step is one change of state, of comment or of UTC offset; a year has a few offset changes.
_MAX_STEPS = 1000
# The first wall time opening-hours-py evaluates.
_WALL_MIN = datetime(1900, 1, 1)


def validate_opening_hours(text: object) -> str | None:
    """None when ``text`` is valid opening_hours syntax, else a one-line error message."""
    if not isinstance(text, str):
        return "Must be a string."
    if not text.strip():
        return "Must not be empty."
    try:
        opening_hours.OpeningHours(text)
    except opening_hours.ParserError as error:
        return _parser_message(str(error))
    return None


def _parser_message(diagnostic: str) -> str:
    lines = [line.strip() for line in diagnostic.splitlines() if line.strip(" |^-")]
    detail = lines[-1] if lines else "unknown parsing error"
    detail = detail.removeprefix("=").strip()
    detail = detail.removeprefix("Failed to parse expression:").strip() or "unknown error"
    position = _POSITION.search(diagnostic)
    if position:
        return f"Invalid opening hours at column {position.group(2)}: {detail}."
    return f"Invalid opening hours: {detail}"


@functools.lru_cache(maxsize=1024)
def _parse(text: str, timezone: str, country: str | None) -> opening_hours.OpeningHours:
    zone = ZoneInfo(timezone)
    try:
        return opening_hours.OpeningHours(
            text, timezone=zone, country=country, auto_country=False, auto_timezone=False
        )
    except opening_hours.UnknownCountryError:
        # No public-holiday calendar for this country: "PH" then never matches.
        return opening_hours.OpeningHours(
            text, timezone=zone, auto_country=False, auto_timezone=False
        )
    except opening_hours.ParserError as error:
        raise ValueError(_parser_message(str(error))) from None


def open_state(
    text: str, timezone: str, country: str | None, at: datetime
) -> tuple[str, datetime | None]:
    """The state of ``text`` at ``at`` ("open", "closed" or "unknown") and when it next changes.

    Hours are read in ``timezone`` with the public holidays of ``country``. The change is an
    aware UTC datetime, or None when the state never changes before model.TIME_END. Invalid
    hours are a ValueError.
    """
    if at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    hours = _parse(text, timezone, country)
    zone = ZoneInfo(timezone)
    at = at.astimezone(UTC)
    state = _state(hours, _wall(at, zone))
    try:
        change = _next_change(hours, zone, timezone, state, at)
    except OverflowError:  # the change would fall after 9999-12-31
        return state, None
    return state, (change if change is not None and change < TIME_END else None)


def _state(hours: opening_hours.OpeningHours, wall: datetime) -> str:
    if wall < _WALL_MIN:
        return "unknown"
    return str(hours.state(wall)[0])


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _library_change(hours: opening_hours.OpeningHours, wall: datetime) -> datetime | None:
    if wall < _WALL_MIN:
        return _WALL_MIN
    change = hours.next_change(wall)
    return None if change is None else change.replace(tzinfo=None, fold=0)


def _next_change(
    hours: opening_hours.OpeningHours, zone: ZoneInfo, timezone: str, state: str, at: datetime
) -> datetime | None:
    """The first instant after ``at`` whose state differs from ``state``.

    Invariant: the state is ``state`` at every wall time in [window_from, window_until), and
    every instant in [at, instant) has been checked. Within one stretch of constant UTC offset
    wall time and UTC move together, so the library's next change converts exactly; where the
    offset changes the wall clock jumps and the state there is looked at afresh.
    """
    instant = at
    window_from = _wall(at, zone)
    window_until = _library_change(hours, window_from)
    for _ in range(_MAX_STEPS):
        offset = instant.astimezone(zone).utcoffset()
        offset_change = _next_offset_change(timezone, instant)
        if window_until is not None:
            change = (window_until - offset).replace(tzinfo=UTC)
            if offset_change is None or change < offset_change:
                if _state(hours, window_until) != state:
                    return change
                # Only the comment changed: keep going.
                instant, window_from = change, window_until
                window_until = _library_change(hours, window_from)
                continue
        if offset_change is None:
            return None
        wall = _wall(offset_change, zone)
        if window_from <= wall and (window_until is None or wall < window_until):
            # The jump lands inside the stretch of wall time already known to be in `state`.
            if window_until is None:
                # Every later wall time lies beyond window_from: the state never changes.
                return None
            instant = offset_change
            continue
        if _state(hours, wall) != state:
            return offset_change
        instant, window_from = offset_change, wall
        window_until = _library_change(hours, window_from)
    return instant


def _next_offset_change(timezone: str, instant: datetime) -> datetime | None:
    """The first instant after ``instant`` at which the zone's UTC offset changes, or None."""
    year = instant.year
    changes = _offset_changes(timezone, year)
    index = bisect.bisect_right(changes, instant)
    if index < len(changes):
        return changes[index]
    return _first_offset_change_from(timezone, year + 1)


@functools.lru_cache(maxsize=4096)
def _first_offset_change_from(timezone: str, year: int) -> datetime | None:
    for later in range(year, min(year + _QUIET_YEARS, 9999)):
        changes = _offset_changes(timezone, later)
        if changes:
            return changes[0]
    return None


@functools.lru_cache(maxsize=4096)
def _offset_changes(timezone: str, year: int) -> tuple[datetime, ...]:
    """The UTC instants in (start of ``year``, start of the next year] where the offset changes.

    Sampled daily, then bisected to the second (IANA offsets change on whole seconds).
    """
    zone = ZoneInfo(timezone)
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()) if year < 9999 else start
    day = 86_400
    changes = []
    previous = start
    previous_offset = _offset(previous, zone)
    for sample in range(start + day, end + day, day):
        sample = min(sample, end)
        sample_offset = _offset(sample, zone)
        if sample_offset != previous_offset:
            low, high = previous, sample
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(middle, zone) == previous_offset:
                    low = middle
                else:
                    high = middle
            changes.append(datetime.fromtimestamp(high, UTC))
        previous, previous_offset = sample, sample_offset
    return tuple(changes)


def _offset(timestamp: int, zone: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()
