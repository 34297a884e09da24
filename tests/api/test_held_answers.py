"""Held answers (service.api.machinery.held): a repeated read is answered from the bytes sent
before, byte for byte what it would have computed, never after a write made anywhere, and an
answer about now never after the instant it could change."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime, timedelta

import pytest

from service import create_app
from service.api.machinery.held import tally
from service.config import Config
from tests.conftest import CHECKPOINT, make_token

AT = "2025-06-02T12:00:00Z"
SECOND = {**CHECKPOINT, "id": "salcininkai", "name": "Šalčininkai", "counterpart": "Beniakoni"}


@pytest.fixture
def resources(client, editor):
    return create_resources(client, editor)


def create_resources(client, editor) -> dict[str, str]:
    """Two checkpoints, a rule and a closure of the first (ended in 2021); their ids."""
    for body in (CHECKPOINT, SECOND):
        assert client.post("/v1/checkpoints", json=body, headers=editor).status_code == 201
    rule = {"mode": "goods", "access": "allowed", "valid_from": "2020-01-01T00:00:00Z"}
    created = client.post("/v1/checkpoints/medininkai/rules", json=rule, headers=editor)
    assert created.status_code == 201
    closure = {
        "starts_at": "2021-01-01T00:00:00Z",
        "ends_at": "2021-01-02T00:00:00Z",
        "reason": "security",
    }
    shut = client.post("/v1/checkpoints/medininkai/closures", json=closure, headers=editor)
    assert shut.status_code == 201
    return {"rule": created.get_json()["id"], "closure": shut.get_json()["id"]}


@pytest.fixture
def elsewhere(database_url):
    """Another application on the same database: a process that holds nothing of this one's."""
    apps = []

    def make():
        app = create_app(Config(database_url=database_url))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions["checkpoints.store"].close()


def close_medininkai(other, editor, **times):
    body = {"starts_at": "2020-01-01T00:00:00Z", "reason": "security", **times}
    created = other.post("/v1/checkpoints/medininkai/closures", json=body, headers=editor)
    assert created.status_code == 201, created.get_json()


def patch(other, editor, path, body):
    etag = other.get(path).headers["ETag"]
    changed = other.patch(path, json=body, headers={**editor, "If-Match": etag})
    assert changed.status_code == 200, changed.get_json()


def rename(other, editor, ids):
    patch(other, editor, "/v1/checkpoints/medininkai", {"name": "Medininkai (LT)"})


def annotate_rule(other, editor, ids):
    patch(other, editor, f"/v1/rules/{ids['rule']}", {"note": "Announced again."})


def describe_closure(other, editor, ids):
    patch(other, editor, f"/v1/closures/{ids['closure']}", {"description": "A drill."})


def close(other, editor, ids):
    close_medininkai(other, editor)


GEOJSON = {"Accept": "application/geo+json"}
#: Each held read (path and request headers), and a write that changes its answer.
HELD = [
    pytest.param(
        f"/v1/decisions?checkpoint_id=medininkai&mode=goods&at={AT}", {}, close, id="decision"
    ),
    pytest.param(f"/v1/checkpoints/medininkai/status?at={AT}", {}, close, id="status"),
    pytest.param(f"/v1/status?limit=1&at={AT}", {}, close, id="status-page"),
    pytest.param(f"/v1/status?limit=1&at={AT}", GEOJSON, close, id="status-page-geojson"),
    pytest.param("/v1/checkpoints/medininkai", {}, rename, id="checkpoint"),
    pytest.param("/v1/checkpoints?limit=1", {}, rename, id="list-page"),
    pytest.param("/v1/checkpoints?limit=1", GEOJSON, rename, id="list-page-geojson"),
    pytest.param("/v1/checkpoints?state=open", {}, close, id="list-by-state"),
    pytest.param("/v1/rules/{rule}", {}, annotate_rule, id="rule"),
    pytest.param("/v1/closures/{closure}", {}, describe_closure, id="closure"),
]


def whole(response):
    """All of a response but what differs between any two (its date, the rate limit left,
    the time in a gzip header)."""
    headers = [(k, v) for k, v in response.headers.items() if k not in ("Date", "RateLimit")]
    data = response.get_data()
    if response.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    return response.status_code, headers, data


def sent(app) -> int:
    with app.app_context():
        return tally()["sent"]


