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


def _api_graph() -> dict[str, set[str]]:
    """Which modules of ``service.api`` import which (module-level and deferred imports)."""
    api = ROOT / "service" / "api"
    graph: dict[str, set[str]] = {}
    for path in sorted(api.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            origin = (
                (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            )
            if origin and origin.startswith("service.api"):
                names = [f"{origin}.{alias.name}" for alias in node.names]
                targets |= {n for n in names if n in _api_modules(api)} or {origin}
        graph[module] = targets - {module}
    return graph


def _api_modules(api) -> set[str]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in api.rglob("*.py")
    }


def test_http_machinery_is_apart_from_the_endpoints_and_free_of_import_cycles():
    graph = _api_graph()
    machinery = {m for m in graph if m.startswith("service.api.machinery")}
    assert {"service.api.machinery.errors", "service.api.machinery.etags"} <= machinery
    for module in machinery:
        endpoints = {t for t in graph[module] if not t.startswith("service.api.machinery")}
        assert not endpoints, f"{module} imports endpoint modules {endpoints}"

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for target in graph.get(start, ()):
            if target == goal or (target not in seen and reaches(target, goal, seen | {target})):
                return True
        return False

    for module in machinery:
        assert not reaches(module, module, set()), f"{module} is part of an import cycle"
