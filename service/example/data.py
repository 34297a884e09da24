"""The bundled example: the six Lithuania–Belarus road border points and their 2023–2025
timeline (operating country LT, neighbour BY, zone Europe/Vilnius).

The facts come from public reports (the Lithuanian Ministry of the Interior, the Lithuanian
Government, the press). Where they are silent the data guesses, and says "illustrative" in
the rule's ``note`` or the closure's ``description``. Locations are approximate (possibly
several km off).

Every write belongs to a ``Step`` dated by its announcement and recorded at that time (00:00
local time of the announcement's day, whose hour is not known; a closure's ``announced_at``
where the data gives one). Where only the day a measure took effect is known, the step is
dated a day before it and marked ``illustrative``. The steps are in that order, and
within a step a rule is always shortened before the rule that follows it is created (rules of
one checkpoint and mode never overlap). Ids are readable and stable:
``rule-<checkpoint>-<mode>-<n>`` (n counts that mode's rules at that point from 1) and
``closure-<checkpoint>-<first day, local>``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from service.domain import MODES

from .timeline import Create, Step, Update, vilnius


def _point(id_, name, lt, counterpart, be, lat, lon):
    return {
        "id": id_,
        "name": name,
        "local_names": {"lt": lt, "be": be},
        "countries": ["LT", "BY"],
        "counterpart": counterpart,
        "kind": "road",
        "location": {"lat": lat, "lon": lon},
        "timezone": "Europe/Vilnius",
        "opening_hours": "24/7",
    }


CHECKPOINTS = [
    _point("sumskas", "Šumskas", "Šumskas", "Losha", "Лоша", 54.630, 25.782),
    _point("tverecius", "Tverečius", "Tverečius", "Vidzy", "Відзы", 55.344, 26.602),
    _point("lavoriskes", "Lavoriškės", "Lavoriškės", "Kotlovka", "Котлаўка", 54.717, 25.641),
    _point("raigardas", "Raigardas", "Raigardas", "Privalka", "Прывалка", 53.948, 24.020),
    _point("medininkai", "Medininkai", "Medininkai", "Kamenny Log", "Каменны Лог", 54.538, 25.655),
    _point("salcininkai", "Šalčininkai", "Šalčininkai", "Benyakoni", "Беняконі", 54.262, 25.436),
]

# --- sources ---------------------------------------------------------------------------------
GOVERNMENT = "Government of the Republic of Lithuania"
GOVERNMENT_URL = "https://lrv.lt/"
INTERIOR = "Ministry of the Interior of the Republic of Lithuania"
INTERIOR_URL = "https://vrm.lrv.lt/"
RESOLUTION_517 = "Government Resolution No. 517 of 2021-07-02, as amended"

SOURCE_2023_08_16 = {
    "authority": GOVERNMENT,
    "reference": "Government decision of 2023-08-16",
    "url": GOVERNMENT_URL,
}
SOURCE_2024_02_21 = {
    "authority": INTERIOR,
    "reference": "Government decision of 2024-02-21, announced by the Minister of the Interior "
    "Agnė Bilotaitė",
    "url": INTERIOR_URL,
}
SOURCE_2024_08_16 = {
    "reference": "Public reports: Belarus-registered cars barred from entering Lithuania from "
    "2024-08-16 (announcing authority not recorded in this example)",
}
SOURCE_2025_04 = {
    "reference": "Public reports, April 2025: only cars at Medininkai and Šalčininkai "
    "(announcing authority not recorded in this example)",
}
SOURCE_2025_10_22 = {
    "reference": "Public reports of 2025-10-22 (announcing authority not recorded in this example)",
}
SOURCE_2025_10_27 = {"authority": GOVERNMENT, "reference": RESOLUTION_517, "url": GOVERNMENT_URL}
SOURCE_2025_10_29 = {
    "authority": GOVERNMENT,
    "reference": f"Government decision of 2025-10-29; {RESOLUTION_517}",
    "url": GOVERNMENT_URL,
}
SOURCE_2025_11_20 = {
    "authority": GOVERNMENT,
    "reference": f"{RESOLUTION_517}; reopened 2025-11-20",
    "url": GOVERNMENT_URL,
}

# --- conditions ------------------------------------------------------------------------------
#: The 27 member states of the European Union (ISO 3166-1 alpha-2; Greece is GR).
EU_MEMBER_STATES = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
)  # fmt: skip

#: traveller_category slugs the example uses (an open vocabulary), with their meaning.
TRAVELLER_CATEGORIES = {
    "diplomat": "diplomats",
    "kaliningrad_transit": "travellers in transit to or from the Kaliningrad region",
    "lt_residence_permit": "holders of a Lithuanian residence permit",
    "eu_citizen_family": "family members travelling with a Lithuanian or other EU citizen "
    "who enters Lithuania",
}

ENTRY = {"fact": "direction", "in": ["entry"]}
NO_BELARUS_CARS_ENTERING = {"not": {"all": [ENTRY, {"fact": "vehicle_registration", "in": ["BY"]}]}}
CARS_ONLY = {"fact": "vehicle_category", "in": ["car"]}
CARS_ONLY_NO_BELARUS_CARS_ENTERING = {"all": [NO_BELARUS_CARS_ENTERING, CARS_ONLY]}
AUTUMN_2025_ADMITTED = {
    "all": [
        {
            "any": [
                {"fact": "traveller_category", "in": list(TRAVELLER_CATEGORIES)},
                {"all": [ENTRY, {"fact": "nationality", "in": list(EU_MEMBER_STATES)}]},
            ]
        },
        NO_BELARUS_CARS_ENTERING,
        CARS_ONLY,
    ]
}

TEXT_NO_BELARUS_CARS = "Cars registered in Belarus may not enter Lithuania."
TEXT_CARS_ONLY = "Only cars may cross: motorcycles, mopeds and other vehicles are refused."
TEXT_AUTUMN_2025 = (
    "Only diplomats, travellers in transit to or from the Kaliningrad region, Lithuanian and "
    "other EU citizens entering Lithuania with their family, and holders of a Lithuanian "
    "residence permit may cross."
)
TEXT_NO_PEDESTRIANS = (
    "Pedestrians and cyclists may no longer cross at Medininkai and Šalčininkai (from 2024-03-01)."
)

# --- notes -----------------------------------------------------------------------------------
NOTE_BEFORE_2023 = (
    "illustrative: before 2023 every mode was allowed. Location approximate: the point's "
    "coordinates are unverified and possibly several km off."
)
NOTE_PEDESTRIANS = (
    "Government decision of 2024-02-21 (threats to national security): pedestrians and "
    "cyclists stopped at Medininkai and Šalčininkai from 2024-03-01 00:00 local time."
)
NOTE_NO_BELARUS_CARS = (
    "From 2024-08-16 00:00 local time cars registered in Belarus may not enter Lithuania; "
    "leaving Lithuania and other registrations are unaffected."
)
NOTE_CARS_ONLY = (
    "Only cars may cross by vehicle: motorcycles, mopeds and other vehicles are refused "
    "(reported: 6,170 such crossings in Q1 2025 against 285 in Q1 2024). Buses and vans follow "
    "the reported wording 'only cars' and are refused. The Belarus-registration entry ban "
    "continues. illustrative: the start day 2025-04-17 is not verified (reported: April 2025)."
)
NOTE_AUTUMN_2025_VEHICLE = (
    "From 2025-10-27 (00:00 local is an illustrative hour) open only to: "
    + "; ".join(
        f"traveller_category {slug!r} = {meaning}" for slug, meaning in TRAVELLER_CATEGORIES.items()
    )
    + "; and Lithuanian or other EU nationals (nationality one of the 27 member states) entering "
    "Lithuania. Cars only and the Belarus-registration entry ban continue. Legal basis: "
    f"{RESOLUTION_517}."
)
NOTE_AUTUMN_2025_GOODS = (
    "Goods traffic stopped from 2025-10-27 (00:00 local is an illustrative hour) while the point "
    "is open only to listed categories of travellers. illustrative: the reference does not "
    "mention goods; they are not among the admitted categories."
)
NOTE_REOPENED_VEHICLE = (
    "Reopened early on 2025-11-20 00:00 local time: cars only again, as from April 2025; the "
    "Belarus-registration entry ban continues."
)
NOTE_REOPENED_GOODS = (
    "Goods traffic allowed again on the reopening of 2025-11-20 00:00 local time. "
    "illustrative: the reference says only 'reopened early, cars only again'."
)

# --- closure descriptions --------------------------------------------------------------------
DESC_2023 = (
    "Operations stopped by the Government's decision of 2023-08-16 for reasons of national "
    "security; the point had no X-ray equipment. Closed from 2023-08-18 00:00 local time "
    "until further notice. announced_at gives the day of the decision (its hour is not known)."
)
DESC_2024 = (
    "Operations stopped by the Government's decision of 2024-02-21: threats to national "
    "security (activity of Belarusian and Russian intelligence services, migrant pressure). "
    "Closed from 2024-03-01 00:00 local time until further notice. announced_at gives the day "
    "of the decision (its hour is not known)."
)
DESC_BALLOONS = (
    "Closed overnight after smuggling balloons crossed from Belarus (national security). "
    "illustrative: the hours 21:00 to 07:00 local time are a guess; the reference gives only "
    "the night of 2025-10-22."
)
DESC_SALCININKAI = (
    "Closed after smuggling balloons crossed from Belarus (national security). Legal basis: "
    f"{RESOLUTION_517}. illustrative: the starting hour (00:00 local), also used as "
    "announced_at, is a guess."
)
DESC_SALCININKAI_CLOSED = DESC_SALCININKAI + " Closed until further notice."
DESC_SALCININKAI_EXTENDED = (
    DESC_SALCININKAI + " On 2025-10-29 the Government set the closure to last until the end of "
    "2025-11-30 (ends_at 2025-12-01 00:00 local time)."
)
DESC_SALCININKAI_REOPENED = (
    DESC_SALCININKAI_EXTENDED
    + " Reopened early on 2025-11-20 00:00 local time (ends_at moved earlier); cars only again."
)
UNTIL_END_OF_NOVEMBER = (
    " On 2025-10-29 the Government set these measures to last until the end of 2025-11-30."
)
ENDED_EARLY = " Ended early: the point reopened on 2025-11-20 00:00 local time."


# --- write helpers ---------------------------------------------------------------------------
def rule_id(checkpoint_id: str, mode: str, n: int) -> str:
    return f"rule-{checkpoint_id}-{mode}-{n}"


def closure_id(checkpoint_id: str, first_day: str) -> str:
    return f"closure-{checkpoint_id}-{first_day}"


def rule(checkpoint_id: str, mode: str, n: int, **body: Any) -> Create:
    return Create("rule", rule_id(checkpoint_id, mode, n), {"mode": mode, **body}, checkpoint_id)


def end_rule(checkpoint_id: str, mode: str, n: int, valid_until: str) -> Update:
    """Shorten a rule: it ends (exclusive) at ``valid_until``."""
    return Update("rule", rule_id(checkpoint_id, mode, n), {"valid_until": valid_until})


def closure(checkpoint_id: str, first_day: str, **body: Any) -> Create:
    return Create("closure", closure_id(checkpoint_id, first_day), body, checkpoint_id)


# --- the timeline ----------------------------------------------------------------------------
START = vilnius("2020-01-01 00:00")
MARCH_2024 = vilnius("2024-03-01 00:00")
AUGUST_2024 = vilnius("2024-08-16 00:00")
APRIL_2025 = vilnius("2025-04-17 00:00")
OCTOBER_27 = vilnius("2025-10-27 00:00")
END_OF_NOVEMBER = vilnius("2025-12-01 00:00")
NOVEMBER_20 = vilnius("2025-11-20 00:00")
BOTH = ("medininkai", "salcininkai")

TIMELINE: list[Step] = [
    Step(
        date(2019, 12, 31),
        "the six points as they were (illustrative; recorded a day before 2020-01-01)",
        [Create("checkpoint", point["id"], point) for point in CHECKPOINTS]
        + [
            rule(point["id"], mode, 1, access="allowed", valid_from=START, note=NOTE_BEFORE_2023)
            for point in CHECKPOINTS
            for mode in MODES
        ],
        illustrative=True,
    ),
    Step(
        date(2023, 8, 16),
        "Šumskas and Tverečius stop operating from 2023-08-18",
        [
            closure(
                point,
                "2023-08-18",
                starts_at=vilnius("2023-08-18 00:00"),
                ends_at=None,
                reason="security",
                description=DESC_2023,
                source=SOURCE_2023_08_16,
                announced_at=vilnius("2023-08-16 00:00"),
            )
            for point in ("sumskas", "tverecius")
        ],
    ),
    Step(
        date(2024, 2, 21),
        "Lavoriškės and Raigardas stop operating, no pedestrians or cyclists, from 2024-03-01",
        [
            closure(
                point,
                "2024-03-01",
                starts_at=MARCH_2024,
                ends_at=None,
                reason="security",
                description=DESC_2024,
                source=SOURCE_2024_02_21,
                announced_at=vilnius("2024-02-21 00:00"),
            )
            for point in ("lavoriskes", "raigardas")
        ]
        + [
            write
            for point in BOTH
            for mode in ("pedestrian", "cyclist")
            for write in (
                end_rule(point, mode, 1, MARCH_2024),
                rule(
                    point,
                    mode,
                    2,
                    access="prohibited",
                    conditions_text=[TEXT_NO_PEDESTRIANS],
                    valid_from=MARCH_2024,
                    note=NOTE_PEDESTRIANS,
                    source=SOURCE_2024_02_21,
                ),
            )
        ],
    ),
    Step(
        date(2024, 8, 15),
        "cars registered in Belarus may no longer enter Lithuania from 2024-08-16 "
        "(announcement day illustrative: a day before)",
        [
            write
            for point in BOTH
            for write in (
                end_rule(point, "vehicle", 1, AUGUST_2024),
                rule(
                    point,
                    "vehicle",
                    2,
                    access="restricted",
                    condition=NO_BELARUS_CARS_ENTERING,
                    conditions_text=[TEXT_NO_BELARUS_CARS],
                    valid_from=AUGUST_2024,
                    note=NOTE_NO_BELARUS_CARS,
                    source=SOURCE_2024_08_16,
                ),
            )
        ],
        illustrative=True,
    ),
    Step(
        date(2025, 4, 16),
        "only cars at Medininkai and Šalčininkai from 2025-04-17 (start day illustrative; "
        "announcement day illustrative: a day before)",
        [
            write
            for point in BOTH
            for write in (
                end_rule(point, "vehicle", 2, APRIL_2025),
                rule(
                    point,
                    "vehicle",
                    3,
                    access="restricted",
                    condition=CARS_ONLY_NO_BELARUS_CARS_ENTERING,
                    conditions_text=[TEXT_NO_BELARUS_CARS, TEXT_CARS_ONLY],
                    valid_from=APRIL_2025,
                    note=NOTE_CARS_ONLY,
                    source=SOURCE_2025_04,
                ),
            )
        ],
        illustrative=True,
    ),
    Step(
        date(2025, 10, 22),
        "both points closed overnight after smuggling balloons (hours illustrative; recorded "
        "at the closures' announced_at)",
        [
            closure(
                point,
                "2025-10-22",
                starts_at=vilnius("2025-10-22 21:00"),
                ends_at=vilnius("2025-10-23 07:00"),
                reason="security",
                description=DESC_BALLOONS,
                source=SOURCE_2025_10_22,
                announced_at=vilnius("2025-10-22 21:00"),
            )
            for point in BOTH
        ],
        hour="21:00",
    ),
    Step(
        date(2025, 10, 27),
        "Šalčininkai closed until further notice; Medininkai open only to some travellers",
        [
            closure(
                "salcininkai",
                "2025-10-27",
                starts_at=OCTOBER_27,
                ends_at=None,
                reason="security",
                description=DESC_SALCININKAI_CLOSED,
                source=SOURCE_2025_10_27,
                announced_at=OCTOBER_27,
            ),
            end_rule("medininkai", "vehicle", 3, OCTOBER_27),
            rule(
                "medininkai",
                "vehicle",
                4,
                access="restricted",
                condition=AUTUMN_2025_ADMITTED,
                conditions_text=[TEXT_AUTUMN_2025, TEXT_NO_BELARUS_CARS, TEXT_CARS_ONLY],
                valid_from=OCTOBER_27,
                valid_until=None,
                note=NOTE_AUTUMN_2025_VEHICLE,
                source=SOURCE_2025_10_27,
            ),
            end_rule("medininkai", "goods", 1, OCTOBER_27),
            rule(
                "medininkai",
                "goods",
                2,
                access="prohibited",
                valid_from=OCTOBER_27,
                valid_until=None,
                note=NOTE_AUTUMN_2025_GOODS,
                source=SOURCE_2025_10_27,
            ),
        ],
    ),
    Step(
        date(2025, 10, 29),
        "the Government sets the measures to last until 2025-11-30",
        [
            Update(
                "closure",
                closure_id("salcininkai", "2025-10-27"),
                {
                    "ends_at": END_OF_NOVEMBER,
                    "description": DESC_SALCININKAI_EXTENDED,
                    "source": SOURCE_2025_10_29,
                },
            ),
            Update(
                "rule",
                rule_id("medininkai", "vehicle", 4),
                {
                    "valid_until": END_OF_NOVEMBER,
                    "note": NOTE_AUTUMN_2025_VEHICLE + UNTIL_END_OF_NOVEMBER,
                    "source": SOURCE_2025_10_29,
                },
            ),
            Update(
                "rule",
                rule_id("medininkai", "goods", 2),
                {
                    "valid_until": END_OF_NOVEMBER,
                    "note": NOTE_AUTUMN_2025_GOODS + UNTIL_END_OF_NOVEMBER,
                    "source": SOURCE_2025_10_29,
                },
            ),
        ],
    ),
    Step(
        date(2025, 11, 19),
        "reopened early on 2025-11-20: cars only again (announcement day illustrative: a day "
        "before)",
        [
            Update(
                "closure",
                closure_id("salcininkai", "2025-10-27"),
                {"ends_at": NOVEMBER_20, "description": DESC_SALCININKAI_REOPENED},
            ),
            Update(
                "rule",
                rule_id("medininkai", "vehicle", 4),
                {
                    "valid_until": NOVEMBER_20,
                    "note": NOTE_AUTUMN_2025_VEHICLE + UNTIL_END_OF_NOVEMBER + ENDED_EARLY,
                },
            ),
            rule(
                "medininkai",
                "vehicle",
                5,
                access="restricted",
                condition=CARS_ONLY_NO_BELARUS_CARS_ENTERING,
                conditions_text=[TEXT_NO_BELARUS_CARS, TEXT_CARS_ONLY],
                valid_from=NOVEMBER_20,
                note=NOTE_REOPENED_VEHICLE,
                source=SOURCE_2025_11_20,
            ),
            Update(
                "rule",
                rule_id("medininkai", "goods", 2),
                {
                    "valid_until": NOVEMBER_20,
                    "note": NOTE_AUTUMN_2025_GOODS + UNTIL_END_OF_NOVEMBER + ENDED_EARLY,
                },
            ),
            rule(
                "medininkai",
                "goods",
                3,
                access="allowed",
                valid_from=NOVEMBER_20,
                note=NOTE_REOPENED_GOODS,
                source=SOURCE_2025_11_20,
            ),
        ],
        illustrative=True,
    ),
]