@pytest.mark.parametrize(("path", "headers", "write"), HELD)
def test_a_repeated_read_is_answered_from_what_was_sent(
    app, client, resources, path, headers, write
):
    path = path.format(**resources)
    first = client.get(path, headers=headers)
    assert first.status_code == 200
    for count in (1, 2):
        again = client.get(path, headers=headers)
        assert sent(app) == count
        assert whole(again) == whole(first)


def check_a_write_elsewhere_is_in_the_next_answer(app, client, other, editor, ids, case):
    path, headers, write = case
    path = path.format(**ids)
    first = client.get(path, headers=headers)
    client.get(path, headers=headers)
    assert sent(app) == 1
    write(other(), editor, ids)
    after = client.get(path, headers=headers)
    assert after.status_code == 200 and after.get_data() != first.get_data()
    assert whole(after) == whole(other().get(path, headers=headers))
    assert whole(client.get(path, headers=headers)) == whole(after)  # held again


@pytest.mark.parametrize(("path", "headers", "write"), HELD)
def test_a_write_elsewhere_is_in_the_next_answer(
    app, client, elsewhere, editor, resources, path, headers, write
):
    check_a_write_elsewhere_is_in_the_next_answer(
        app, client, elsewhere, editor, resources, (path, headers, write)
    )


@pytest.mark.parametrize(("path", "headers", "write"), HELD)
def test_a_write_through_another_host_on_postgresql_is_in_the_next_answer(
    postgres_url, path, headers, write
):
    apps = [create_app(Config(database_url=postgres_url)) for _ in range(2)]
    try:
        here, there = apps
        token = make_token(there.extensions["checkpoints.store"], "alice", "editor")
        editor = {"Authorization": f"Bearer {token}"}
        ids = create_resources(here.test_client(), editor)
        check_a_write_elsewhere_is_in_the_next_answer(
            here, here.test_client(), there.test_client, editor, ids, (path, headers, write)
        )
    finally:
        for app in apps:
            app.extensions["checkpoints.store"].close()


@pytest.mark.parametrize(("path", "headers", "write"), HELD)
@pytest.mark.parametrize(
    ("method", "sent_headers"),
    [
        pytest.param("GET", {}, id="plain"),
        pytest.param("GET", {"Accept-Encoding": "gzip", "Origin": "https://a.example"}, id="gzip"),
        pytest.param("HEAD", {}, id="head"),
        pytest.param("GET", {"If-None-Match": "ETAG"}, id="if-none-match"),
        pytest.param("GET", {"If-None-Match": '"other"'}, id="if-none-match-other"),
    ],
)
def test_a_held_answer_is_the_computed_one_byte_for_byte(
    app, client, elsewhere, resources, path, headers, write, method, sent_headers
):
    path = path.format(**resources)
    first = client.get(path, headers=headers)
    etag = first.headers.get("ETag", '"none"')
    sent_headers = {k: v.replace("ETAG", etag) for k, v in sent_headers.items()}
    held = client.open(path, method=method, headers={**headers, **sent_headers})
    assert sent(app) == 1
    computed = elsewhere().open(path, method=method, headers={**headers, **sent_headers})
    assert whole(held) == whole(computed)
    if "If-None-Match" in sent_headers and "ETag" in first.headers:
        assert (held.status_code == 304) is (sent_headers["If-None-Match"] == etag)


def test_held_answers_are_counted_and_limited_like_any(app, client, resources):
    path = f"/v1/checkpoints/medininkai/status?at={AT}"
    left = [int(client.get(path).headers["RateLimit"].split("r=")[1].split(";")[0])]
    for _ in range(2):
        left.append(int(client.get(path).headers["RateLimit"].split("r=")[1].split(";")[0]))
    assert sent(app) == 2
    assert left == [left[0], left[0] - 1, left[0] - 2]
    text = client.get("/metrics").get_data(as_text=True)
    assert any(
        line.startswith("flask_http_request_duration_seconds_count{")
        and 'endpoint="decisions.CheckpointStatus"' in line
        and 'status="200"' in line
        and line.endswith(" 3.0")
        for line in text.splitlines()
    )


