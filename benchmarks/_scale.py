"""Databases of a chosen size for the scale cases of ``crossing.py``, filled through the
storage layer: every row is written by the store's own ``create``/``update`` (the versioning
protocol: revision checks, invariants, state, revision row and feed event), many writes to a
transaction.

Each checkpoint gets the same shape whatever the size, so that only the amount of history
and the number of checkpoints differ between a small and a big database: the checkpoint, a
rule per mode, one closure, then updates of all of them in turn (each update a revision and a
feed event) up to ``rows_per_checkpoint`` writes. SQLite files are kept under ``var/`` and
PostgreSQL databases under a name, both keyed by the parameters, and reused by later runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.domain import MODES
from service.example.timeline import writable_fields
from service.storage import Store, open_store
from service.storage.protocol import Tx

#: Bump when the generated content changes: cached databases of another version are rebuilt.
GENERATOR_VERSION = 1
#: Writes per transaction. Fewer on PostgreSQL: every write updates the one feed_state row,
#: and the row versions one transaction leaves behind are walked by each later write of it.
BATCH = {"sqlite": 5_000, "postgresql": 500}
ACTOR = "bench-generator"
START = "2020-01-01T00:00:00+02:00"


@dataclass(frozen=True)
class Scale:
    """How big: ``checkpoints`` checkpoints with ``rows_per_checkpoint`` writes each."""

    checkpoints: int
    rows_per_checkpoint: int = 100

    @property
    def rows(self) -> int:
        return self.checkpoints * self.rows_per_checkpoint

    @property
    def key(self) -> str:
        text = f"v{GENERATOR_VERSION}-{self.checkpoints}x{self.rows_per_checkpoint}"
        return (
            f"{self.checkpoints}x{self.rows_per_checkpoint}-"
            + hashlib.sha256(text.encode()).hexdigest()[:8]
        )

    def checkpoint_id(self, n: int) -> str:
        return f"cp{n:06d}"

    def sample_ids(self, count: int = 10) -> list[str]:
        """``count`` checkpoint ids spread over the whole range."""
        step = max(1, self.checkpoints // count)
        return [self.checkpoint_id(n) for n in range(0, self.checkpoints, step)][:count]


def scale_for_rows(rows: int, rows_per_checkpoint: int = 100) -> Scale:
    """The big database for ``rows`` history rows (10,000 checkpoints at 1,000,000)."""
    return Scale(max(10, rows // rows_per_checkpoint), rows_per_checkpoint)


SMALL = Scale(10, 100)


# --- what is written -------------------------------------------------------------------------
def _templates() -> dict[str, dict]:
    """One valid body of each kind, checked by the resource schemas once."""
    checkpoint = writable_fields(
        "checkpoint",
        {
            "id": "cp000000",
            "name": "Generated point",
            "countries": ["LT", "BY"],
            "kind": "road",
            "location": {"lat": 54.5, "lon": 25.6},
            "timezone": "Europe/Vilnius",
            "opening_hours": "Mo-Fr 06:00-22:00; Sa-Su 08:00-20:00",
        },
    )
    rule = writable_fields(
        "rule", {"mode": "vehicle", "access": "allowed", "valid_from": START, "note": "rev 1"}
    )
    closure = writable_fields(
        "closure",
        {
            "starts_at": "2024-01-10T00:00:00+02:00",
            "ends_at": "2024-01-11T00:00:00+02:00",
            "reason": "maintenance",
            "description": "rev 1",
        },
    )
    return {"checkpoint": checkpoint, "rule": rule, "closure": closure}


def _writes(scale: Scale, n: int, templates: dict[str, dict]) -> Iterator[tuple]:
    """The writes of checkpoint ``n``: (action, type, id, data), ``rows_per_checkpoint`` of
    them."""
    cid = scale.checkpoint_id(n)
    held = {("checkpoint", cid): {**templates["checkpoint"], "id": cid, "name": f"Point {n}"}}
    for mode in MODES:
        held[("rule", f"{cid}-{mode}")] = {
            **templates["rule"],
            "id": f"{cid}-{mode}",
            "checkpoint_id": cid,
            "mode": mode,
        }
    held[("closure", f"{cid}-works")] = {
        **templates["closure"],
        "id": f"{cid}-works",
        "checkpoint_id": cid,
    }
    for (kind, rid), data in held.items():
        yield "create", kind, rid, data
    order = list(held)
    for i in range(scale.rows_per_checkpoint - len(order)):
        kind, rid = order[i % len(order)]
        data = dict(held[(kind, rid)])
        field = {"checkpoint": "name", "rule": "note", "closure": "description"}[kind]
        data[field] = f"{'Point ' + str(n) if kind == 'checkpoint' else 'rev'} {i + 2}"
        yield "update", kind, rid, data


@contextmanager
def _batched(store: Store, *, pipeline: bool = False) -> Iterator[None]:
    """Every write of the block in one write transaction: the store's write methods run as
    usual, each in a nested transaction that shares the outer one's connection. With
    ``pipeline`` on PostgreSQL, in psycopg's pipeline mode: statements whose results are not
    read go out together with the next one that is."""
    with store.transaction("write") as outer, _pipelined(outer, pipeline):

        @contextmanager
        def nested(mode="one"):
            yield Tx(outer.execute)

        store.transaction = nested  # an instance attribute: shadows the method
        try:
            yield
        finally:
            del store.transaction


def _pipelined(tx: Tx, wanted: bool) -> contextlib.AbstractContextManager:
    conn = getattr(tx.execute, "args", (None,))[0]  # PostgreSQL's Tx holds its connection
    pipeline = getattr(conn, "pipeline", None)
    return pipeline() if wanted and pipeline is not None else contextlib.nullcontext()


def fill(store: Store, scale: Scale, *, batch: int, progress=None) -> int:
    """Write the scale's rows through ``store``; returns how many were written."""
    templates = _templates()
    revisions: dict[tuple[str, str], int] = {}
    written = 0
    pending: list[tuple] = []

    def flush() -> None:
        nonlocal written
        with _batched(store):
            for action, kind, rid, data in pending:
                if action == "create":
                    record = store.create(
                        resource_type=kind, resource_id=rid, data=data, actor=ACTOR
                    )
                else:
                    record = store.update(
                        resource_type=kind,
                        resource_id=rid,
                        data=data,
                        expected_revision=revisions[(kind, rid)],
                        actor=ACTOR,
                    )
                revisions[(kind, rid)] = record.revision
        written += len(pending)
        pending.clear()
        if progress:
            progress(written, scale.rows)

    for n in range(scale.checkpoints):
        for write in _writes(scale, n, templates):
            pending.append(write)
            if len(pending) >= batch:
                flush()
    if pending:
        flush()
    return written


