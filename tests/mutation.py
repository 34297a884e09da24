"""``make mutation``: mutation testing of the crossing state, the write path and the statuses.

Runs mutmut (configured under ``[tool.mutmut]`` in pyproject.toml) from a clean slate over
the scope below, prints the score and every mutant not killed, and fails when a surviving
mutant is not listed, with its reason, in ``tests/mutation-survivors.md`` — or when that
list names a mutant that no longer survives, so the list stays true.

Mutant names are mutmut's: the module, the function (``xǁClassǁmethod`` for a method) and
the mutation's number, stable for a given source.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SURVIVORS = ROOT / "tests" / "mutation-survivors.md"
MUTMUT = Path(sys.executable).with_name("mutmut")

#: The versioning protocol's write path: the create, update and delete of a resource, the
#: revision re-check inside the write transaction (``_live_head``), the tombstones of a delete
#: and the recording time a loader may supply.
_WRITE_PATH = ["create", "update", "delete", "_live_head", "_tombstone"]

#: The HTTP statuses: the problem every storage failure becomes, the problem's rendering, and
#: the conditional-request checks and ETags.
_STATUSES = ["xǁProblemǁ*", "x__from_storage", "x_handle_http_exception"]

#: What is mutated, by mutant name (the files are ``only_mutate`` in pyproject.toml). Every
#: mutant of these functions is run: about 580 mutants.
#:
#: Out of scope for now: ``decide()`` and the helpers it alone calls (``_covering_closures``,
#: ``_rule_in_force``, ``_earliest``), about 330 mutants. Each of their mutants runs the
#: decision's Hypothesis properties (about 12 s of tests per surviving mutant), and with them a
#: run no longer completes within an hour on two shared cores. ``derive_state()`` and the
#: closure message are in.
_DECISIONS = ["derive_state", "_crossing", "_closure_message"]

SCOPE = [
    *(f"service.domain.decisions.x_{name}__mutmut_*" for name in _DECISIONS),
    "service.api.machinery.etags.*",
    "service.api.machinery.tags.*",
    *(f"service.api.machinery.errors.{name}__mutmut_*" for name in _STATUSES),
    "service.storage.protocol.x__supplied_time__mutmut_*",
    *(f"service.storage.protocol.xǁVersionedStoreǁ{name}__mutmut_*" for name in _WRITE_PATH),
]

KILLED = {"killed", "timeout", "caught by type check"}
#: Two children at most: the machine running this is shared.
MAX_CHILDREN = os.environ.get("MUTATION_MAX_CHILDREN", "2")

_LISTED = re.compile(r"^- `(?P<name>[^`]+)`: (?P<reason>\S.*)$")
_RESULT = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


def in_scope(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SCOPE)


def listed_survivors() -> dict[str, str]:
    """The mutants ``tests/mutation-survivors.md`` lists, each with its reason."""
    listed = {}
    for line in SURVIVORS.read_text(encoding="utf-8").splitlines():
        match = _LISTED.match(line)
        if match:
            listed[match["name"]] = match["reason"]
    return listed


def results() -> dict[str, str]:
    """Every mutant in scope and its status, as mutmut reports them."""
    out = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        match = _RESULT.match(line)
        if match and in_scope(match["name"]):
            found[match["name"]] = match["status"].strip()
    return found


def main() -> int:
    """``--report``: judge the results of the last run again (after editing the list, or after
    ``mutmut run NAME...`` retested some mutants) instead of running every mutant afresh."""
    started = time.monotonic()
    if "--report" not in sys.argv:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        run = subprocess.run([str(MUTMUT), "run", "--max-children", MAX_CHILDREN, *SCOPE], cwd=ROOT)
        if run.returncode != 0:
            print(f"mutmut run failed (exit {run.returncode})", file=sys.stderr)
            return run.returncode
    elapsed = time.monotonic() - started

    status = results()
    if not status:
        print("no mutants in scope: is [tool.mutmut] in pyproject.toml right?", file=sys.stderr)
        return 1
    killed = sorted(name for name, s in status.items() if s in KILLED)
    survived = sorted(name for name, s in status.items() if s not in KILLED)
    listed = listed_survivors()

    print()
    score = 100 * len(killed) / len(status)
    print(f"mutation score: {len(killed)}/{len(status)} killed ({score:.1f} %)")
    if "--report" not in sys.argv:
        print(f"in {elapsed / 60:.1f} min with {MAX_CHILDREN} children")
    print(f"not killed: {len(survived)} (listed in {SURVIVORS.relative_to(ROOT)}):")
    for name in survived:
        reason = listed.get(name, "NOT LISTED")
        print(f"  {name} [{status[name]}]: {reason}")

    unlisted = [name for name in survived if name not in listed]
    stale = sorted(name for name in listed if name not in survived)
    if unlisted:
        print(f"\n{len(unlisted)} mutants survive without a reason in {SURVIVORS.name}:")
        for name in unlisted:
            print(f"  {name} [{status[name]}]  (see: {MUTMUT.name} show {name})")
    if stale:
        print(f"\n{len(stale)} mutants listed in {SURVIVORS.name} no longer survive; remove them:")
        for name in stale:
            print(f"  {name}")
    return 1 if unlisted or stale else 0


if __name__ == "__main__":
    sys.exit(main())
