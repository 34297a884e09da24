"""Probes, the served spec and the offline docs."""

from __future__ import annotations

from service import create_app
from service.config import Config
from tests.conftest import assert_problem


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_is_503_when_the_schema_is_not_current(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    app = create_app(Config(database_url=url))
    assert_problem(app.test_client().get("/readyz"), 503)  # no database file yet
    import sqlite3

    sqlite3.connect(tmp_path / "x.db").close()  # a database without the schema
    app = create_app(Config(database_url=url))
    body = assert_problem(app.test_client().get("/readyz"), 503)
    assert "init-db" in body["detail"]
    app.extensions["checkpoints.store"].migrate()
    assert app.test_client().get("/readyz").status_code == 200


def test_openapi_json_is_served(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"


def test_docs_are_served_from_the_package(client):
    assert client.get("/docs").status_code == 308
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger-ui" in html and "/openapi.json" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    bundle = client.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    bundle.close()
