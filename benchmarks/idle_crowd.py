"""New clients while a crowd of idle connections is held open.

Run from the repository root: ``python benchmarks/idle_crowd.py`` (about 30 s). On the
example data, served by gunicorn.conf.py as in production, fresh clients (a new connection
each, one every 20 ms) send ``GET /healthz`` and a decision request, first alone, then while
another process holds ``--idle`` (5,000) TCP connections open that never send a byte. The
server closes each idle connection after ``GUNICORN_KEEPALIVE`` seconds; the crowd opens a new
one at once, so it stays at its size throughout. Prints p50, p99 and max of the fresh
clients' answer times and the ratio to alone, and the workers' resident memory per idle
connection. ``--set GUNICORN_WORKER_CONNECTIONS=1000 --idle 2500`` measures gunicorn's own
bound on connections per worker against the configured one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import selectors
import socket
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the benchmarks folder importable
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (
    CONFIGURED,
    DECISION,
    Server,
    add_settings_option,
    apply_settings,
    percentile,
    prepare_database,
    table,
)

PATHS = {"/healthz": "GET /healthz", DECISION: "GET /v1/decisions?..."}


def raise_open_file_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def fresh_request(port: int, path: str) -> float:
    """Seconds from connecting to the whole answer, on a new connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{path}: {answer[:200]!r}")
    return time.monotonic() - started


def fresh_clients(port: int, count: int, every: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {path: [] for path in PATHS}
    for i in range(count):
        path = list(PATHS)[i % len(PATHS)]
        times[path].append(fresh_request(port, path))
        time.sleep(every)
    return times


def hold_crowd(port: int, size: int, seconds: float, ready, report) -> None:
    """Keep ``size`` idle connections open for ``seconds``: reopen each one the server closes."""
    raise_open_file_limit(size + 200)
    selector = selectors.DefaultSelector()

    def open_one() -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)

    for _ in range(size):
        open_one()
    ready.set()
    deadline = time.monotonic() + seconds
    reopened = 0
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                if sock.recv(4096):
                    continue  # the server never sends to a silent client, but be safe
            except BlockingIOError:
                continue
            except OSError:
                pass
            selector.unregister(sock)
            sock.close()
            open_one()
            reopened += 1
    held = len(selector.get_map())
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    report.put((held, reopened))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=5000, help="idle connections held open")
    parser.add_argument("--clients", type=int, default=300, help="fresh clients per phase")
    parser.add_argument("--every", type=float, default=0.02, help="seconds between them")
    add_settings_option(parser)
    args = parser.parse_args()
    apply_settings(args)
    raise_open_file_limit(1000)
    phase_seconds = args.clients * (args.every + 0.01) + 5
    with tempfile.TemporaryDirectory(prefix="idle-crowd-") as folder:
        url = prepare_database(Path(folder))
        with Server(CONFIGURED, url, Path(folder)) as server:
            fresh_clients(server.port, 20, 0)  # warm up
            alone = fresh_clients(server.port, args.clients, args.every)
            rss_alone = server.workers_rss_kib()
            ready, report = multiprocessing.Event(), multiprocessing.Queue()
            crowd = multiprocessing.Process(
                target=hold_crowd,
                args=(server.port, args.idle, phase_seconds, ready, report),
                daemon=True,
            )
            crowd.start()
            try:
                if not ready.wait(60):
                    raise RuntimeError("the crowd could not open its connections")
                time.sleep(0.5)  # the workers have accepted it
                rss_crowd = server.workers_rss_kib()
                crowded = fresh_clients(server.port, args.clients, args.every)
                held, reopened = report.get(timeout=phase_seconds + 30)
            finally:
                crowd.join(timeout=5)
                if crowd.is_alive():
                    crowd.kill()
    rows = []
    for path, name in PATHS.items():
        a, c = alone[path], crowded[path]
        rows.append(
            [
                name,
                *(f"{percentile(a, q) * 1000:.1f} ms" for q in (0.5, 0.99)),
                f"{max(a) * 1000:.1f} ms",
                *(f"{percentile(c, q) * 1000:.1f} ms" for q in (0.5, 0.99)),
                f"{max(c) * 1000:.1f} ms",
                f"{percentile(c, 0.99) / percentile(a, 0.99):.2f}",
            ]
        )
    print(
        f"{args.clients} fresh clients per phase, one every {args.every * 1000:g} ms; crowd: "
        f"{args.idle} idle connections ({held} still held at the end, {reopened} reopened "
        "after the server closed them)"
    )
    print(
        f"workers' resident memory: {rss_alone / 1024:.1f} MiB alone, "
        f"{rss_crowd / 1024:.1f} MiB holding the crowd: "
        f"{(rss_crowd - rss_alone) / args.idle:.1f} KiB per idle connection"
    )
    print(
        table(
            ["request", "alone p50", "p99", "max", "with crowd p50", "p99", "max", "p99 ratio"],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
