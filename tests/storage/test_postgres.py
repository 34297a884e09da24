"""What only the PostgreSQL backend does: its errors, seen by clients as 503 problems."""

from __future__ import annotations

import pytest

from service import create_app
from service.config import Config
from service.storage import ReadOnly, SchemaNotReady, StorageError, Unavailable, open_store
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


def test_a_forked_process_opens_its_own_connections_and_leaves_the_parents_alone(postgres_url):
    import os

    store = open_store(postgres_url)

    def backend_pid() -> int:
        with store.transaction() as tx:
            return tx.execute("SELECT pg_backend_pid()").fetchone()[0]

    try:
        parent = backend_pid()
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover (the child reports through the pipe)
            try:
                os.write(write, str(backend_pid()).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            child_pid = int(pipe.read() or 0)
        os.waitpid(child, 0)
        assert child_pid and child_pid != parent
        # The parent's connection survived the child (the pool may lend another one of its
        # connections next, so ask the server whether that backend is still there).
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as probe:
            alive = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [parent]
            ).fetchone()[0]
        assert alive == 1
        assert backend_pid()  # and the parent still reads
    finally:
        store.close()


def test_the_readme_pg_dump_recipe_restores_an_equal_database(postgres_url, tmp_path):
    import shutil
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    from tests.conftest import POSTGRES_URL

    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    store = open_store(postgres_url)
    store.create(resource_type="checkpoint", resource_id="medininkai", data=CHECKPOINT, actor="a")
    dump = tmp_path / "checkpoints.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", postgres_url], check=True, timeout=60
    )
    name = f"{urlsplit(postgres_url).path.lstrip('/')}_restored"
    restored_url = urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    restored = open_store(restored_url)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", f"--dbname={restored_url}", str(dump)],
            check=True,
            timeout=60,
        )
        restored.check_ready()
        assert restored.snapshot() == store.snapshot()
        assert restored.migrate() == []
    finally:
        restored.close()
        store.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_read_only_database_refuses_writes_and_is_not_ready(postgres_url):
    import psycopg

    name = postgres_url.rsplit("/", 1)[1]
    store = open_store(postgres_url)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        try:
            with pytest.raises(ReadOnly):
                store.check_ready()
            with pytest.raises(ReadOnly):
                store.create(
                    resource_type="checkpoint", resource_id="x", data=CHECKPOINT, actor="a"
                )
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute("SET default_transaction_read_only = off")
                conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        store.close()
        store.check_ready()
    finally:
        store.close()


def test_backup_points_to_pg_dump_and_the_integrity_check_is_cheap(postgres_url):
    store = open_store(postgres_url)
    try:
        with pytest.raises(StorageError, match="pg_dump"):
            store.backup(target="copy.db")
        store.check_integrity()
    finally:
        store.close()
