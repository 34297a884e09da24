"""PostgreSQL against SQLite in one run: decision, list and write throughput (1 and 8
writers) through gunicorn.conf.py, and how soon a long-poll on one host wakes after a write
on another.

Run from the repository root: ``python benchmarks/backends.py``. PostgreSQL comes from
CHECKPOINTS_TEST_POSTGRES_URL (default ``postgresql://postgres@127.0.0.1:5432/test``); a
database of its own is created for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import requests

from benchmarks._load import (
    BIN,
    CONFIGURED,
    DECISION,
    Server,
    add_settings_option,
    apply_settings,
    percentile,
    prepare_database,
    run_normal,
    table,
)

POSTGRES = os.environ.get(
    "CHECKPOINTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
LIST = "/v1/checkpoints?limit=50"
BODY = {
    "name": "Bench",
    "countries": ["LT", "BY"],
    "kind": "road",
    "location": {"lat": 54.5, "lon": 25.6},
    "timezone": "Europe/Vilnius",
}


@contextmanager
def postgres_database():
    name = f"checkpoints_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{name}"))
    try:
        env = {**os.environ, "CHECKPOINTS_DATABASE_URL": url}
        for command in (["init-db"], ["load-example"]):
            subprocess.run(
                [BIN / "checkpoints", *command], env=env, check=True, capture_output=True
            )
        yield url
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def token(url: str) -> str:
    out = subprocess.run(
        [BIN / "checkpoints", "token", "create", f"bench-{secrets.token_hex(3)}"],
        env={**os.environ, "CHECKPOINTS_DATABASE_URL": url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[-1]


def writes(port: int, secret: str, writers: int, seconds: float) -> float:
    """Creates per second by ``writers`` closed-loop clients."""
    end = time.monotonic() + seconds
    counts = [0] * writers
    prefix = secrets.token_hex(3)

    def writer(index: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {secret}"
            n = 0
            while time.monotonic() < end:
                body = {**BODY, "id": f"bench-{prefix}-{index}-{n}"}
                n += 1
                response = session.post(
                    f"http://127.0.0.1:{port}/v1/checkpoints", json=body, timeout=30
                )
                counts[index] += response.status_code == 201

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return sum(counts) / seconds


def wake_ups(a: int, b: int, secret: str, count: int) -> list[float]:
    """Seconds from a write's answer on host B to the answer of a long-poll held on host A."""
    delays = []
    headers = {"Authorization": f"Bearer {secret}"}
    for i in range(count):
        position = requests.get(f"http://127.0.0.1:{b}/v1/snapshot").json()["seq"]
        woke: dict = {}

        def poll(position=position, woke=woke) -> None:
            requests.get(
                f"http://127.0.0.1:{a}/v1/changes",
                params={"after": position, "wait": 10},
                timeout=30,
            )
            woke["at"] = time.monotonic()

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.2)
        body = {**BODY, "id": f"wake-{secrets.token_hex(3)}-{i}"}
        requests.post(f"http://127.0.0.1:{b}/v1/checkpoints", json=body, headers=headers)
        written = time.monotonic()
        poller.join(timeout=30)
        delays.append(woke["at"] - written)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--wakes", type=int, default=30)
    add_settings_option(parser)
    args = parser.parse_args()
    apply_settings(args)
    two = replace(CONFIGURED, env={"WEB_CONCURRENCY": "2"})
    results: dict[str, dict[str, float]] = {"SQLite": {}, "PostgreSQL": {}}
    with (
        tempfile.TemporaryDirectory() as scratch,
        postgres_database() as pg_url,
        ExitStack() as stack,
    ):
        folder = Path(scratch)
        hosts = {}
        for name, url in (("SQLite", prepare_database(folder)), ("PostgreSQL", pg_url)):
            a = stack.enter_context(Server(two, url, folder).start())
            b = stack.enter_context(Server(two, url, folder).start())
            hosts[name] = (a.port, b.port, token(url))
        # Each measure runs on one backend right after the other, so that the machine's
        # other load weighs on both alike.
        for measure, run in (
            ("decision", lambda a, b, t: run_normal(a, DECISION, 8, 1.0, args.seconds).rate),
            ("list", lambda a, b, t: run_normal(a, LIST, 8, 1.0, args.seconds).rate),
            ("write x1", lambda a, b, t: writes(a, t, 1, args.seconds)),
            ("write x8", lambda a, b, t: writes(a, t, 8, args.seconds)),
        ):
            for name, (a, b, secret) in hosts.items():
                results[name][measure] = run(a, b, secret)
        for name, (a, b, secret) in hosts.items():
            delays = wake_ups(a, b, secret, args.wakes)
            results[name]["wake p50 ms"] = percentile(delays, 0.5) * 1000
            results[name]["wake p99 ms"] = percentile(delays, 0.99) * 1000
    sqlite, postgres = results["SQLite"], results["PostgreSQL"]
    rows = [
        [
            name,
            f"{sqlite[name]:,.0f}",
            f"{postgres[name]:,.0f}",
            f"{postgres[name] / sqlite[name]:.2f}",
        ]
        for name in sqlite
    ]
    print("two hosts (gunicorn.conf.py, 2 gevent workers each) per database; 8 clients")
    print(table(["measure (req/s unless ms)", "SQLite", "PostgreSQL", "PostgreSQL / SQLite"], rows))


if __name__ == "__main__":
    main()
