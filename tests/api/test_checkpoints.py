"""Checkpoints over HTTP: create, read, list, replace, patch, delete, history."""

from __future__ import annotations

import copy
import json
import time

import jsonschema
import pytest

from service.domain.facts import country_codes
from tests.conftest import CHECKPOINT, ROOT, assert_problem


def create(client, headers, **changes):
    body = {**copy.deepcopy(CHECKPOINT), **changes}
    response = client.post("/v1/checkpoints", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response


def test_create_answers_201_with_location_etag_and_the_stored_state(client, editor):
    response = create(client, editor)
    body = response.get_json()
    assert response.headers["Location"].endswith("/v1/checkpoints/medininkai")
    assert response.headers["ETag"].startswith('"1-')
    assert body["revision"] == 1
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")
    assert {k: body[k] for k in CHECKPOINT} == CHECKPOINT
    got = client.get("/v1/checkpoints/medininkai")
    assert got.status_code == 200
    assert got.get_json() == body
    assert got.headers["ETag"] == response.headers["ETag"]


def test_opening_hours_defaults_to_24_7(client, editor):
    body = {k: v for k, v in CHECKPOINT.items() if k != "opening_hours"}
    response = client.post("/v1/checkpoints", json=body, headers=editor)
    assert response.get_json()["opening_hours"] == "24/7"


def test_create_with_a_live_id_is_409(client, editor):
    create(client, editor)
    assert_problem(client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor), 409)


def test_if_none_match_gives_304_with_etag_and_weak_comparison(client, editor):
    etag = create(client, editor).headers["ETag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/v1/checkpoints/medininkai", headers={"If-None-Match": sent})
        assert response.status_code == 304, sent
        assert response.headers["ETag"] == etag
        assert response.get_data() == b""
    fresh = client.get("/v1/checkpoints/medininkai", headers={"If-None-Match": '"nope"'})
    assert fresh.status_code == 200


