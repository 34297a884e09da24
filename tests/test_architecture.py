"""The shape of the house: the domain is pure."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

FORBIDDEN = {
    "flask",
    "flask_smorest",
    "werkzeug",
    "sqlite3",
    "sqlite_utils",
    "psycopg",
    "psycopg_pool",
    "marshmallow",
    "service.storage",
    "service.api",
}


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_domain_imports_neither_flask_nor_a_database_driver():
    files = sorted((ROOT / "service" / "domain").rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            root = name.split(".")[0]
            assert root not in FORBIDDEN and name not in FORBIDDEN, f"{path.name} imports {name}"
            assert not any(name.startswith(f + ".") for f in FORBIDDEN), (
                f"{path.name} imports {name}"
            )


def test_storage_raises_no_http_errors():
    for path in sorted((ROOT / "service" / "storage").rglob("*.py")):
        for name in _imports(path):
            assert name.split(".")[0] not in {"flask", "werkzeug", "flask_smorest"}, path.name


def test_the_versioning_protocol_is_written_once_without_a_driver():
    storage = ROOT / "service" / "storage"
    for name in _imports(storage / "protocol.py"):
        assert name.split(".")[0] not in {"sqlite3", "sqlite_utils", "psycopg", "psycopg_pool"}
    # Backends implement what differs; neither imports the other.
    assert "postgres" not in set(_imports(storage / "sqlite.py"))
    for path in (ROOT / "service" / "api").rglob("*.py"):
        for name in _imports(path):
            assert name not in {"service.storage.sqlite", "service.storage.postgres"}, path.name


def test_schemas_take_their_vocabulary_from_the_domain_not_from_storage():
    for path in sorted((ROOT / "schemas").rglob("*.py")):
        for name in _imports(path):
            assert not name.startswith("service.storage"), f"{path.name} imports {name}"
