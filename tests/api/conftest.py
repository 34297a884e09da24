"""Fixtures of the API tests that read the bundled example as it was recorded."""

from __future__ import annotations

import pytest

from service import create_app
from service.config import Config
from service.example import load


@pytest.fixture(scope="module")
def recorded_example(tmp_path_factory) -> str:
    """The URL of a database holding the example, each write recorded when it was announced
    (loaded once per module; the tests that use it only read)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('recorded') / 'checkpoints.db'}"
    store = create_app(Config(database_url=url)).extensions["checkpoints.store"]
    store.migrate()
    load(store)
    store.close()
    return url