def test_answers_about_now_are_not_held_past_the_instant_they_change(
    app, client, elsewhere, editor
):
    assert client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).status_code == 201
    starts = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    close_medininkai(elsewhere(), editor, starts_at=starts.isoformat())
    reads = {
        "/v1/checkpoints?state=unknown": lambda body: [c["id"] for c in body["items"]],
        "/v1/checkpoints?state=closed": lambda body: [c["id"] for c in body["items"]],
        "/v1/checkpoints/medininkai/status": lambda body: body["state"],
        "/v1/status": lambda body: [s["state"] for s in body["items"]],
    }
    before = {path: read(client.get(path).get_json()) for path, read in reads.items()}
    again = {path: read(client.get(path).get_json()) for path, read in reads.items()}
    assert (
        before
        == again
        == {
            "/v1/checkpoints?state=unknown": ["medininkai"],
            "/v1/checkpoints?state=closed": [],
            "/v1/checkpoints/medininkai/status": "unknown",
            "/v1/status": ["unknown"],
        }
    )
    assert sent(app) == 2  # the two lists; the statuses say `at` (now), never held whole
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.05)
    after = {path: read(client.get(path).get_json()) for path, read in reads.items()}
    assert after == {
        "/v1/checkpoints?state=unknown": [],
        "/v1/checkpoints?state=closed": ["medininkai"],
        "/v1/checkpoints/medininkai/status": "closed",
        "/v1/status": ["closed"],
    }


def test_a_status_about_now_is_the_computed_one_at_its_own_instant(client, elsewhere, editor):
    assert client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor).status_code == 201
    close_medininkai(elsewhere(), editor, starts_at="2099-01-01T00:00:00Z")
    for path in ("/v1/checkpoints/medininkai/status", "/v1/status"):
        client.get(path)  # the statuses dumped, held
        held = client.get(path).get_json()
        at = held["at"]
        computed = elsewhere().get(f"{path}?at={at.replace('+', '%2B')}").get_json()
        assert held == computed
        assert held["at"] != client.get(path).get_json()["at"]  # about now, each time


def test_a_held_page_links_to_the_host_it_was_asked_of(client, resources):
    for path in ("/v1/checkpoints?limit=1", f"/v1/status?limit=1&at={AT}"):
        for _ in range(2):
            here = client.get(path)
            there = client.get(path, headers={"Host": "other.example"})
            assert here.headers["Link"].startswith("<http://localhost/")
            assert there.headers["Link"].startswith("<http://other.example/")


def test_a_held_page_is_held_per_representation(client, resources):
    for path in ("/v1/checkpoints?limit=1", f"/v1/status?limit=1&at={AT}"):
        for _ in range(2):
            assert client.get(path).mimetype == "application/json"
            assert client.get(path, headers=GEOJSON).mimetype == "application/geo+json"


def test_a_304_alone_is_held_and_a_200_is_still_computed(app, client, elsewhere, resources):
    path = f"/v1/checkpoints/medininkai/status?at={AT}"
    etag = elsewhere().get(path).headers["ETag"]
    conditional = {"If-None-Match": etag}
    first = client.get(path, headers=conditional)
    assert first.status_code == 304 and sent(app) == 0
    again = client.get(path, headers=conditional)
    assert sent(app) == 1 and whole(again) == whole(first)
    whole_answer = client.get(path)
    assert whole_answer.status_code == 200 and sent(app) == 1  # computed, then held
    assert client.get(path).get_data() == whole_answer.get_data() and sent(app) == 2


def test_past_the_memo_s_bound_the_oldest_answers_go_and_holding_goes_on(
    app, client, resources, monkeypatch
):
    from service.storage import held as held_inputs

    first = client.get("/v1/checkpoints/medininkai")
    with app.app_context():
        one_answer = app.extensions["checkpoints.store"].held_inputs()._memo_bytes
    # Room for one held answer, not two: each new one pushes out the one before.
    monkeypatch.setattr(held_inputs, "MEMO_BYTES", one_answer * 3 // 2)
    second = client.get("/v1/checkpoints/salcininkai")
    for _ in range(3):
        for path, answer in (("medininkai", first), ("salcininkai", second)):
            assert whole(client.get(f"/v1/checkpoints/{path}")) == whole(answer)
            assert whole(client.get(f"/v1/checkpoints/{path}")) == whole(answer)
    # Each answer pushes the other out: in every round each is computed and held again, then
    # sent again from what was held.
    with app.app_context():
        assert tally() == {"kept": 8, "sent": 6}