# --- cached databases ------------------------------------------------------------------------
def sqlite_database(scale: Scale, folder: Path, *, log=print) -> str:
    """The URL of an SQLite file holding ``scale``, generated once under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"scale-{scale.key}.db"
    if not path.exists():
        partial = folder / f"scale-{scale.key}.partial.db"
        for stale in folder.glob(f"scale-{scale.key}.partial.db*"):
            stale.unlink()
        started = time.monotonic()
        store = open_store(f"sqlite:///{partial}")
        try:
            store.migrate()
            fill(store, scale, batch=BATCH["sqlite"], progress=_progress(log, "SQLite", started))
        finally:
            store.close()
        conn = sqlite3.connect(partial)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to rename
        finally:
            conn.close()
        os.replace(partial, path)
        log(f"generated {path.name}: {scale.rows:,} rows in {time.monotonic() - started:.0f} s")
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        store.migrate()  # a file generated before a newer migration gets it now
    finally:
        store.close()
    return url


def postgres_database(scale: Scale, admin_url: str, source_url: str, *, log=print) -> str:
    """The URL of a PostgreSQL database holding ``scale``, made once (a database of its own,
    named after the parameters, next to ``admin_url``'s) as a mirror of the generated SQLite
    database at ``source_url``: every event of its feed applied in order by the store's
    mirroring write (``apply_changes``, as ``checkpoints sync`` does), so both hold the same
    resources, revisions and feed, seq for seq. A write of its own costs PostgreSQL about eight
    round trips; a mirrored event, pipelined, about one."""
    import psycopg

    name = f"checkpoints_bench_scale_{scale.key.replace('-', '_')}"
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists and _complete(url, scale):
        store = open_store(url)
        try:
            store.migrate()
        finally:
            store.close()
        return url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    started = time.monotonic()
    source, target = open_store(source_url), open_store(url)
    try:
        target.migrate()
        empty = {"seq": 0, "checkpoints": [], "rules": [], "closures": []}
        target.load_snapshot(source=ACTOR, snapshot=empty)
        report = _progress(log, "PostgreSQL", started)
        position, batches = 0, 0
        while events := source.changes(after=position, limit=BATCH["postgresql"]):
            with _batched(target, pipeline=True):
                position = target.apply_changes(source=ACTOR, changes=events)
            batches += 1
            if batches & (batches - 1) == 0:
                _analyze(url)
            report(position, scale.rows)
    except BaseException:
        target.close()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        raise
    finally:
        source.close()
    target.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    log(f"generated {name}: {scale.rows:,} rows in {time.monotonic() - started:.0f} s")
    return url


def _analyze(url: str) -> None:
    """Fresh planner statistics while the tables grow (at batches 1, 2, 4, 8, ...): plans
    made while they were empty would scan whole tables."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def _complete(url: str, scale: Scale) -> bool:
    """Whether the database holds the whole scale (an interrupted fill does not)."""
    import psycopg

    with contextlib.suppress(psycopg.Error), psycopg.connect(url) as conn:
        row = conn.execute("SELECT last_seq FROM feed_state WHERE id = 1").fetchone()
        return row is not None and row[0] == scale.rows
    return False


def _progress(log, backend: str, started: float):
    step = 100_000
    last = [0]

    def report(done: int, total: int) -> None:
        if done // step > last[0] or done == total:
            last[0] = done // step
            rate = done / max(time.monotonic() - started, 1e-9)
            log(f"  {backend}: {done:,} / {total:,} rows ({rate:,.0f} rows/s)")

    return report
