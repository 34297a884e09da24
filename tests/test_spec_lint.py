"""The committed spec passes Spectral's OpenAPI rules and the OWASP API Security ruleset
(.spectral.yaml, where each rule turned off says why) without an error or a warning."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT, node_tools

SPEC = ROOT / "openapi" / "openapi.json"


def _lint(*documents: Path) -> list[dict]:
    """What Spectral finds in the documents, in one run (it takes seconds to start)."""
    tools = node_tools("spec-tools") / "node_modules"
    result = subprocess.run(
        [str(tools / ".bin" / "spectral"), "lint", "--ruleset", ".spectral.yaml"]
        + [str(document) for document in documents]
        + ["--format", "json", "--quiet", "--fail-severity", "hint"],
        cwd=ROOT,
        # The ruleset extends the OWASP package by name: found in the tools' node_modules.
        env={**os.environ, "NODE_PATH": str(tools)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip().startswith("["), result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_spec_passes_spectral_and_the_owasp_ruleset(tmp_path):
    # A copy with two known faults shows the rulesets are really applied.
    broken = json.loads(SPEC.read_text(encoding="utf-8"))
    broken["servers"][0]["url"] = "http://checkpoints.example"
    del broken["components"]["headers"]["Retry-After"]["schema"]["format"]
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")

    found = _lint(SPEC, tmp_path / "broken.json")
    in_broken = {item["code"] for item in found if item["source"].endswith("broken.json")}
    assert {"owasp:api8:2023-no-server-http", "owasp:api4:2023-integer-format"} <= in_broken
    in_spec = [item for item in found if not item["source"].endswith("broken.json")]
    assert not in_spec, "\n".join(
        f"{item['code']} at {'/'.join(map(str, item['path']))}: {item['message']}"
        for item in in_spec
    )