def test_put_replaces_under_if_match_and_bumps_the_revision(client, editor):
    created = create(client, editor)
    body = {**CHECKPOINT, "name": "Medininkai road point", "counterpart": None}
    response = client.put(
        "/v1/checkpoints/medininkai",
        json=body,
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["revision"] == 2
    assert data["name"] == "Medininkai road point"
    assert data["counterpart"] is None
    assert data["created_at"] == created.get_json()["created_at"]
    assert data["updated_at"] > data["created_at"]
    assert response.headers["ETag"].startswith('"2-')


def test_put_accepts_read_only_fields_equal_to_the_stored_ones(client, editor):
    created = create(client, editor)
    stored = created.get_json()
    response = client.put(
        "/v1/checkpoints/medininkai",
        json={**stored, "name": "Renamed"},
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    # The new name is stored; every read-only field but the revision and the update time is
    # as it was.
    assert updated.pop("updated_at") >= stored.pop("updated_at")
    assert updated == {**stored, "name": "Renamed", "revision": 2}
    assert client.get("/v1/checkpoints/medininkai").get_json() == response.get_json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("revision", 7, id="revision"),
        pytest.param("created_at", "2020-01-01T00:00:00Z", id="created_at"),
        pytest.param("updated_at", "2020-01-01T00:00:00Z", id="updated_at"),
        pytest.param("id", "other-id", id="id-not-the-paths"),
    ],
)
def test_put_refuses_read_only_fields_with_other_values(client, editor, store, field, value):
    created = create(client, editor)
    before = store.feed_position()
    response = client.put(
        "/v1/checkpoints/medininkai",
        json={**created.get_json(), field: value},
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    body = assert_problem(response, 422)
    assert field in body["errors"]
    assert store.feed_position() == before


def test_create_refuses_read_only_fields(client, editor, store):
    response = client.post("/v1/checkpoints", json={**CHECKPOINT, "revision": 1}, headers=editor)
    assert "revision" in assert_problem(response, 422)["errors"]
    assert store.feed_position() == 0


def test_patch_is_a_merge_patch(client, editor):
    created = create(client, editor)
    response = client.patch(
        "/v1/checkpoints/medininkai",
        data='{"local_names": {"be": null, "ru": "Каменный Лог"}, "location": null}',
        headers={
            **editor,
            "If-Match": created.headers["ETag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["local_names"] == {"lt": "Medininkai", "ru": "Каменный Лог"}
    assert data["location"] is None
    assert data["name"] == "Medininkai"
    assert data["revision"] == 2


def test_patch_with_plain_json_reads_the_same(client, editor):
    created = create(client, editor)
    response = client.patch(
        "/v1/checkpoints/medininkai",
        json={"opening_hours": "Mo-Fr 08:00-20:00"},
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200
    assert response.get_json()["opening_hours"] == "Mo-Fr 08:00-20:00"


def test_patch_removing_a_required_field_is_422(client, editor, store):
    created = create(client, editor)
    before = store.feed_position()
    response = client.patch(
        "/v1/checkpoints/medininkai",
        json={"name": None},
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    assert "name" in assert_problem(response, 422)["errors"]
    assert store.feed_position() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_without_if_match_are_428(client, editor, admin, store, method):
    create(client, editor)
    before = store.feed_position()
    headers = admin if method == "delete" else editor
    response = getattr(client, method)(
        "/v1/checkpoints/medininkai", json=CHECKPOINT, headers=headers
    )
    assert assert_problem(response, 428)["type"] == "urn:checkpoints:problem:precondition-required"
    assert store.feed_position() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_with_a_stale_etag_are_412_carrying_the_current_etag(
    client, editor, admin, store, method
):
    first = create(client, editor)
    second = client.patch(
        "/v1/checkpoints/medininkai",
        json={"name": "Second"},
        headers={**editor, "If-Match": first.headers["ETag"]},
    )
    before = store.feed_position()
    headers = {**(admin if method == "delete" else editor), "If-Match": first.headers["ETag"]}
    response = getattr(client, method)(
        "/v1/checkpoints/medininkai", json=CHECKPOINT, headers=headers
    )
    assert assert_problem(response, 412)["type"] == "urn:checkpoints:problem:precondition-failed"
    assert response.headers["ETag"] == second.headers["ETag"]
    assert store.feed_position() == before


def test_an_etag_names_its_resource_not_only_its_revision(client, editor, store):
    """Two checkpoints at the same revision have different ETags: one's ETag neither satisfies
    If-Match nor gives a 304 on the other."""
    first = create(client, editor).headers["ETag"]
    other = create(client, editor, id="lavoriskes").headers["ETag"]
    assert first != other
    before = store.feed_position()
    response = client.patch(
        "/v1/checkpoints/lavoriskes", json={"name": "x"}, headers={**editor, "If-Match": first}
    )
    assert_problem(response, 412)
    assert store.feed_position() == before
    assert (
        client.get("/v1/checkpoints/lavoriskes", headers={"If-None-Match": first}).status_code
        == 200
    )


def test_weak_etag_does_not_satisfy_if_match(client, editor):
    etag = create(client, editor).headers["ETag"]
    response = client.patch(
        "/v1/checkpoints/medininkai",
        json={"name": "x"},
        headers={**editor, "If-Match": f"W/{etag}"},
    )
    assert_problem(response, 412)


def test_delete_leaves_a_tombstone_and_history_then_recreate_continues_it(client, editor, admin):
    created = create(client, editor)
    response = client.delete(
        "/v1/checkpoints/medininkai", headers={**admin, "If-Match": created.headers["ETag"]}
    )
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert_problem(client.get("/v1/checkpoints/medininkai"), 404)
    assert client.get("/v1/checkpoints").get_json()["items"] == []
    history = client.get("/v1/checkpoints/medininkai/revisions").get_json()["items"]
    assert [(r["revision"], r["action"]) for r in history] == [(1, "created"), (2, "deleted")]
    assert history[1]["data"] is None
    assert history[0]["actor"] == "alice" and history[1]["actor"] == "root"

    again = create(client, editor, name="Medininkai again")
    assert again.get_json()["revision"] == 3
    history = client.get("/v1/checkpoints/medininkai/revisions").get_json()["items"]
    assert [r["action"] for r in history] == ["created", "deleted", "created"]
    one = client.get("/v1/checkpoints/medininkai/revisions/1").get_json()
    assert one["data"]["name"] == "Medininkai"
    assert one["data"]["revision"] == 1
    assert_problem(client.get("/v1/checkpoints/medininkai/revisions/9"), 404)
    assert_problem(client.get("/v1/checkpoints/nowhere/revisions"), 404)


def test_as_of_gives_the_state_recorded_then(client, editor, admin):
    before_creation = _now()
    created = create(client, editor)
    after_creation = _now()
    patched = client.patch(
        "/v1/checkpoints/medininkai",
        json={"name": "Renamed"},
        headers={**editor, "If-Match": created.headers["ETag"]},
    )
    after_patch = _now()
    client.delete(
        "/v1/checkpoints/medininkai", headers={**admin, "If-Match": patched.headers["ETag"]}
    )
    after_delete = _now()

    assert_problem(client.get(f"/v1/checkpoints/medininkai?as_of={before_creation}"), 404)
    first = client.get(f"/v1/checkpoints/medininkai?as_of={after_creation}")
    assert first.get_json()["name"] == "Medininkai"
    assert first.headers["ETag"] == created.headers["ETag"]
    assert client.get(f"/v1/checkpoints/medininkai?as_of={after_patch}").get_json()["name"] == (
        "Renamed"
    )
    assert_problem(client.get(f"/v1/checkpoints/medininkai?as_of={after_delete}"), 404)
    # Any offset is accepted (sent escaped, as "+" must be in a query string).
    shifted = after_patch.replace("Z", "")
    from datetime import datetime, timedelta

    local = (datetime.fromisoformat(shifted) + timedelta(hours=2)).isoformat() + "%2B02:00"
    assert client.get(f"/v1/checkpoints/medininkai?as_of={local}").get_json()["name"] == "Renamed"
    naive = assert_problem(client.get(f"/v1/checkpoints/medininkai?as_of={shifted}"), 422)
    assert "as_of" in naive["errors"]
    future = assert_problem(
        client.get("/v1/checkpoints/medininkai?as_of=2999-01-01T00:00:00Z"), 422
    )
    assert "future" in future["errors"]["as_of"][0]


def _now() -> str:
    from datetime import UTC, datetime

    time.sleep(0.002)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.002)
    return stamp


def _make_points(client, editor):
    points = [
        ("salcininkai", "Šalčininkai", ["LT", "BY"], "road", "Benyakoni"),
        ("medininkai", "Medininkai", ["LT", "BY"], "road", "Kamenny Log"),
        ("kena", "Kena", ["LT", "BY"], "rail", "Gudogai"),
        ("terespol", "Terespol", ["PL", "BY"], "road", "Brest"),
        ("narva", "Narva", ["EE", "RU"], "road", "Ivangorod"),
    ]
    for id_, name, countries, kind, counterpart in points:
        body = {
            **CHECKPOINT,
            "id": id_,
            "name": name,
            "countries": countries,
            "kind": kind,
            "counterpart": counterpart,
            "local_names": {},
        }
        assert client.post("/v1/checkpoints", json=body, headers=editor).status_code == 201


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        pytest.param("", ["kena", "medininkai", "narva", "salcininkai", "terespol"], id="all"),
        pytest.param(
            "country=BY", ["kena", "medininkai", "salcininkai", "terespol"], id="country-either"
        ),
        pytest.param("country=PL", ["terespol"], id="country-operating"),
        pytest.param("kind=rail", ["kena"], id="kind"),
        pytest.param("q=salcininkai", ["salcininkai"], id="q-without-diacritics"),
        pytest.param("q=%C5%A0AL%C4%8C", ["salcininkai"], id="q-with-diacritics-any-case"),
        pytest.param("q=brest", ["terespol"], id="q-counterpart"),
        pytest.param("q=%25", [], id="q-like-wildcard-is-literal"),
        pytest.param("country=BY&kind=road&q=n", ["medininkai", "salcininkai"], id="combined"),
    ],
)
def test_list_filters(client, editor, query, ids):
    _make_points(client, editor)
    response = client.get(f"/v1/checkpoints?{query}")
    assert response.status_code == 200
    assert [item["id"] for item in response.get_json()["items"]] == ids


def test_q_matches_local_names(client, editor):
    create(client, editor)
    assert [i["id"] for i in client.get("/v1/checkpoints?q=каменны").get_json()["items"]] == [
        "medininkai"
    ]


def test_list_paginates_with_cursor_and_link(client, editor):
    _make_points(client, editor)
    seen, url = [], "/v1/checkpoints?limit=2&country=BY"
    while url:
        response = client.get(url)
        body = response.get_json()
        seen += [item["id"] for item in body["items"]]
        if body["next_cursor"]:
            link = response.headers["Link"]
            assert link.endswith('>; rel="next"')
            assert "country=BY" in link and "limit=2" in link
            assert body["next_cursor"].replace("-", "").replace("_", "").isalnum()
            url = link[1 : link.index(">")].replace("http://localhost", "")
        else:
            assert "Link" not in response.headers
            url = None
    assert seen == ["kena", "medininkai", "salcininkai", "terespol"]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("limit=0", id="limit-too-small"),
        pytest.param("limit=501", id="limit-too-large"),
        pytest.param("limit=x", id="limit-not-a-number"),
        pytest.param("country=XX", id="country-not-iso"),
        pytest.param("country=lt", id="country-lowercase"),
        pytest.param("kind=boat", id="kind-unknown"),
        pytest.param("cursor=%21%21", id="cursor-garbage"),
        pytest.param("colour=red", id="unknown-parameter"),
    ],
)
def test_bad_list_parameters_are_422(client, query):
    body = assert_problem(client.get(f"/v1/checkpoints?{query}"), 422)
    assert body["errors"]


@pytest.mark.parametrize(
    "countries",
    [["XX", "BY"], ["LT", "LT"], ["lt", "BY"]],
    ids=["not-a-code", "twice-the-same", "lower-case"],
)
def test_the_spec_refuses_the_countries_the_server_refuses(client, editor, countries):
    spec = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/CheckpointInput", "components": spec["components"]}
    )
    body = {**CHECKPOINT, "countries": countries}
    assert not validator.is_valid(body)
    assert_problem(client.post("/v1/checkpoints", json=body, headers=editor), 422)
    assert validator.is_valid(CHECKPOINT)


def test_the_spec_lists_every_country_code_once_and_each_country_field_refers_to_it():
    spec = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(spec)["components"]["schemas"]["CountryCode"]["enum"] == sorted(
        country_codes()
    )
    assert spec.count('"AD"') == 1
    assert spec.count('"$ref": "#/components/schemas/CountryCode"') >= 8
