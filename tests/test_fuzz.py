"""Fuzzing (schemathesis): every operation of the spec with all checks, three times: with an
editor token, with an admin token and with none, each against its own database filled with
the bundled example."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from service import create_app, example
from service.config import Config
from tests.conftest import ROOT, make_token

CONFIG = SchemathesisConfig.from_path(ROOT / "schemathesis.toml")


@pytest.fixture(scope="session")
def example_database(tmp_path_factory):
    """A migrated database holding the bundled example, made once and copied by each run."""
    path = tmp_path_factory.mktemp("fuzz") / "example.db"
    app = create_app(Config(database_url=f"sqlite:///{path}"))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    example.load(store)
    store.close()
    return path


@pytest.fixture(params=["editor", "admin", "anonymous"])
def fuzz_run(request, tmp_path, example_database):
    path = tmp_path / "checkpoints.db"
    shutil.copyfile(example_database, path)
    # A stream ends once it has sent the backlog, so that reading it ends too.
    app = create_app(Config(database_url=f"sqlite:///{path}", stream_max_seconds=0))
    store = app.extensions["checkpoints.store"]
    headers = {}
    if request.param != "anonymous":
        headers["Authorization"] = f"Bearer {make_token(store, request.param, request.param)}"
    yield app, headers
    store.close()


SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi" / "openapi.json", config=CONFIG)


class _CurrentApp:
    """The WSGI application schemathesis calls: the current run's app (each has its own
    database), so that the checks' own follow-up requests reach it too."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


SCHEMA.app = _CURRENT = _CurrentApp()
STATEFUL_SCHEMA = schemathesis.openapi.from_path(ROOT / "openapi" / "openapi.json", config=CONFIG)
STATEFUL_SCHEMA.app = _CURRENT
# Links between operations, inferred from the spec (an id in one answer is a parameter of
# another), for the stateful test below.
STATEFUL_SCHEMA.apply_stateful_inference(None)


def _no_long_polls(context, query):
    """A valid ``wait`` (1 to 30 s) is sent as 0: a held long-poll is time, not coverage
    (tests/api/test_feed.py holds them); invalid values are sent as generated."""
    if context.operation.label == "GET /v1/changes":
        wait = query.get("wait") if query else None
        if type(wait) is int and 0 < wait <= 30:
            query = {**query, "wait": 0}
    return query


for _schema in (SCHEMA, STATEFUL_SCHEMA):
    _schema.hook("map_query")(_no_long_polls)


@pytest.mark.fuzz
@SCHEMA.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz(case, fuzz_run):
    app, headers = fuzz_run
    _CURRENT.app = app
    case.call_and_validate(headers=headers)


@pytest.mark.fuzz
def test_fuzz_stateful(fuzz_run):
    app, headers = fuzz_run
    _CURRENT.app = app

    class Workflow(STATEFUL_SCHEMA.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # The token is the caller's own (the checks then probe without it and with a bad one).
            case.validate_response(
                response,
                additional_checks=additional_checks,
                headers=headers,
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    Workflow.run(
        settings=settings(
            max_examples=20,
            derandomize=True,
            database=None,
            deadline=None,
        )
    )
