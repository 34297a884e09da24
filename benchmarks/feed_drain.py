"""How fast a consumer drains the change feed with limit=1000, at feed depth 1,000 and
1,000,000 events (same page size, same event size): the ratio shows whether depth costs.

Run: .venv/bin/python benchmarks/feed_drain.py  (about a minute; needs ~1 GB of scratch disk)
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import requests

# Run as a script: the repository (for the service) and this folder (for _load) importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import CONFIGURED, Server

from schemas.checkpoints import CHECKPOINT_EXAMPLE
from service.storage import open_store

PAGES = 40
RESOURCE = {
    **CHECKPOINT_EXAMPLE,
    "revision": 1,
    "created_at": "2025-01-01T00:00:00.000000Z",
    "updated_at": "2025-01-01T00:00:00.000000Z",
}


def fill(url: str, depth: int) -> None:
    """A feed of ``depth`` events. Written in bulk (not through the API): only the feed's
    size matters here, and a million API writes would take the benchmark's whole budget."""
    store = open_store(url)
    store.migrate()
    conn = store._conn()  # the benchmark's own scratch database
    data = json.dumps(RESOURCE, separators=(",", ":"))
    conn.execute("BEGIN")
    batch = []
    for seq in range(1, depth + 1):
        stamp = f"2025-01-01T00:00:00.{seq % 1_000_000:06d}Z"
        batch.append(
            (seq, stamp, "checkpoint", f"cp-{seq}", f"cp-{seq}", 1, "created", "bench", data)
        )
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    conn.executemany("INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
    conn.execute("UPDATE feed_state SET last_seq = ? WHERE id = 1", [depth])
    conn.execute("COMMIT")
    store.close()


def drain_rate(server_url: str, depth: int) -> float:
    """Events per second over PAGES full pages read at positions spread over the feed."""
    rng = random.Random(7)
    positions = (
        [rng.randrange(0, depth - 1000 + 1) for _ in range(PAGES)] if depth > 1000 else [0] * PAGES
    )
    events = 0
    with requests.Session() as session:
        session.get(
            f"{server_url}/v1/changes", params={"after": 0, "limit": 1000}
        ).raise_for_status()
        started = time.perf_counter()
        for after in positions:
            response = session.get(
                f"{server_url}/v1/changes", params={"after": after, "limit": 1000}
            )
            response.raise_for_status()
            events += len(response.json()["changes"])
        elapsed = time.perf_counter() - started
    return events / elapsed


def main() -> None:
    rates = {}
    with tempfile.TemporaryDirectory() as scratch:
        for depth in (1_000, 1_000_000):
            url = f"sqlite:///{scratch}/feed-{depth}.db"
            started = time.perf_counter()
            fill(url, depth)
            print(
                f"filled {depth:>9,} events in {time.perf_counter() - started:5.1f} s", flush=True
            )
            one_worker = replace(CONFIGURED, env={"WEB_CONCURRENCY": "1"})
            with Server(one_worker, url, Path(scratch)) as server:
                rates[depth] = drain_rate(f"http://127.0.0.1:{server.port}", depth)
    print()
    print("| feed depth | events/s drained (limit=1000) |")
    print("|---:|---:|")
    for depth, rate in rates.items():
        print(f"| {depth:,} | {rate:,.0f} |")
    print(f"ratio (1,000,000 / 1,000): {rates[1_000_000] / rates[1_000]:.2f}")


if __name__ == "__main__":
    main()
