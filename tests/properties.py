"""How many examples each Hypothesis property runs.

``make mutation`` runs each mutant's covering tests. Its first pass sets
``CHECKPOINTS_PROPERTY_EXAMPLES``: every property then runs at most that many examples and does
not shrink a failure (any failure kills a mutant), and every mutant that survives the pass is
run again with the full examples. Everywhere else a property runs the examples its test names.
"""

from __future__ import annotations

import os

from hypothesis import Phase, settings

_CAP = os.environ.get("CHECKPOINTS_PROPERTY_EXAMPLES")


def examples(n: int) -> int:
    """``n``, or the cap when one is set."""
    return n if _CAP is None else min(n, int(_CAP))


if _CAP is not None:
    settings.register_profile(
        "capped",
        max_examples=int(_CAP),
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    settings.load_profile("capped")
