"""What the start-up integrity check (``PRAGMA quick_check``) and a readiness probe cost, on
a database grown to a given size with revisions and feed events.

Run from the repository root: ``python benchmarks/integrity.py --megabytes 256``. The file is
made in a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.storage import open_store


def grow(path: Path, megabytes: int) -> None:
    """Append revisions and feed events (about 1 KB each) until the file has the size."""
    data = json.dumps({"id": "x", "name": "Checkpoint " + "x" * 800, "countries": ["LT", "BY"]})
    conn = sqlite3.connect(path, isolation_level=None)
    seq = 0
    while path.stat().st_size < megabytes * 1024 * 1024 and seq < 10_000_000:
        conn.execute("BEGIN")
        rows = [(seq + i, f"c-{seq + i}") for i in range(20_000)]
        conn.executemany(
            "INSERT INTO revisions (resource_type, resource_id, revision, action, actor, "
            "recorded_at, data) VALUES ('checkpoint', ?, 1, 'created', 'bench', "
            "'2025-01-01T00:00:00.000000Z', ?)",
            [(rid, data) for _, rid in rows],
        )
        conn.executemany(
            "INSERT INTO changes (seq, recorded_at, resource_type, resource_id, checkpoint_id, "
            "revision, action, actor, data) VALUES (?, '2025-01-01T00:00:00.000000Z', "
            "'checkpoint', ?, ?, 1, 'created', 'bench', NULL)",
            [(s + 1, rid, rid) for s, rid in rows],
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seq += len(rows)
    conn.close()


def timed(action, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.db"
        store = open_store(f"sqlite:///{path}")
        store.migrate()
        grow(path, args.megabytes)
        size = path.stat().st_size / 1024 / 1024
        quick = timed(store.check_integrity, 3)
        ready = timed(store.check_ready, 200)
        store.close()
        print(f"database: {size:,.0f} MiB (file pages in the OS cache)")
        print(f"PRAGMA quick_check (worker start, init-db): {quick * 1000:,.0f} ms")
        print(f"  = {quick * 1000 / size:.2f} ms per MiB")
        print(f"readiness check (schema, free space, write probe): {ready * 1e6:,.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
