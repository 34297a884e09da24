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

#: What is mutated, by mutant name (the files are ``only_mutate`` in pyproject.toml): every
#: function of the domain (``service/domain/``: the decision, opening hours, conditions, facts,
#: the resource model and the timeline), the write path and the statuses above.
SCOPE = [
    "service.domain.*",
    "service.api.machinery.etags.*",
    "service.api.machinery.tags.*",
    *(f"service.api.machinery.errors.{name}__mutmut_*" for name in _STATUSES),
    "service.storage.protocol.x__supplied_time__mutmut_*",
    *(f"service.storage.protocol.xǁVersionedStoreǁ{name}__mutmut_*" for name in _WRITE_PATH),
]

KILLED = {"killed", "timeout", "caught by type check"}
#: Examples per property in the first pass (see ``main``).
CAPPED_EXAMPLES = "20"
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


def mutmut_run(names: list[str], *, capped: bool) -> int:
    """``mutmut run`` over ``names`` (mutant names or patterns); ``capped``: with the
    properties' examples capped (``tests/properties.py``)."""
    env = dict(os.environ)
    env.pop("CHECKPOINTS_PROPERTY_EXAMPLES", None)
    if capped:
        env["CHECKPOINTS_PROPERTY_EXAMPLES"] = CAPPED_EXAMPLES
    run = subprocess.run(
        [str(MUTMUT), "run", "--max-children", MAX_CHILDREN, *names], cwd=ROOT, env=env
    )
    if run.returncode != 0:
        print(f"mutmut run failed (exit {run.returncode})", file=sys.stderr)
    return run.returncode


def main() -> int:
    """Every mutant in scope is run with the properties capped, then every one that survived
    is run again with every example: a mutant survives only the full suite.

    ``--continue``: run only the mutants the last run did not reach (it was interrupted), then
    the second pass. ``--again``: run every mutant the last run did not kill again, in full
    (after tests were added). ``--report``: judge the results of the last run again (after
    editing the list, or after ``mutmut run NAME...`` retested some mutants) without running
    anything."""
    started = time.monotonic()
    if "--report" not in sys.argv:
        if "--again" in sys.argv:
            first = []
        elif "--continue" in sys.argv:
            first = [name for name, s in results().items() if s == "not checked"]
        else:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
            first = SCOPE
        if first and (code := mutmut_run(first, capped=True)):
            return code
        skipped = set() if "--again" in sys.argv else {"no tests", "not checked"}
        again = [name for name, s in results().items() if s not in KILLED | skipped]
        print(f"\n{len(again)} mutants survived with the properties capped: run with every example")
        if again and (code := mutmut_run(again, capped=False)):
            return code
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
