"""The operator commands, run as the console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from service.example.data import CHECKPOINTS as EXAMPLE_CHECKPOINTS
from service.storage import CheckpointFilter, open_store
from tests.conftest import CHECKPOINT, ROOT

pytestmark = pytest.mark.gunicorn


def run(database_url, *args):
    env = {**os.environ, "CHECKPOINTS_DATABASE_URL": database_url}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "checkpoints"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result


def stored(database_url) -> tuple[list[str], int]:
    """The live checkpoint ids and the feed position of the database, read back from it."""
    store = open_store(database_url)
    try:
        page = store.list_checkpoints(filters=CheckpointFilter(), after=None, limit=100)
        return [item["id"] for item in page.items], store.feed_position()
    finally:
        store.close()


def test_init_db_is_idempotent_and_load_example_fills_an_empty_database(database_url):
    first = run(database_url, "init-db")
    assert first.returncode == 0, first.stderr
    assert "applied" in first.stdout and "m001" in first.stdout
    second = run(database_url, "init-db")
    assert second.returncode == 0 and "applied 0" in second.stdout
    assert stored(database_url) == ([], 0)
    loaded = run(database_url, "load-example", "--if-empty")
    assert loaded.returncode == 0, loaded.stderr
    ids, position = stored(database_url)
    assert sorted(ids) == sorted(point["id"] for point in EXAMPLE_CHECKPOINTS)
    assert loaded.stdout.strip() == f"example loaded: {position} writes"
    again = run(database_url, "load-example", "--if-empty")
    assert again.returncode == 0 and "not loaded" in again.stdout
    assert stored(database_url) == (ids, position)


def test_load_example_if_empty_leaves_a_database_with_data_as_it_was(database_url, tmp_path):
    assert run(database_url, "init-db").returncode == 0
    store = open_store(database_url)
    try:
        store.create(
            resource_type="checkpoint", resource_id=CHECKPOINT["id"], data=CHECKPOINT, actor="x"
        )
    finally:
        store.close()
    before = stored(database_url)
    assert before == ([CHECKPOINT["id"]], 1)
    result = run(database_url, "load-example", "--if-empty")
    assert result.returncode == 0, result.stderr
    assert "not loaded" in result.stdout
    assert stored(database_url) == before


def test_tokens_create_list_revoke_and_authorise(database_url, tmp_path):
    from tests.conftest import Server

    assert run(database_url, "init-db").returncode == 0
    created = run(database_url, "token", "create", "ops", "--role", "admin")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.split()[-1]
    duplicate = run(database_url, "token", "create", "ops")
    assert duplicate.returncode != 0 and "exists" in duplicate.stderr
    listed = run(database_url, "token", "list").stdout
    assert "ops\tadmin" in listed and secret not in listed and "active" in listed

    server = Server(database_url, workers=2)
    server.start(tmp_path / "gunicorn.log")
    try:
        headers = {"Authorization": f"Bearer {secret}"}
        body = {
            "id": "kena",
            "name": "Kena",
            "countries": ["LT", "BY"],
            "kind": "rail",
            "timezone": "Europe/Vilnius",
        }
        assert (
            requests.post(f"{server.url}/v1/checkpoints", json=body, headers=headers).status_code
            == 201
        )
        assert run(database_url, "token", "revoke", "ops").returncode == 0
        refused = requests.post(
            f"{server.url}/v1/checkpoints", json={**body, "id": "kena-2"}, headers=headers
        )
        assert refused.status_code == 401
    finally:
        server.stop()
    assert "revoked" in run(database_url, "token", "list").stdout
    assert run(database_url, "token", "revoke", "nobody").returncode != 0


def test_openapi_command_writes_the_document(tmp_path, database_url):
    target = tmp_path / "spec.json"
    result = run(database_url, "openapi", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_text() == (ROOT / "openapi" / "openapi.json").read_text()
