"""The decision path against its ceiling, quickly: wrk against gunicorn.conf.py over the
example, interleaved with the ceiling of ``make bench`` (``_ceiling.py``: a bare Flask route
answering a constant decision-sized JSON body) under the same settings; requests/s medians
and their ratio to the ceiling's.

    .venv/bin/python benchmarks/profile_decisions.py [--seconds 5] [--rounds 3] [--case NAME]
        [--profile NAME]

The ``floor`` cases answer the same constant body (and a 304) from the service's own
application (``_ceiling.floor``): every hook it runs for every request and no work at all, so
no answer of the service can cost less. ``--profile NAME`` samples one worker with py-spy
during that case's first run and prints where its time went, by part of the stack. Needs wrk
(the distribution's package). ``--hold`` keeps the servers up (to attach py-spy by hand).
"""

from __future__ import annotations

import argparse
import json
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


#: Cases answered by ``_ceiling.floor()`` (the service's application, its hooks and no work)
#: rather than by the service's routes.
FLOOR_CASES = {"floor": ["/ceiling"], "floor-304": ["/ceiling-304"]}

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
    **FLOOR_CASES,
}

#: Where a sampled stack spends its time, by the first of these frames it holds (outermost
#: first: a frame under the view is the view's, whatever else is above it).
PARTS = (
    ("the view (held answer or computation)", ("View.as_view",)),
    ("Flask and the service's hooks", ("Flask.wsgi_app",)),
    ("access log (gunicorn, redaction)", ("Logger.access",)),
    ("gunicorn: parsing, sockets, the rest", ("",)),
)


def summarise(raw: Path) -> list[tuple[str, float]]:
    """Shares of the samples of a py-spy ``raw`` (collapsed stacks) file, by ``PARTS``, and
    the storage's share (frames in ``service/storage``) within them."""
    shares = dict.fromkeys([name for name, _ in PARTS] + ["of all: the storage"], 0)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames, samples = stack.split(";"), int(count)
        total += samples
        for name, marks in PARTS:
            if any(frame.startswith(mark) for frame in frames for mark in marks):
                shares[name] += samples
                break
        if any("service/storage/" in frame for frame in frames):
            shares["of all: the storage"] += samples
    return [(name, 100 * n / max(total, 1)) for name, n in shares.items()]


def profile(master: int, seconds: int, out: Path) -> subprocess.Popen:
    """py-spy recording one worker of ``master`` for ``seconds`` (started, not waited on)."""
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is missing: pip install -e '.[bench]'")
    worker = Path(f"/proc/{master}/task/{master}/children").read_text().split()[0]
    command = [spy, "record", "-p", worker, "-d", str(seconds), "-r", "400", "-f", "raw"]
    return subprocess.Popen(
        [*command, "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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
            if requests.get(f"{base}/readyz").ok:
                print(f"{app}: ready after {time.monotonic() - started:.2f} s", flush=True)
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
    parser.add_argument(
        "--profile", choices=sorted([*CASES, "ceiling"]), help="sample this case with py-spy"
    )
    args = parser.parse_args()
    names = args.case or list(CASES)
    if args.profile and args.profile != "ceiling" and args.profile not in names:
        names.append(args.profile)
    # Stopped by a signal, still stop the servers (the finally clauses below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="bench-decisions-"))
    try:
        url = args.database or prepare_database(folder)
        processes = []
        # The ceiling (and the floor) answer these bytes: benchmarks/_ceiling.py, as in
        # ``make bench``.
        body = folder / "decision.json"
        body.write_text(json.dumps(DECISION_BODY))
        os.environ["BENCH_CEILING_BODY"] = str(body)
        app, app_url = serve("service:create_app()", url, folder / "app.log")
        processes.append(app)
        try:
            top, top_url = serve("benchmarks._ceiling:app", url, folder / "c.log")
            processes.append(top)
            servers = {"service": (app.pid, app_url), "ceiling": (top.pid, top_url)}
            if set(FLOOR_CASES) & set(names):
                low, low_url = serve("benchmarks._ceiling:floor()", url, folder / "f.log")
                processes.append(low)
                servers["floor"] = (low.pid, low_url)
            if args.hold:
                for role, (pid, base) in servers.items():
                    print(role, base, "pid", pid, flush=True)
                input("press enter to stop\n")
                return
            scripts = {"ceiling": (top.pid, top_url, lua(folder, "ceiling", ["/ceiling"], [""]))}
            for name in names:
                paths = CASES[name]
                etags = [""]
                if isinstance(paths, str):  # the same paths, asking with their current ETag
                    paths = [p for p in CASES[paths] if "&at=" in p]
                    etags = [requests.get(app_url + p).headers["ETag"] for p in paths]
                    etags = [e if e else "" for e in etags]
                master, base = servers["floor" if name in FLOOR_CASES else "service"]
                scripts[name] = (
                    master,
                    base,
                    lua(folder, name, paths, etags * (len(paths) // len(etags))),
                )
            results: dict[str, list[tuple]] = {name: [] for name in scripts}
            shares = None
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
                    spy = None
                    if name == args.profile and shares is None:
                        raw = folder / f"{name}.raw"
                        spy = profile(master, max(1, args.seconds - 1), raw)
                    results[name].append(wrk(base, script, args.seconds, args.connections, master))
                    if spy is not None:
                        spy.wait(30)
                        shares = summarise(raw)
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
            if shares is not None:
                print(f"where the time of one worker went, {args.profile} (py-spy samples):")
                for part, share in shares:
                    print(f"  {share:5.1f} %  {part}")
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
