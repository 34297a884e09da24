"""Decision requests while 50 SSE streams and 50 long-polls are held open.

Run from the repository root: ``python benchmarks/held_connections.py`` (under a minute). On
the example data, served by gunicorn.conf.py as in production, a closed loop of decision
requests (``GET /v1/decisions?checkpoint_id=medininkai&mode=vehicle&at=...``) runs alone,
then while 50 ``/v1/changes/stream`` and 50 ``/v1/changes?after=<head>&wait=30`` requests are
held open, then alone again, then while 6 writers (separate processes) create checkpoints as
fast as they can; p50/p99 and throughput of each phase, and the ratio to alone.
``--set CHECKPOINTS_SQLITE_BUSY_SLICE_MS=15000`` measures the same with SQLite's own busy
wait instead of the server's yielding retry.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the benchmarks folder importable
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (
    BIN,
    CONFIGURED,
    DECISION,
    Crowd,
    CrowdRunner,
    Server,
    add_settings_option,
    apply_settings,
    get_json,
    prepare_database,
    run_normal,
    table,
)

CLIENTS = 8
WRITERS = 6


def _writer(port: int, token: str, index: int, seconds: float, counts) -> None:
    """Create checkpoints in a loop for ``seconds``; count the 201s."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline, n = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        body = {
            "id": f"bench-{index}-{n}",
            "name": f"Bench {index} {n}",
            "countries": ["LT", "BY"],
            "kind": "road",
            "timezone": "Europe/Vilnius",
        }
        conn.request("POST", "/v1/checkpoints", json.dumps(body), headers)
        response = conn.getresponse()
        response.read()
        if response.status == 201:
            counts[index] += 1
        n += 1
    conn.close()


def _token(database_url: str) -> str:
    env = {**os.environ, "CHECKPOINTS_DATABASE_URL": database_url}
    out = subprocess.run(
        [BIN / "checkpoints", "token", "create", "bench", "--role", "editor"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (≤ 30)")
    add_settings_option(parser)
    args = parser.parse_args()
    apply_settings(args)
    seconds = min(args.seconds, 30.0)

    with tempfile.TemporaryDirectory() as tmp:
        database_url = prepare_database(Path(tmp))
        with Server(CONFIGURED, database_url, Path(tmp)) as server:
            head = get_json("/v1/snapshot", server.port)["seq"]
            before = run_normal(server.port, DECISION, CLIENTS, 1.0, seconds)
            crowd = CrowdRunner(
                server.port, Crowd(streams=50, long_polls=50, head=head), seconds + 5
            )
            crowd.start(settle=2.0)
            held = run_normal(server.port, DECISION, CLIENTS, 0.5, seconds)
            report = crowd.report()
            after = run_normal(server.port, DECISION, CLIENTS, 1.0, seconds)
            token = _token(database_url)
            counts = multiprocessing.Array("i", WRITERS)
            writers = [
                multiprocessing.Process(
                    target=_writer, args=(server.port, token, i, seconds + 2, counts)
                )
                for i in range(WRITERS)
            ]
            for writer in writers:
                writer.start()
            time.sleep(1.0)
            writing = run_normal(server.port, DECISION, CLIENTS, 0.5, seconds)
            for writer in writers:
                writer.join()
            writes = sum(counts) / (seconds + 2)

    print(f"\n{CLIENTS} clients sending decision requests ({CONFIGURED.name}):")
    rows = [
        [name, f"{r.rate:,.0f}", f"{r.p50:.1f}", f"{r.p99:.1f}", str(r.errors)]
        for name, r in (
            ("alone", before),
            ("50 streams + 50 long-polls", held),
            ("alone again", after),
            (f"{WRITERS} writers ({writes:,.0f} writes/s)", writing),
        )
    ]
    print(table(["phase", "req/s", "p50 ms", "p99 ms", "errors"], rows))
    alone = (before.rate + after.rate) / 2
    print(
        f"\nheld open: {report.streams_open} streams ({report.streams_refused} refused), "
        f"{report.long_polls_open} long-polls ({report.long_polls_answered} answered before "
        f"their 30 s, {report.long_polls_refused} refused); "
        f"throughput ratio {held.rate / alone:.2f}; p99 under 100 ms: "
        f"{'yes' if held.p99 < 100 else 'NO'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
