"""The bundled example: the six Lithuania–Belarus points and their 2023–2025 timeline, asked
through HTTP at dated instants and compared with the published facts it encodes.

The example is loaded once per module into one database file; every test only reads it.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import pytest

from service import create_app
from service.config import Config
from service.domain import MODES
from service.example import load
from service.example.data import CHECKPOINTS, TIMELINE, TRAVELLER_CATEGORIES
from service.example.timeline import Loader, Step, Update, check_order, vilnius
from service.storage import AlreadyExists

POINTS = ("sumskas", "tverecius", "lavoriskes", "raigardas", "medininkai", "salcininkai")
AUTUMN_CLOSURE = "closure-salcininkai-2025-10-27"
WRITES = 65


def _fresh_store(database_url: str):
    app = create_app(Config(database_url=database_url))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    return store


@pytest.fixture(scope="module")
def example_db(tmp_path_factory) -> tuple[str, int]:
    """A database with the example loaded (once for the module), and the writes it took."""
    url = f"sqlite:///{tmp_path_factory.mktemp('example') / 'checkpoints.db'}"
    store = _fresh_store(url)
    written = load(store)
    store.close()
    return url, written


@pytest.fixture
def database_url(example_db) -> str:
    """Overrides conftest's: the ``app``, ``client`` and ``store`` fixtures use the example."""
    return example_db[0]


# --- decisions at dated instants -------------------------------------------------------------
BY_ENTRY = {"direction": "entry", "vehicle_registration": "BY"}
LT_ENTRY = {"direction": "entry", "vehicle_registration": "LT"}
CAR_LT_ENTRY = {**LT_ENTRY, "vehicle_category": "car"}
LT_NATIONAL_EXITING = {
    "direction": "exit",
    "nationality": "LT",
    "vehicle_registration": "LT",
    "vehicle_category": "car",
}


def case(checkpoint_id, mode, at, facts, allowed, code, *, valid_until="any", missing=(), id):
    return pytest.param(
        checkpoint_id, mode, at, facts, allowed, code, valid_until, list(missing), id=id
    )


