"""``/``: links for programs, the status board for browsers; a checkpoint's page."""

from __future__ import annotations

import re

import pytest

from service.example import load
from tests.conftest import assert_problem

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
AT = "2025-11-10T12:00:00Z"


@pytest.fixture
def example(store):
    load(store)
    return store


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_programs_get_an_index_of_links(client, accept):
    response = client.get("/", headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    links = response.get_json()["links"]
    assert links["docs"] == "/docs/" and links["openapi"] == "/openapi.json"
    assert links["status"] == "/v1/status"


def test_an_index_in_another_media_type_is_a_406(client):
    assert_problem(client.get("/", headers={"Accept": "image/png"}), 406)


def test_browsers_get_the_board_with_the_states_of_v1_status(client, example):
    response = client.get(f"/?at={AT}", headers=HTML)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Accept" in response.headers["Vary"]
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "<script>" not in response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    shown = dict(re.findall(r'id="cp-([a-z-]+)".*?class="state state-([a-z]+)"', page, re.S))
    items = client.get(f"/v1/status?at={AT}").get_json()["items"]
    api = {s["checkpoint_id"]: s["state"] for s in items}
    assert shown == api and len(shown) == 6
    assert '<label for="at">' in page and 'value="2025-11-10T12:00"' in page


def test_the_forms_time_is_read_as_utc(client, example):
    page = client.get("/?at=2025-11-10T12:00", headers=HTML).get_data(as_text=True)
    assert "2025-11-10 14:00 EET (12:00 UTC)" in page


def test_a_time_that_cannot_be_read_is_said_on_the_page(client, example):
    response = client.get("/?at=yesterday", headers=HTML)
    assert response.status_code == 422 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in page and "is not a time" in page


def test_a_checkpoints_page_and_an_unknown_one(client, example):
    page = client.get(f"/checkpoints/salcininkai?at={AT}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "History of closures and rules" in text and "<svg viewBox" in text
    assert "closure-salcininkai" not in text or "revisions" in text
    missing = client.get("/checkpoints/nowhere")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
