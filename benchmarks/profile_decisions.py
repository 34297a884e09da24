"""The decision path against its ceiling, quickly: wrk against gunicorn.conf.py over the
example, interleaved with a bare Flask route returning a constant decision-sized JSON body
under the same settings; requests/s medians and their ratio to the ceiling's.

    .venv/bin/python benchmarks/profile_decisions.py [--seconds 5] [--rounds 3] [--case NAME]

Needs wrk (the distribution's package). ``--hold`` keeps the servers up (to attach py-spy).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import BIN, ROOT, free_port, prepare_database

DECISION_BODY = {
    "checkpoint_id": "medininkai",
    "mode": "vehicle",
    "at": "2025-06-01T12:00:00Z",
    "allowed": True,
    "access": "permitted",
    "reasons": [
        {
            "code": "rule",
            "message": "Vehicles may cross (rule medininkai-vehicle, since 2024-01-01).",
            "resource": {"type": "rule", "id": "medininkai-vehicle-2024", "revision": 1},
        }
    ],
    "conditions_text": [],
    "missing_facts": [],
    "valid_until": None,
}


def ceiling():
    """A bare Flask app answering one constant decision-sized JSON body (the ceiling).
    It holds a store only so that gunicorn.conf.py's worker hook runs as it does for the
    service."""
    from flask import Flask, jsonify

    from service.storage import open_store

    app = Flask("ceiling")
    app.extensions["checkpoints.store"] = open_store(os.environ["CHECKPOINTS_DATABASE_URL"])

    @app.get("/v1/decisions")
    def decision():
        return jsonify(DECISION_BODY)

    return app


# Paths each case cycles through (wrk's Lua picks the next one per request).
CASES = {
    "decisions": [
        f"/v1/decisions?checkpoint_id={cp}&mode={mode}{at}"
        for cp in ("medininkai", "salcininkai", "lavoriskes")
        for mode in ("vehicle", "pedestrian", "goods")
        for at in ("", "&at=2025-06-01T12:00:00Z", "&at=2025-11-25T12:00:00Z")
    ],
    # A decision "now" changes its ETag as ``at`` moves: the 304 case asks about given times.
    "decisions-304": "decisions",
    "checkpoint-status": [
        f"/v1/checkpoints/{cp}/status" for cp in ("medininkai", "salcininkai", "lavoriskes")
    ],
    "status-page": ["/v1/status?limit=2", "/v1/status?limit=2&country=LT"],
    "checkpoint": ["/v1/checkpoints/medininkai", "/v1/checkpoints/salcininkai"],
    "checkpoint-list": ["/v1/checkpoints?limit=2"],
}

LUA = """
paths = {%s}
etags = {%s}
i = 0
request = function()
  i = i %% #paths + 1
  if etags[i] ~= "" then
    return wrk.format("GET", paths[i], {["If-None-Match"] = etags[i]})
  end
  return wrk.format("GET", paths[i])
end
"""


def lua(folder: Path, name: str, paths: list[str], etags: list[str]) -> Path:
    quote = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
    script = folder / f"{name}.lua"
    script.write_text(LUA % (", ".join(map(quote, paths)), ", ".join(map(quote, etags))))
    return script


def cpu_seconds(master: int) -> float:
    """User and system CPU time of a gunicorn's workers so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def wrk(url: str, script: Path, seconds: int, connections: int, master: int) -> tuple:
    """Requests/s, and the workers' CPU time per request in microseconds (less sensitive
    than throughput to other load on the machine)."""
    cpu = cpu_seconds(master)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(master) - cpu
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed responses against {url}:\n{out}")
    count = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), cpu / count * 1e6


def serve(app: str, url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "CHECKPOINTS_DATABASE_URL": url,
        "CHECKPOINTS_RATELIMIT_ENABLED": "false",
        "PORT": str(port),
    }
    process = subprocess.Popen(
        [BIN / "gunicorn", "-c", "gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    deadline = started + 30
    while True:
        try:
            if requests.get(f"{base}/v1/decisions?checkpoint_id=medininkai&mode=vehicle").ok:
                print(f"{app}: first 200 after {time.monotonic() - started:.2f} s", flush=True)
                return process, base
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.terminate()
            raise SystemExit(f"{app} did not start; see {log}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--database", help="a database URL to serve instead of the example")
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    # Stopped by a signal, still stop the servers (the finally clauses below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="bench-decisions-"))
    try:
        url = args.database or prepare_database(folder)
        processes = []
        app, app_url = serve("service:create_app()", url, folder / "app.log")
        processes.append(app)
        try:
            top, top_url = serve("benchmarks.profile_decisions:ceiling()", url, folder / "c.log")
            processes.append(top)
            if args.hold:
                print("service", app_url, "pid", app.pid, "ceiling", top_url, flush=True)
                input("press enter to stop\n")
                return
            scripts = {
                "ceiling": (top.pid, top_url, lua(folder, "ceiling", ["/v1/decisions"], [""]))
            }
            for name in args.case or list(CASES):
                paths = CASES[name]
                etags = [""]
                if isinstance(paths, str):  # the same paths, asking with their current ETag
                    paths = [p for p in CASES[paths] if "&at=" in p]
                    etags = [requests.get(app_url + p).headers["ETag"] for p in paths]
                    etags = [e if e else "" for e in etags]
                scripts[name] = (
                    app.pid,
                    app_url,
                    lua(folder, name, paths, etags * (len(paths) // len(etags))),
                )
            results: dict[str, list[tuple]] = {name: [] for name in scripts}
            for _ in range(args.rounds):
                for name, (master, base, script) in scripts.items():
                    if name != "ceiling":
                        results["ceiling"].append(
                            wrk(
                                top_url,
                                scripts["ceiling"][2],
                                args.seconds,
                                args.connections,
                                top.pid,
                            )
                        )
                    results[name].append(wrk(base, script, args.seconds, args.connections, master))
            for pid in Path(f"/proc/{app.pid}/task/{app.pid}/children").read_text().split():
                rss = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
                print(f"service worker {pid}: RSS {int(rss.group(1)) / 1024:.0f} MB")
            top_rate = statistics.median(r for r, _ in results["ceiling"])
            top_cpu = statistics.median(c for _, c in results["ceiling"])
            print(f"{'case':<20}{'req/s':>8}{'× ceiling':>11}{'CPU µs/req':>12}{'ceiling/CPU':>13}")
            for name, values in results.items():
                rate = statistics.median(r for r, _ in values)
                cpu = statistics.median(c for _, c in values)
                ratios = f"{rate / top_rate:>11.2f}{cpu:>12.0f}{top_cpu / cpu:>13.2f}"
                print(f"{name:<20}{rate:>8.0f}{ratios}")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
