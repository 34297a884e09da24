"""Slow, idle and streaming clients against the production setup and the plain default.

Run from the repository root: ``python benchmarks/slow_clients.py`` (about 80 s; with
``--with-nginx``, which adds gthread workers behind nginx, the alternative that was measured,
about 2 minutes). For each setup, in one run on loopback:

1. normal clients alone: a closed loop of decision requests (keep-alive for up to 10 requests
   per connection, as HTTP libraries do), throughput and p99;
2. the same alongside a crowd: 64 clients that close their socket 20 ms after reading each
   response (one request every 0.5 s each), 64 that send their request one byte every 100 ms
   (slowloris) and 50 open SSE streams; the normal clients' throughput as a ratio of alone
   (alone is measured before and after, and averaged), and their p99;
3. closing late: 64 clients that each send one request per connection and close it 0, 5
   or 20 ms after reading the answer, requests per second.

Ratios are against the baseline in the same run; absolute numbers depend on the machine.
``--set NAME=VALUE`` sets an environment variable of every server started, over the setup's
own: ``--set GUNICORN_THREADS=16`` measures gthread with 16 threads per worker.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the benchmarks folder importable
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (
    CONFIGURED,
    DECISION,
    GTHREAD_NGINX,
    PLAIN_SYNC,
    Crowd,
    CrowdRunner,
    Server,
    add_settings_option,
    apply_settings,
    get_json,
    percentile,
    prepare_database,
    run_closing_late,
    run_normal,
    table,
)

NORMAL_CLIENTS = 8
CROWD = Crowd(late_closers=64, late_pace=0.5, slowloris=64, streams=50)
DELAYS = (0.0, 0.005, 0.02)


def measure(setup, database_url: str, folder: Path, seconds: float) -> dict:
    with Server(setup, database_url, folder) as server:
        head = get_json("/v1/snapshot", server.port)["seq"]
        before = run_normal(server.port, DECISION, NORMAL_CLIENTS, 1.0, seconds / 2)
        crowd = CrowdRunner(server.port, Crowd(**{**CROWD.__dict__, "head": head}), seconds + 6)
        crowd.start(settle=3.0)
        loaded = run_normal(server.port, DECISION, NORMAL_CLIENTS, 0.5, seconds)
        report = crowd.report()
        after = run_normal(server.port, DECISION, NORMAL_CLIENTS, 1.0, seconds / 2)
        closing = {
            delay: run_closing_late(server.port, DECISION, 64, delay, seconds / 2).rate
            for delay in DELAYS
        }
    alone_rate = (before.done + after.done) / (before.seconds + after.seconds)
    return {
        "alone_rate": alone_rate,
        "alone_p99": percentile(before.latencies + after.latencies, 0.99) * 1000,
        "loaded_rate": loaded.rate,
        "loaded_p99": loaded.p99,
        "loaded_errors": loaded.errors,
        "ratio": loaded.rate / alone_rate if alone_rate else 0.0,
        "crowd": report,
        "closing": closing,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per loaded phase (≤ 15)")
    parser.add_argument(
        "--with-nginx", action="store_true", help="also measure gthread workers behind nginx"
    )
    add_settings_option(parser)
    args = parser.parse_args()
    apply_settings(args)
    seconds = min(args.seconds, 15.0)
    setups = [PLAIN_SYNC, CONFIGURED]
    if args.with_nginx:
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            parser.error("nginx is not installed (apt-get install nginx-light)")
        setups.append(GTHREAD_NGINX)

    with tempfile.TemporaryDirectory() as tmp:
        database_url = prepare_database(Path(tmp))
        results = {}
        for setup in setups:
            print(f"measuring {setup.name} ...", flush=True)
            results[setup.name] = measure(setup, database_url, Path(tmp), seconds)

    rows = []
    for name, r in results.items():
        ok = r["ratio"] >= 0.7 and r["loaded_p99"] < 100
        rows.append(
            [
                name,
                f"{r['alone_rate']:,.0f}",
                f"{r['alone_p99']:.1f}",
                f"{r['loaded_rate']:,.0f}",
                f"{r['loaded_p99']:.1f}",
                f"{r['ratio']:.2f}",
                "yes" if ok else "NO",
            ]
        )
    print(f"\nnormal clients ({NORMAL_CLIENTS}, decision requests) alone and with the crowd:")
    headers = ["setup", "alone req/s", "p99 ms", "crowd req/s", "p99 ms", "ratio", "≥0.7 & <100"]
    print(table(headers, rows))

    print("\nthe crowd (64 closing 20 ms late, 64 slowloris, 50 SSE streams):")
    rows = []
    for name, r in results.items():
        c = r["crowd"]
        cut = percentile(c.slowloris_cut_after, 0.5)
        rows.append(
            [
                name,
                f"{c.late_done} / {c.late_errors}",
                f"{c.slowloris_cut} / {c.slowloris_answered}",
                "-" if cut != cut else f"{cut:.1f}",
                f"{c.streams_open} / {c.streams_refused}",
            ]
        )
    headers = [
        "setup",
        "late closers answered / failed",
        "slowloris cut / answered",
        "cut after s (median)",
        "streams opened / refused",
    ]
    print(table(headers, rows))

    print("\n64 clients, one request per connection, closing after the answer:")
    rows = [
        [f"{delay * 1000:.0f} ms", *(f"{r['closing'][delay]:,.0f}" for r in results.values())]
        for delay in DELAYS
    ]
    print(table(["closes after", *(f"{name} req/s" for name in results)], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
