"""Clients generated from the committed spec work against a real gunicorn: a Python client
(openapi-python-client) and TypeScript types (openapi-typescript, checked by tsc)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service import create_app, example
from service.config import Config
from tests.conftest import ROOT, Server, make_token, node_tools

SPEC = ROOT / "openapi" / "openapi.json"
#: The typed usage file tsc checks against the generated types (it imports ./openapi).
TYPESCRIPT_USAGE = ROOT / "tests" / "clients" / "usage.ts"
#: The generator's settings: no formatting hooks (ruff would only reformat), fixed names.
GENERATOR_CONFIG = """\
post_hooks: []
project_name_override: checkpoints-client
package_name_override: checkpoints_client
"""


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The package openapi-python-client generates from the committed spec, imported."""
    where = tmp_path_factory.mktemp("python-client")
    (where / "config.yaml").write_text(GENERATOR_CONFIG, encoding="utf-8")
    generator = Path(sys.executable).parent / "openapi-python-client"
    options = ["--config", "config.yaml", "--meta", "none", "--output-path", "checkpoints_client"]
    result = _run([str(generator), "generate", "--path", str(SPEC), *options], cwd=where)
    # Everything in the spec is understood: no operation or schema skipped with a warning.
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("checkpoints_client")
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n.split(".")[0] == "checkpoints_client"]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """gunicorn over a database holding the bundled example; an editor's and an admin's
    token."""
    tmp = tmp_path_factory.mktemp("served")
    database_url = f"sqlite:///{tmp / 'checkpoints.db'}"
    app = create_app(Config(database_url=database_url))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    example.load(store)
    tokens = {role: make_token(store, f"client-{role}", role) for role in ("editor", "admin")}
    store.close()
    with Server(database_url, workers=2) as server:
        server.start(tmp / "gunicorn.log")
        yield server, tokens


def test_a_generated_python_client_reads_writes_and_decides(generated, served):
    from checkpoints_client import AuthenticatedClient, Client

    server, tokens = served
    with (
        Client(base_url=server.url) as public,
        AuthenticatedClient(base_url=server.url, token=tokens["editor"]) as editor,
        AuthenticatedClient(base_url=server.url, token=tokens["admin"]) as admin,
    ):
        _use(public, editor, admin)


def _use(public, editor, admin) -> None:
    """List, create, get, patch, decide, follow the feed and delete, as an integrator would."""
    from checkpoints_client.api.checkpoints import (
        create_checkpoint,
        delete_checkpoint,
        get_checkpoint,
        list_checkpoints,
        patch_checkpoint,
    )
    from checkpoints_client.api.decisions import decide_many, get_decision
    from checkpoints_client.api.feed import list_changes
    from checkpoints_client.models import (
        BatchItem,
        BatchItemMode,
        BatchRequest,
        Checkpoint,
        CheckpointInput,
        CheckpointInputKind,
        CheckpointPatch,
        CountryCode,
        Decision,
        GetDecisionMode,
        LocationInput,
        Problem,
    )

    # A list, page by page.
    first = list_checkpoints.sync(client=public, limit=2)
    assert len(first.items) == 2 and isinstance(first.next_cursor, str)
    second = list_checkpoints.sync(client=public, limit=2, cursor=first.next_cursor)
    assert {c.id for c in first.items}.isdisjoint(c.id for c in second.items)

    # A create whose opening hours are not the default, then one item.
    created = create_checkpoint.sync_detailed(
        client=editor,
        body=CheckpointInput(
            id="client-test",
            name="Client test",
            countries=[CountryCode.LT, CountryCode.BY],
            kind=CheckpointInputKind.ROAD,
            timezone="Europe/Vilnius",
            opening_hours="Mo-Fr 08:00-20:00",
            location=LocationInput(lat=54.5, lon=25.6),
        ),
    )
    assert created.status_code == 201, created.content
    read = get_checkpoint.sync_detailed(client=public, checkpoint_id="client-test")
    assert isinstance(read.parsed, Checkpoint)
    before, etag = read.parsed.to_dict(), read.headers["ETag"]
    assert etag == created.headers["ETag"]

    # A conditional merge patch changes only what it names.
    stale = patch_checkpoint.sync(
        client=editor, checkpoint_id="client-test", body=CheckpointPatch(name="x"), if_match='"0-x"'
    )
    assert isinstance(stale, Problem) and stale.status == 412
    patched = patch_checkpoint.sync_detailed(
        client=editor,
        checkpoint_id="client-test",
        body=CheckpointPatch(name="Client test, renamed"),
        if_match=etag,
    )
    assert patched.status_code == 200, patched.content
    after = patched.parsed.to_dict()
    assert after["name"] == "Client test, renamed"
    assert after["opening_hours"] == "Mo-Fr 08:00-20:00"
    unchanged = {"name", "revision", "updated_at"}
    assert {k: v for k, v in after.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }
    assert after["revision"] == before["revision"] + 1

    # A decision, and a batch whose bad query is recognised as a problem.
    at = datetime(2025, 11, 10, 12, tzinfo=UTC)
    decision = get_decision.sync(
        client=public, checkpoint_id="medininkai", mode=GetDecisionMode.VEHICLE, at=at
    )
    assert isinstance(decision, Decision) and decision.reasons
    batch = decide_many.sync(
        client=public,
        body=BatchRequest(
            queries=[
                BatchItem(checkpoint_id="medininkai", mode=BatchItemMode.GOODS, at=at),
                BatchItem(checkpoint_id="nowhere", mode=BatchItemMode.GOODS, at=at),
            ]
        ),
    )
    answer, problem = batch.results
    assert isinstance(answer, Decision) and answer.checkpoint_id == "medininkai"
    assert isinstance(problem, Problem) and problem.status == 404

    # One page of the change feed: the rename is there, by its actor.
    page = list_changes.sync(client=public, checkpoint_id="client-test", limit=10)
    assert [(c.action.value, c.revision) for c in page.changes] == [("created", 1), ("updated", 2)]
    assert page.changes[-1].actor == "client-editor" and page.has_more is False
    assert page.last_seq == page.changes[-1].seq

    # A conditional delete: a stale ETag changes nothing, the current one deletes.
    current = patched.headers["ETag"]
    refused = delete_checkpoint.sync_detailed(
        client=admin, checkpoint_id="client-test", if_match=etag
    )
    assert refused.status_code == 412 and isinstance(refused.parsed, Problem)
    deleted = delete_checkpoint.sync_detailed(
        client=admin, checkpoint_id="client-test", if_match=current
    )
    assert deleted.status_code == 204
    gone = get_checkpoint.sync(client=public, checkpoint_id="client-test")
    assert isinstance(gone, Problem) and gone.status == 404


def test_generated_typescript_types_compile_with_a_typed_usage(tmp_path):
    tools = node_tools("spec-tools") / "node_modules" / ".bin"
    # A default is what the server fills in when a request leaves a field out, not a promise
    # that the field is there: answers list what they always carry in `required`.
    generate = ["-o", str(tmp_path / "openapi.ts"), "--default-non-nullable=false"]
    _run([str(tools / "openapi-typescript"), str(SPEC), *generate])
    shutil.copyfile(TYPESCRIPT_USAGE, tmp_path / "usage.ts")
    check = ["--noEmit", "--strict", "--target", "es2022", "--module", "es2022"]
    _run([str(tools / "tsc"), *check, "--moduleResolution", "bundler", "usage.ts"], cwd=tmp_path)