DECISIONS = [
    # 0. Before everything (illustrative): every mode allowed from 2020-01-01.
    case("sumskas", "pedestrian", "2019-12-31T12:00:00+02:00", {}, None, "no_rule",
         valid_until="2019-12-31T22:00:00Z", id="before-2020-no-rule"),
    case("sumskas", "vehicle", "2020-06-01T12:00:00+03:00", {}, True, "allowed",
         valid_until="2023-08-17T21:00:00Z", id="sumskas-2020-allowed"),
    # 1. Šumskas and Tverečius closed from 2023-08-18 00:00 until further notice.
    case("sumskas", "pedestrian", "2023-08-17T12:00:00+03:00", {}, True, "allowed",
         valid_until="2023-08-17T21:00:00Z", id="sumskas-pedestrian-day-before"),
    case("sumskas", "goods", "2023-08-17T23:59:59+03:00", {}, True, "allowed",
         id="sumskas-goods-last-second"),
    case("sumskas", "vehicle", "2023-08-18T00:30:00+03:00", {}, False, "closure",
         valid_until=None, id="sumskas-vehicle-closed"),
    case("sumskas", "pedestrian", "2025-06-01T12:00:00+03:00", {}, False, "closure",
         valid_until=None, id="sumskas-still-closed-2025"),
    case("tverecius", "cyclist", "2023-08-18T00:00:00+03:00", {}, False, "closure",
         id="tverecius-closed-from-midnight"),
    case("tverecius", "goods", "2023-08-17T12:00:00+03:00", {}, True, "allowed",
         id="tverecius-goods-day-before"),
    # 2. Lavoriškės and Raigardas closed from 2024-03-01; pedestrians and cyclists stopped.
    case("lavoriskes", "vehicle", "2024-02-29T12:00:00+02:00", {}, True, "allowed",
         valid_until="2024-02-29T22:00:00Z", id="lavoriskes-open-day-before"),
    case("lavoriskes", "vehicle", "2024-03-01T00:00:01+02:00", {}, False, "closure",
         valid_until=None, id="lavoriskes-closed"),
    case("lavoriskes", "pedestrian", "2025-11-21T12:00:00+02:00", {}, False, "closure",
         id="lavoriskes-still-closed-2025"),
    case("raigardas", "goods", "2024-02-29T23:59:59+02:00", {}, True, "allowed",
         id="raigardas-goods-last-second"),
    case("raigardas", "pedestrian", "2024-03-01T00:00:00+02:00", {}, False, "closure",
         id="raigardas-closed-from-midnight"),
    case("medininkai", "pedestrian", "2024-02-29T12:00:00+02:00", {}, True, "allowed",
         valid_until="2024-02-29T22:00:00Z", id="medininkai-pedestrian-day-before"),
    case("medininkai", "pedestrian", "2024-03-02T12:00:00+02:00", {}, False, "rule",
         valid_until="2025-10-22T18:00:00Z", id="medininkai-pedestrian-prohibited"),
    case("salcininkai", "cyclist", "2024-03-02T12:00:00+02:00", {}, False, "rule",
         id="salcininkai-cyclist-prohibited"),
    case("medininkai", "vehicle", "2024-03-02T12:00:00+02:00", {}, True, "allowed",
         valid_until="2024-08-15T21:00:00Z", id="medininkai-vehicle-still-allowed"),
    # 3. From 2024-08-16 cars registered in Belarus may not enter Lithuania.
    case("salcininkai", "vehicle", "2024-08-15T23:59:59+03:00", BY_ENTRY, True, "allowed",
         id="salcininkai-by-car-before-ban"),
    case("salcininkai", "vehicle", "2024-08-16T00:00:00+03:00", BY_ENTRY, False,
         "condition_not_met", id="salcininkai-by-car-banned-from-midnight"),
    case("medininkai", "vehicle", "2024-09-01T12:00:00+03:00", BY_ENTRY, False,
         "condition_not_met", valid_until="2025-04-16T21:00:00Z", id="medininkai-by-car-entry"),
    case("medininkai", "vehicle", "2024-09-01T12:00:00+03:00", LT_ENTRY, True, "condition_met",
         id="medininkai-lt-car-entry"),
    case("medininkai", "vehicle", "2024-09-01T12:00:00+03:00",
         {"direction": "exit", "vehicle_registration": "BY"}, True, "condition_met",
         id="medininkai-by-car-exit"),
    case("medininkai", "vehicle", "2024-09-01T12:00:00+03:00", {"direction": "entry"}, None,
         "facts_needed", missing=["vehicle_registration"], id="medininkai-registration-needed"),
    case("medininkai", "vehicle", "2024-09-01T12:00:00+03:00", {}, None, "facts_needed",
         missing=["direction", "vehicle_registration"], id="medininkai-no-facts"),
    case("medininkai", "goods", "2024-09-01T12:00:00+03:00", {}, True, "allowed",
         id="medininkai-goods-allowed-2024"),
    # 4. From 2025-04-17 (illustrative day) only cars at Medininkai and Šalčininkai.
    case("medininkai", "vehicle", "2025-04-16T12:00:00+03:00",
         {**LT_ENTRY, "vehicle_category": "motorcycle"}, True, "condition_met",
         id="medininkai-motorcycle-before-cars-only"),
    case("medininkai", "vehicle", "2025-05-01T12:00:00+03:00", {"vehicle_category": "motorcycle"},
         False, "condition_not_met", id="medininkai-motorcycle-refused"),
    case("medininkai", "vehicle", "2025-05-01T12:00:00+03:00", CAR_LT_ENTRY, True,
         "condition_met", valid_until="2025-10-22T18:00:00Z", id="medininkai-car-2025"),
    case("medininkai", "vehicle", "2025-05-01T12:00:00+03:00", {"vehicle_category": "car"}, None,
         "facts_needed", missing=["direction", "vehicle_registration"],
         id="medininkai-car-facts-needed"),
    case("salcininkai", "vehicle", "2025-05-01T12:00:00+03:00",
         {**LT_ENTRY, "vehicle_category": "moped"}, False, "condition_not_met",
         id="salcininkai-moped-refused"),
    case("salcininkai", "vehicle", "2025-05-01T12:00:00+03:00",
         {**LT_ENTRY, "vehicle_category": "bus"}, False, "condition_not_met",
         id="salcininkai-bus-refused-only-cars"),
    case("salcininkai", "vehicle", "2025-05-01T12:00:00+03:00",
         {**BY_ENTRY, "vehicle_category": "car"}, False, "condition_not_met",
         id="salcininkai-by-car-still-banned"),
    # 5. 2025-10-22 overnight closure of both (illustrative hours 21:00 to 07:00).
    case("medininkai", "vehicle", "2025-10-22T20:59:59+03:00", CAR_LT_ENTRY, True,
         "condition_met", valid_until="2025-10-22T18:00:00Z", id="medininkai-before-balloons"),
    case("medininkai", "vehicle", "2025-10-22T23:00:00+03:00", CAR_LT_ENTRY, False, "closure",
         valid_until="2025-10-23T04:00:00Z", id="medininkai-balloons-night"),
    case("salcininkai", "goods", "2025-10-22T23:00:00+03:00", {}, False, "closure",
         valid_until="2025-10-23T04:00:00Z", id="salcininkai-balloons-night"),
    case("medininkai", "goods", "2025-10-23T07:00:00+03:00", {}, True, "allowed",
         valid_until="2025-10-26T22:00:00Z", id="medininkai-goods-morning-after"),
    # 2025-10-27: Šalčininkai closed (until 2025-11-20 as finally revised).
    case("salcininkai", "vehicle", "2025-10-26T12:00:00+02:00", CAR_LT_ENTRY, True,
         "condition_met", valid_until="2025-10-26T22:00:00Z", id="salcininkai-day-before"),
    case("salcininkai", "vehicle", "2025-11-10T12:00:00+02:00", CAR_LT_ENTRY, False, "closure",
         valid_until="2025-11-19T22:00:00Z", id="salcininkai-closed-november"),
    case("salcininkai", "pedestrian", "2025-11-19T23:59:59+02:00", {}, False, "closure",
         id="salcininkai-closed-last-second"),
    case("salcininkai", "vehicle", "2025-11-21T12:00:00+02:00", CAR_LT_ENTRY, True,
         "condition_met", valid_until=None, id="salcininkai-reopened-cars"),
    case("salcininkai", "vehicle", "2025-11-21T12:00:00+02:00",
         {**LT_ENTRY, "vehicle_category": "motorcycle"}, False, "condition_not_met",
         id="salcininkai-reopened-no-motorcycles"),
    case("salcininkai", "goods", "2025-11-21T12:00:00+02:00", {}, True, "allowed",
         valid_until=None, id="salcininkai-reopened-goods"),
    # 2025-10-27: Medininkai open only to some travellers, no goods (until 2025-11-20).
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {**LT_NATIONAL_EXITING, "traveller_category": "diplomat"}, True, "condition_met",
         valid_until="2025-11-19T22:00:00Z", id="medininkai-diplomat"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {"direction": "entry", "nationality": "RU", "vehicle_registration": "RU",
          "vehicle_category": "car", "traveller_category": "kaliningrad_transit"},
         True, "condition_met", id="medininkai-kaliningrad-transit"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {"direction": "exit", "nationality": "UA", "vehicle_registration": "LT",
          "vehicle_category": "car", "traveller_category": "lt_residence_permit"},
         True, "condition_met", id="medininkai-residence-permit"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {"direction": "entry", "nationality": "BY", "vehicle_registration": "LT",
          "vehicle_category": "car", "traveller_category": "eu_citizen_family"},
         True, "condition_met", id="medininkai-eu-citizen-family"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {**CAR_LT_ENTRY, "nationality": "LT"}, True, "condition_met",
         id="medininkai-lt-national-entering"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {"direction": "entry", "nationality": "FR", "vehicle_registration": "FR",
          "vehicle_category": "car"}, True, "condition_met", id="medininkai-eu-national-entering"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00", LT_NATIONAL_EXITING, None,
         "facts_needed", missing=["traveller_category"], id="medininkai-lt-exiting-unknown"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {**LT_NATIONAL_EXITING, "traveller_category": "tourist"}, False, "condition_not_met",
         id="medininkai-lt-exiting-tourist"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {"direction": "entry", "nationality": "BY", "vehicle_registration": "LT",
          "vehicle_category": "car", "traveller_category": "tourist"},
         False, "condition_not_met", id="medininkai-by-tourist-entering"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {**BY_ENTRY, "vehicle_category": "car", "traveller_category": "diplomat"},
         False, "condition_not_met", id="medininkai-diplomat-by-car-entering"),
    case("medininkai", "vehicle", "2025-11-01T12:00:00+02:00",
         {"direction": "exit", "vehicle_category": "motorcycle", "traveller_category": "diplomat"},
         False, "condition_not_met", id="medininkai-diplomat-motorcycle"),
    case("medininkai", "goods", "2025-11-01T12:00:00+02:00", {}, False, "rule",
         valid_until="2025-11-19T22:00:00Z", id="medininkai-goods-prohibited"),
    case("medininkai", "pedestrian", "2025-11-01T12:00:00+02:00", {}, False, "rule",
         id="medininkai-pedestrian-still-prohibited"),
    # 2025-11-20 00:00: reopened early, cars only again; goods allowed again.
    case("medininkai", "goods", "2025-11-19T23:59:59+02:00", {}, False, "rule",
         id="medininkai-goods-last-second"),
    case("medininkai", "goods", "2025-11-21T12:00:00+02:00", {}, True, "allowed",
         valid_until=None, id="medininkai-goods-allowed-again"),
    case("medininkai", "vehicle", "2025-11-20T00:00:00+02:00", LT_NATIONAL_EXITING, True,
         "condition_met", valid_until=None, id="medininkai-reopened-from-midnight"),
    case("medininkai", "vehicle", "2025-11-21T12:00:00+02:00",
         {**LT_ENTRY, "vehicle_category": "motorcycle"}, False, "condition_not_met",
         id="medininkai-reopened-no-motorcycles"),
    case("medininkai", "vehicle", "2025-12-15T12:00:00+02:00", BY_ENTRY, False,
         "condition_not_met", id="medininkai-by-car-still-banned-december"),
    case("medininkai", "pedestrian", "2025-12-15T12:00:00+02:00", {}, False, "rule",
         id="medininkai-pedestrian-december"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("checkpoint_id", "mode", "at", "facts", "allowed", "code", "valid_until", "missing"),
    DECISIONS,
)
def test_decisions_follow_the_reference(
    client, checkpoint_id, mode, at, facts, allowed, code, valid_until, missing
):
    query = {"checkpoint_id": checkpoint_id, "mode": mode, "at": at, **facts}
    response = client.get("/v1/decisions", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["allowed"] is allowed, body
    assert [reason["code"] for reason in body["reasons"]][:1] == [code], body
    assert body["missing_facts"] == missing
    if valid_until != "any":
        assert body["valid_until"] == valid_until, body


def test_a_refusal_names_the_rule_and_its_published_conditions(client):
    query = {
        "checkpoint_id": "medininkai",
        "mode": "vehicle",
        "at": "2024-09-01T12:00:00+03:00",
        **BY_ENTRY,
    }
    body = client.get("/v1/decisions", query_string=query).get_json()
    assert body["access"] == "restricted"
    assert body["reasons"][0]["resource"] == {
        "type": "rule",
        "id": "rule-medininkai-vehicle-2",
        "revision": 2,  # created 2024-08-16, then shortened in April 2025
    }
    assert body["conditions_text"] == ["Cars registered in Belarus may not enter Lithuania."]


def test_a_closure_decision_names_the_closure_revision_in_force(client):
    query = {"checkpoint_id": "salcininkai", "mode": "goods", "at": "2025-11-10T12:00:00+02:00"}
    body = client.get("/v1/decisions", query_string=query).get_json()
    assert body["reasons"][0]["resource"] == {
        "type": "closure",
        "id": AUTUMN_CLOSURE,
        "revision": 3,
    }


# --- derived states --------------------------------------------------------------------------
STATES = [
    pytest.param("medininkai", "2019-06-01T12:00:00+03:00", "unknown", id="before-2020"),
    pytest.param("sumskas", "2023-08-17T12:00:00+03:00", "open", id="sumskas-2023-08-17"),
    pytest.param("sumskas", "2023-08-18T00:30:00+03:00", "closed", id="sumskas-2023-08-18"),
    pytest.param("sumskas", "2025-06-01T12:00:00+03:00", "closed", id="sumskas-2025"),
    pytest.param("tverecius", "2024-01-01T12:00:00+02:00", "closed", id="tverecius-2024"),
    pytest.param("lavoriskes", "2024-02-29T12:00:00+02:00", "open", id="lavoriskes-open"),
    pytest.param("lavoriskes", "2024-03-02T12:00:00+02:00", "closed", id="lavoriskes-closed"),
    pytest.param("raigardas", "2025-11-21T12:00:00+02:00", "closed", id="raigardas-2025"),
    pytest.param("medininkai", "2023-08-20T12:00:00+03:00", "open", id="medininkai-2023"),
    pytest.param("medininkai", "2024-03-02T12:00:00+02:00", "restricted", id="medininkai-2024"),
    pytest.param("medininkai", "2025-10-22T23:00:00+03:00", "closed", id="medininkai-balloons"),
    pytest.param("salcininkai", "2025-10-22T23:00:00+03:00", "closed", id="salcininkai-balloons"),
    pytest.param("medininkai", "2025-11-01T12:00:00+02:00", "restricted", id="medininkai-autumn"),
    pytest.param("salcininkai", "2025-11-10T12:00:00+02:00", "closed", id="salcininkai-autumn"),
    pytest.param("salcininkai", "2025-11-21T12:00:00+02:00", "restricted", id="salcininkai-open"),
]


@pytest.mark.parametrize(("checkpoint_id", "at", "state"), STATES)
def test_status_state_follows_the_reference(client, checkpoint_id, at, state):
    response = client.get(f"/v1/checkpoints/{checkpoint_id}/status", query_string={"at": at})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["checkpoint_id"] == checkpoint_id
    assert body["state"] == state, body


def test_medininkai_status_in_november_2025(client):
    body = client.get(
        "/v1/checkpoints/medininkai/status", query_string={"at": "2025-11-01T12:00:00+02:00"}
    ).get_json()
    modes = body["modes"]
    assert {mode: modes[mode]["allowed"] for mode in MODES} == {
        "pedestrian": False,
        "cyclist": False,
        "vehicle": None,
        "goods": False,
    }
    assert modes["vehicle"]["reasons"][0]["resource"]["id"] == "rule-medininkai-vehicle-4"
    assert body["valid_until"] == "2025-11-19T22:00:00Z"


def test_lavoriskes_status_the_day_before_its_closure(client):
    body = client.get(
        "/v1/checkpoints/lavoriskes/status", query_string={"at": "2024-02-29T12:00:00+02:00"}
    ).get_json()
    assert all(body["modes"][mode]["allowed"] is True for mode in MODES)
    assert body["valid_until"] == "2024-02-29T22:00:00Z"


# --- closures and their history --------------------------------------------------------------
def test_salcininkai_closure_history(client):
    response = client.get("/v1/checkpoints/salcininkai/closures")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [
        (item["id"], item["starts_at"], item["ends_at"], item["revision"]) for item in items
    ] == [
        (
            "closure-salcininkai-2025-10-22",
            "2025-10-22T18:00:00Z",
            "2025-10-23T04:00:00Z",
            1,
        ),
        (AUTUMN_CLOSURE, "2025-10-26T22:00:00Z", "2025-11-19T22:00:00Z", 3),
    ]
    autumn = items[1]
    assert autumn["reason"] == "security"
    assert autumn["modes"] == list(MODES)
    assert autumn["announced_at"] == "2025-10-26T22:00:00Z"
    assert "Resolution No. 517 of 2021-07-02" in autumn["source"]["reference"]
    assert "illustrative" in items[0]["description"]


def test_the_autumn_closure_was_created_then_extended_then_shortened(client):
    response = client.get(f"/v1/closures/{AUTUMN_CLOSURE}/revisions")
    assert response.status_code == 200
    revisions = response.get_json()["items"]
    assert [(r["revision"], r["action"], r["actor"]) for r in revisions] == [
        (1, "created", "example"),
        (2, "updated", "example"),
        (3, "updated", "example"),
    ]
    assert [r["data"]["ends_at"] for r in revisions] == [
        None,
        "2025-11-30T22:00:00Z",
        "2025-11-19T22:00:00Z",
    ]
    assert {r["data"]["starts_at"] for r in revisions} == {"2025-10-26T22:00:00Z"}
    assert "2025-11-30" in revisions[1]["data"]["description"]
    assert "2025-11-20" in revisions[2]["data"]["description"]


@pytest.mark.parametrize(
    ("checkpoint_id", "closure_id", "starts_at", "announced_at"),
    [
        pytest.param(
            "sumskas",
            "closure-sumskas-2023-08-18",
            "2023-08-17T21:00:00Z",
            "2023-08-15T21:00:00Z",
            id="sumskas",
        ),
        pytest.param(
            "tverecius",
            "closure-tverecius-2023-08-18",
            "2023-08-17T21:00:00Z",
            "2023-08-15T21:00:00Z",
            id="tverecius",
        ),
        pytest.param(
            "lavoriskes",
            "closure-lavoriskes-2024-03-01",
            "2024-02-29T22:00:00Z",
            "2024-02-20T22:00:00Z",
            id="lavoriskes",
        ),
        pytest.param(
            "raigardas",
            "closure-raigardas-2024-03-01",
            "2024-02-29T22:00:00Z",
            "2024-02-20T22:00:00Z",
            id="raigardas",
        ),
    ],
)
def test_closed_until_further_notice(client, checkpoint_id, closure_id, starts_at, announced_at):
    items = client.get(f"/v1/checkpoints/{checkpoint_id}/closures").get_json()["items"]
    assert len(items) == 1
    (item,) = items
    assert item["id"] == closure_id
    assert item["starts_at"] == starts_at
    assert item["ends_at"] is None
    assert item["announced_at"] == announced_at
    assert item["reason"] == "security"
    assert item["modes"] == list(MODES)
    assert "national security" in item["description"]
    assert item["source"]["authority"]


def test_closures_in_effect_on_a_day(client):
    response = client.get("/v1/closures", query_string={"active_at": "2025-11-10T12:00:00Z"})
    assert response.status_code == 200
    ids = {item["id"] for item in response.get_json()["items"]}
    assert ids == {
        "closure-sumskas-2023-08-18",
        "closure-tverecius-2023-08-18",
        "closure-lavoriskes-2024-03-01",
        "closure-raigardas-2024-03-01",
        AUTUMN_CLOSURE,
    }


# --- rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize("checkpoint_id", POINTS)
def test_each_mode_has_one_unbroken_chain_of_rules_since_2020(client, checkpoint_id):
    for mode in MODES:
        response = client.get(f"/v1/checkpoints/{checkpoint_id}/rules", query_string={"mode": mode})
        assert response.status_code == 200
        rules = response.get_json()["items"]
        assert rules[0]["id"] == f"rule-{checkpoint_id}-{mode}-1"
        assert rules[0]["valid_from"] == "2019-12-31T22:00:00Z"
        assert rules[0]["access"] == "allowed"
        assert "illustrative" in rules[0]["note"] and "approximate" in rules[0]["note"]
        for before, after in pairwise(rules):
            assert before["valid_until"] == after["valid_from"], (before, after)
        assert rules[-1]["valid_until"] is None
        assert [rule["id"] for rule in rules] == [
            f"rule-{checkpoint_id}-{mode}-{n}" for n in range(1, len(rules) + 1)
        ]


def test_medininkai_vehicle_rules_tell_the_story(client):
    rules = client.get(
        "/v1/checkpoints/medininkai/rules", query_string={"mode": "vehicle"}
    ).get_json()["items"]
    assert [(r["access"], r["valid_from"], r["valid_until"], r["revision"]) for r in rules] == [
        ("allowed", "2019-12-31T22:00:00Z", "2024-08-15T21:00:00Z", 2),
        ("restricted", "2024-08-15T21:00:00Z", "2025-04-16T21:00:00Z", 2),
        ("restricted", "2025-04-16T21:00:00Z", "2025-10-26T22:00:00Z", 2),
        ("restricted", "2025-10-26T22:00:00Z", "2025-11-19T22:00:00Z", 3),
        ("restricted", "2025-11-19T22:00:00Z", None, 1),
    ]
    autumn = rules[3]
    for slug in TRAVELLER_CATEGORIES:
        assert slug in autumn["note"]
    assert "illustrative" in autumn["note"]
    assert len(autumn["conditions_text"]) == 3
    assert autumn["source"]["reference"].endswith(
        "Government Resolution No. 517 of 2021-07-02, as amended"
    )
    assert "illustrative" in rules[2]["note"] and "2025-04-17" in rules[2]["note"]
    assert rules[4]["condition"] == rules[2]["condition"]
    revisions = client.get(f"/v1/rules/{autumn['id']}/revisions").get_json()["items"]
    assert [r["data"]["valid_until"] for r in revisions] == [
        None,
        "2025-11-30T22:00:00Z",
        "2025-11-19T22:00:00Z",
    ]


def test_medininkai_goods_rules(client):
    rules = client.get(
        "/v1/checkpoints/medininkai/rules", query_string={"mode": "goods"}
    ).get_json()["items"]
    assert [(r["id"], r["access"], r["valid_from"], r["valid_until"]) for r in rules] == [
        ("rule-medininkai-goods-1", "allowed", "2019-12-31T22:00:00Z", "2025-10-26T22:00:00Z"),
        ("rule-medininkai-goods-2", "prohibited", "2025-10-26T22:00:00Z", "2025-11-19T22:00:00Z"),
        ("rule-medininkai-goods-3", "allowed", "2025-11-19T22:00:00Z", None),
    ]


def test_the_rules_in_force_at_an_instant(client):
    response = client.get(
        "/v1/checkpoints/salcininkai/rules", query_string={"at": "2024-09-01T12:00:00+03:00"}
    )
    rules = {rule["mode"]: rule for rule in response.get_json()["items"]}
    assert {mode: rule["access"] for mode, rule in rules.items()} == {
        "pedestrian": "prohibited",
        "cyclist": "prohibited",
        "vehicle": "restricted",
        "goods": "allowed",
    }
    assert rules["pedestrian"]["source"]["authority"] == (
        "Ministry of the Interior of the Republic of Lithuania"
    )
    assert "Agnė Bilotaitė" in rules["pedestrian"]["source"]["reference"]
    assert rules["vehicle"]["condition"] == {
        "not": {
            "all": [
                {"fact": "direction", "in": ["entry"]},
                {"fact": "vehicle_registration", "in": ["BY"]},
            ]
        }
    }


# --- the checkpoints --------------------------------------------------------------------------
def test_the_six_points(client):
    items = client.get("/v1/checkpoints").get_json()["items"]
    assert sorted(item["id"] for item in items) == sorted(POINTS)
    for item in items:
        assert item["countries"] == ["LT", "BY"]
        assert item["kind"] == "road"
        assert item["timezone"] == "Europe/Vilnius"
        assert item["revision"] == 1
    counterparts = {item["id"]: item["counterpart"] for item in items}
    assert counterparts == {
        "sumskas": "Losha",
        "tverecius": "Vidzy",
        "lavoriskes": "Kotlovka",
        "raigardas": "Privalka",
        "medininkai": "Kamenny Log",
        "salcininkai": "Benyakoni",
    }


# --- the change feed --------------------------------------------------------------------------
def _feed(store) -> list[dict]:
    return store.changes(after=0, limit=1000)


def test_load_counts_its_writes(example_db, store):
    _, written = example_db
    assert written == WRITES
    events = _feed(store)
    assert len(events) == WRITES
    assert [event["seq"] for event in events] == list(range(1, WRITES + 1))
    assert {event["actor"] for event in events} == {"example"}


def test_the_feed_starts_with_the_points_then_every_mode_allowed(store):
    events = _feed(store)
    assert [(e["resource_type"], e["resource_id"], e["action"]) for e in events[:6]] == [
        ("checkpoint", point["id"], "created") for point in CHECKPOINTS
    ]
    assert [(e["resource_id"], e["action"]) for e in events[6:30]] == [
        (f"rule-{point}-{mode}-1", "created") for point in POINTS for mode in MODES
    ]


def test_the_feed_tells_the_story_in_time_order(store):
    story = [(e["resource_id"], e["revision"]) for e in _feed(store)[30:]]
    assert story == [
        # announced 2023-08-16
        ("closure-sumskas-2023-08-18", 1),
        ("closure-tverecius-2023-08-18", 1),
        # announced 2024-02-21
        ("closure-lavoriskes-2024-03-01", 1),
        ("closure-raigardas-2024-03-01", 1),
        ("rule-medininkai-pedestrian-1", 2),
        ("rule-medininkai-pedestrian-2", 1),
        ("rule-medininkai-cyclist-1", 2),
        ("rule-medininkai-cyclist-2", 1),
        ("rule-salcininkai-pedestrian-1", 2),
        ("rule-salcininkai-pedestrian-2", 1),
        ("rule-salcininkai-cyclist-1", 2),
        ("rule-salcininkai-cyclist-2", 1),
        # 2024-08-16
        ("rule-medininkai-vehicle-1", 2),
        ("rule-medininkai-vehicle-2", 1),
        ("rule-salcininkai-vehicle-1", 2),
        ("rule-salcininkai-vehicle-2", 1),
        # 2025-04-17 (illustrative)
        ("rule-medininkai-vehicle-2", 2),
        ("rule-medininkai-vehicle-3", 1),
        ("rule-salcininkai-vehicle-2", 2),
        ("rule-salcininkai-vehicle-3", 1),
        # 2025-10-22
        ("closure-medininkai-2025-10-22", 1),
        ("closure-salcininkai-2025-10-22", 1),
        # 2025-10-27
        (AUTUMN_CLOSURE, 1),
        ("rule-medininkai-vehicle-3", 2),
        ("rule-medininkai-vehicle-4", 1),
        ("rule-medininkai-goods-1", 2),
        ("rule-medininkai-goods-2", 1),
        # 2025-10-29
        (AUTUMN_CLOSURE, 2),
        ("rule-medininkai-vehicle-4", 2),
        ("rule-medininkai-goods-2", 2),
        # 2025-11-20
        (AUTUMN_CLOSURE, 3),
        ("rule-medininkai-vehicle-4", 3),
        ("rule-medininkai-vehicle-5", 1),
        ("rule-medininkai-goods-2", 3),
        ("rule-medininkai-goods-3", 1),
    ]


def test_the_autumn_closure_events_in_the_feed(store):
    events = [e for e in _feed(store) if e["resource_id"] == AUTUMN_CLOSURE]
    assert [(e["revision"], e["action"], e["checkpoint_id"]) for e in events] == [
        (1, "created", "salcininkai"),
        (2, "updated", "salcininkai"),
        (3, "updated", "salcininkai"),
    ]
    assert [e["data"]["ends_at"] for e in events] == [
        None,
        "2025-11-30T22:00:00Z",
        "2025-11-19T22:00:00Z",
    ]


def test_what_is_created_starts_in_time_order(store):
    starts = [
        e["data"].get("valid_from") or e["data"].get("starts_at")
        for e in _feed(store)
        if e["action"] == "created" and e["resource_type"] != "checkpoint"
    ]
    assert starts == sorted(starts)


def test_the_timeline_is_in_announcement_order():
    check_order(TIMELINE)
    assert [step.announced for step in TIMELINE] == sorted(step.announced for step in TIMELINE)
    with pytest.raises(ValueError, match="comes after"):
        check_order([Step(date(2025, 1, 2), "later"), Step(date(2025, 1, 1), "earlier")])


def test_an_update_needs_the_resource_first(tmp_path):
    store = _fresh_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(ValueError, match="before it exists"):
            Loader(store).apply(Update("rule", "rule-nowhere-vehicle-1", {"valid_until": None}))
        assert store.is_empty()
    finally:
        store.close()


def test_local_times_carry_the_vilnius_offset():
    assert vilnius("2024-03-01 00:00") == "2024-03-01T00:00:00+02:00"
    assert vilnius("2023-08-18 00:00") == "2023-08-18T00:00:00+03:00"
    assert vilnius("2025-10-27 00:00") == "2025-10-27T00:00:00+02:00"
    with pytest.raises(ValueError):
        vilnius("2024-03-01T00:00:00+02:00")


def test_loading_twice_refuses_rather_than_duplicating(tmp_path):
    store = _fresh_store(f"sqlite:///{tmp_path / 'twice.db'}")
    try:
        assert load(store) == WRITES
        with pytest.raises(AlreadyExists):
            load(store)
        assert store.feed_position() == WRITES
    finally:
        store.close()
