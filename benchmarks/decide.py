"""How fast decide() answers in-process, with a short history and with a long one.

Run from the repository root: ``python benchmarks/decide.py``. Each scenario runs the same mix
of modes, instants and facts for about three seconds (bounded by --seconds).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.domain.decisions import decide
from service.domain.model import MODES, Checkpoint, Closure, Rule

CHECKPOINT = Checkpoint(
    id="medininkai", timezone="Europe/Vilnius", opening_hours="Mo-Su 06:00-22:00; PH off"
)
NOW = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)
BY_CARS = {
    "not": {
        "all": [
            {"fact": "direction", "in": ["entry"]},
            {"fact": "vehicle_registration", "in": ["BY"]},
        ]
    }
}
ACCESS_NOW = {
    "pedestrian": ("prohibited", None),
    "cyclist": ("allowed", None),
    "vehicle": ("restricted", BY_CARS),
    "goods": ("allowed", None),
}


def history(rules_per_mode: int, closures: int) -> tuple[list[Rule], list[Closure]]:
    """Weekly rules per mode ending in one in force now; past two-day closures, one current."""
    rules = []
    for mode in MODES:
        access, condition = ACCESS_NOW[mode]
        start = NOW - timedelta(weeks=rules_per_mode)
        for index in range(rules_per_mode):
            valid_from = start + timedelta(weeks=index)
            last = index == rules_per_mode - 1
            rules.append(
                Rule(
                    id=f"{mode}-{index}",
                    checkpoint_id=CHECKPOINT.id,
                    mode=mode,
                    access=access if last else "allowed",
                    valid_from=valid_from,
                    valid_until=None if last else valid_from + timedelta(weeks=1),
                    condition=condition if last else None,
                )
            )
    past = [
        Closure(
            id=f"c{index}",
            checkpoint_id=CHECKPOINT.id,
            starts_at=NOW - timedelta(days=3 * (closures - index)),
            ends_at=NOW - timedelta(days=3 * (closures - index) - 2),
            modes=(MODES[index % 4],),
            reason="maintenance",
        )
        for index in range(closures - 1)
    ]
    current = Closure(
        id="current",
        checkpoint_id=CHECKPOINT.id,
        starts_at=NOW + timedelta(hours=12),
        ends_at=NOW + timedelta(days=2),
        modes=("goods",),
        reason="security",
    )
    return rules, [*past, current]


# Every mode, at instants over two days (inside and outside hours, before and during the
# goods closure), with no facts, some facts and every fact the condition needs.
QUERIES = [
    (mode, NOW + timedelta(minutes=97 * step), facts)
    for mode, step, facts in itertools.product(
        MODES,
        range(24),
        ({}, {"direction": "entry"}, {"direction": "entry", "vehicle_registration": "LT"}),
    )
]


def rate(rules: list[Rule], closures: list[Closure], seconds: float) -> float:
    """Decisions per second over the query mix, for about `seconds`."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for mode, at, facts in QUERIES:
            decide(
                checkpoint=CHECKPOINT,
                rules=rules,
                closures=closures,
                mode=mode,
                at=at,
                facts=facts,
            )
        done += len(QUERIES)
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per scenario")
    seconds = min(parser.parse_args().seconds, 12.0)

    small = history(rules_per_mode=3, closures=10)
    small = (small[0][-10:], small[1])  # 10 rules; every mode keeps the one in force now
    large = history(rules_per_mode=250, closures=1000)
    rate(*small, seconds=0.2)  # warm the opening-hours and zone caches

    baseline = rate(*small, seconds=seconds)
    print(
        f"baseline: {len(small[0])} rules, {len(small[1])} closures: "
        f"{baseline:,.0f} decisions/s ({1e6 / baseline:.1f} us each)"
    )
    heavy = rate(*large, seconds=seconds)
    print(
        f"history:  {len(large[0])} rules, {len(large[1])} closures: "
        f"{heavy:,.0f} decisions/s ({1e6 / heavy:.1f} us each)"
    )
    print(f"ratio:    {baseline / heavy:.1f}x slower with the long history")


if __name__ == "__main__":
    main()
