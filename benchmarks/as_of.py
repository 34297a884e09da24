"""What reading decision inputs as of a time costs against reading them as stored now.

Run from the repository root: ``python benchmarks/as_of.py``. On SQLite (and on PostgreSQL
when one answers at CHECKPOINTS_TEST_POSTGRES_URL), the example plus ``--points`` checkpoints
with six revisions each: one checkpoint's inputs and every checkpoint's, live and as of now
(the same answer, read from the revision history). Prints milliseconds per read and the ratio.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.example import load
from service.storage import open_store
from service.storage.times import now_stamp

POSTGRES = os.environ.get(
    "CHECKPOINTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
POINT = {
    "name": "Bench",
    "countries": ["LT", "BY"],
    "kind": "road",
    "timezone": "Europe/Vilnius",
    "opening_hours": "24/7",
}


def databases():
    """A fresh SQLite file, then a fresh PostgreSQL database if a server answers; each is
    removed once the next is asked for."""
    with tempfile.TemporaryDirectory() as folder:
        yield "sqlite", f"sqlite:///{Path(folder) / 'bench.db'}"
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except Exception as exc:  # no server (or no driver): report and stop
        print(f"postgres: skipped ({exc.__class__.__name__})")
        return
    name = f"checkpoints_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield "postgres", urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def per_read(read, seconds: float) -> float:
    """Milliseconds per call of ``read``, over about ``seconds``."""
    read()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        read()
        count += 1
    return (time.perf_counter() - start) / count * 1000


def run(label: str, url: str, points: int, seconds: float) -> None:
    store = open_store(url)
    store.migrate()
    load(store)
    for index in range(points):
        point_id = f"point-{index:04d}"
        record = store.create(
            resource_type="checkpoint",
            resource_id=point_id,
            data={**POINT, "id": point_id},
            actor="b",
        )
        for n in range(5):
            record = store.update(
                resource_type="checkpoint",
                resource_id=point_id,
                data={**POINT, "id": point_id, "name": f"Bench {n}"},
                expected_revision=record.revision,
                actor="b",
            )
    now = now_stamp()
    pairs = {
        "one checkpoint": (
            lambda: store.decision_inputs(checkpoint_id="medininkai"),
            lambda: store.decision_inputs(checkpoint_id="medininkai", as_of=now),
        ),
        f"all {points + 6} checkpoints": (
            lambda: store.decision_inputs(),
            lambda: store.decision_inputs(as_of=now),
        ),
    }
    for name, (live, as_of) in pairs.items():
        live_ms, as_of_ms = per_read(live, seconds), per_read(as_of, seconds)
        print(
            f"{label}: {name}: live {live_ms:.3f} ms, as_of {as_of_ms:.3f} ms "
            f"(ratio {as_of_ms / live_ms:.2f})",
            flush=True,
        )
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    for label, url in databases():
        run(label, url, args.points, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
