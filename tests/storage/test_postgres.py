"""What only the PostgreSQL backend does: its errors, seen by clients as 503 problems."""

from __future__ import annotations

import pytest

from service import create_app
from service.config import Config
from service.storage import SchemaNotReady, Unavailable, open_store
from tests.conftest import CHECKPOINT, assert_problem, free_port, make_token


def test_an_unreachable_server_is_a_503_problem_and_not_ready():
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = create_app(Config(database_url=url, pg_statement_timeout_ms=1000))
    client = app.test_client()
    try:
        problem = assert_problem(client.get("/v1/checkpoints"), 503)
        assert "postgres" not in problem["detail"].lower()
        assert_problem(client.get("/readyz"), 503)
    finally:
        app.extensions["checkpoints.store"].close()


def test_a_write_that_outwaits_the_statement_timeout_is_a_503(postgres_url):
    import psycopg

    app = create_app(Config(database_url=postgres_url, pg_statement_timeout_ms=300))
    store = app.extensions["checkpoints.store"]
    editor = {"Authorization": f"Bearer {make_token(store, 'alice', 'editor')}"}
    try:
        with psycopg.connect(postgres_url) as holder:
            holder.execute("SELECT 1 FROM feed_state WHERE id = 1 FOR UPDATE")
            response = app.test_client().post("/v1/checkpoints", json=CHECKPOINT, headers=editor)
            holder.rollback()
        assert_problem(response, 503)
        assert store.feed_position() == 0
        with pytest.raises(Unavailable), psycopg.connect(postgres_url) as holder:
            holder.execute("SELECT 1 FROM feed_state WHERE id = 1 FOR UPDATE")
            store.create(resource_type="checkpoint", resource_id="x", data=CHECKPOINT, actor="a")
    finally:
        store.close()


def test_an_unmigrated_database_is_not_ready(postgres_database):
    store = open_store(f"{postgres_database}?options=-csearch_path%3Dempty")
    try:
        with pytest.raises(SchemaNotReady):
            store.check_ready()
    finally:
        store.close()
