"""The crossing answer against the stack's ceiling: `make bench`.

Every case runs on a real gunicorn with the production ``gunicorn.conf.py`` under wrk, right
after the ceiling (a bare Flask route answering a constant decision-sized body, same gunicorn
settings: ``_ceiling.py``), and each pair is repeated; the table quotes medians over the
rounds, and each case's ratio to the ceiling run beside it. Cases: decisions over the
example, the same as 304s, checkpoint status and a status page, a checkpoint and a list page,
PATCH with If-Match from 1 and 8 clients, the floor (``_ceiling.floor``: the ceiling's body
and a bare 304 from the service's own application, with every hook it runs and no work), and
the read cases plus a feed page on a small and a big database (``_scale.py``) on SQLite and
PostgreSQL. Then RSS per worker and cold start to the first 200.

Exits non-zero if any case fails: a response other than 2xx/3xx, a socket error, a request
the case did not expect to answer as it did (checked before each run), or nothing answered.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from benchmarks import _scale
from benchmarks._load import BIN, CONFIGURED, ROOT, Server, Setup, get_status, prepare_database
from benchmarks._load import table as format_table
from service.domain import MODES
from service.example import CHECKPOINTS

POSTGRES = os.environ.get(
    "CHECKPOINTS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
#: Scale databases are kept here between runs, keyed by the generator's parameters.
SCALE_FOLDER = ROOT / "var" / "bench"

MAIN_CASES = (
    "decisions",
    "decisions-304",
    "checkpoint-status",
    "status-page",
    "checkpoint",
    "list-page",
    "patch-1",
    "patch-8",
)
#: The service's hooks and no work: what no answer of the service can cost less than.
FLOOR_CASES = {"floor": "/ceiling", "floor-304": "/ceiling-304"}
SCALE_CASES = (
    "decisions",
    "checkpoint-status",
    "status-page",
    "checkpoint",
    "list-page",
    "feed-page",
)
BACKENDS = ("sqlite", "postgresql")
#: What --only accepts besides the case names.
GROUPS = ("scale", "scale-sqlite", "scale-postgresql", "cold-start")

#: Everything --only names (the ceiling always runs).
ONLY = (*MAIN_CASES, *FLOOR_CASES, *GROUPS, *(f"scale-{name}" for name in SCALE_CASES))

#: Times over the example's history (its rules change in 2023, 2024 and 2025).
EXAMPLE_TIMES = (
    "2022-06-01T10:00:00Z",
    "2024-05-01T10:00:00Z",
    "2024-09-01T10:00:00Z",
    "2025-06-01T10:00:00Z",
    "2025-11-10T10:00:00Z",
)
EXAMPLE_FACTS = (
    "",
    "direction=entry&vehicle_registration=BY&vehicle_category=car",
    "direction=exit&vehicle_registration=LT&vehicle_category=car&nationality=LT"
    "&traveller_category=diplomat",
)
#: Times over a generated database: inside its closure, open on a weekday, a Sunday evening.
SCALE_TIMES = ("2024-01-10T10:00:00Z", "2025-06-03T10:00:00Z", "2025-06-08T19:30:00Z")
PAGE = 10  # items on a status or list page: the small database has 10 checkpoints
FEED_PAGE = 100


# --- wrk ---------------------------------------------------------------------------------------
@dataclass
class Run:
    """One wrk run."""

    rate: float
    p50: float  #: milliseconds
    p99: float
    requests: int


class CaseFailed(Exception):
    """A case answered something it should not have."""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def ensure_wrk() -> str:
    """wrk, installed from the distribution's packages when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, env=env, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is missing and could not be installed")
    return found


def parse_wrk(output: str) -> Run:
    """wrk's summary as a Run; CaseFailed on error responses, socket errors or no requests."""
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    if non_2xx and int(non_2xx.group(1)):
        seen = (
            output.split("FAILED RESPONSES\n", 1)[1][:600] if "FAILED RESPONSES" in output else ""
        )
        raise CaseFailed(f"{non_2xx.group(1)} responses were not 2xx or 3xx {seen}".strip())
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets and any(int(n) for n in sockets.groups()):
        raise CaseFailed(f"socket errors: {sockets.group(0)}")
    done = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    latency = {
        q: float(value) * _UNITS[unit]
        for q, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    }
    if not (done and rate and "50" in latency and "99" in latency) or not int(done.group(1)):
        raise CaseFailed(f"wrk answered nothing usable:\n{output}")
    return Run(float(rate.group(1)), latency["50"], latency["99"], int(done.group(1)))


def run_wrk(port: int, script: Path, *, seconds: float, connections: int, threads: int) -> Run:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode:
        raise CaseFailed(f"wrk exited with {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_get(paths: list[str], etags: list[str] | None = None) -> str:
    """A wrk script cycling through ``paths`` (each thread from its own offset), sending each
    path's ETag in If-None-Match when given."""
    lines = ["local paths = {" + ", ".join(_lua_string(p) for p in paths) + "}"]
    if etags is not None:
        lines.append("local etags = {" + ", ".join(_lua_string(e) for e in etags) + "}")
    else:
        lines.append("local etags = nil")
    lines.append(
        """
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("offset", threads * 7919)
end
local i = 0
init = function(args) i = (offset or 0) % #paths end
request = function()
  i = i % #paths + 1
  if etags then
    return wrk.format("GET", paths[i], {["If-None-Match"] = etags[i]})
  end
  return wrk.format("GET", paths[i])
end
"""
    )
    return "\n".join(lines)


def lua_patch(ids: list[str], etags: list[str], token: str) -> str:
    """A wrk script for writers: thread n merge-patches checkpoint ids[n] under If-Match with
    the ETag of its last answer (one connection per thread, so answers come in order)."""
    return (
        "local ids = {" + ", ".join(_lua_string(i) for i in ids) + "}\n"
        "local etags = {" + ", ".join(_lua_string(e) for e in etags) + "}\n"
        f"local token = {_lua_string(token)}\n"
        """
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
  thread:set("slot", #threads)
end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local failed = thread:get("failures")
    if failed and failed ~= "" then io.write("FAILED RESPONSES\\n" .. failed) end
  end
end
local etag, count
init = function(args) etag = etags[slot]; count = 0 end
request = function()
  count = count + 1
  local body = '{"name": "Writer ' .. slot .. ' ' .. count .. '"}'
  return wrk.format("PATCH", "/v1/checkpoints/" .. ids[slot], {
    ["If-Match"] = etag,
    ["Content-Type"] = "application/merge-patch+json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
failures = ""
response = function(status, headers, body)
  if status >= 300 then
    failures = failures .. status .. " " .. string.sub(body, 1, 200) .. "\\n"
  end
  etag = headers["ETag"] or headers["Etag"] or headers["etag"] or etag
end
"""
    )


# --- servers -----------------------------------------------------------------------------------
class FirstAnswer(Server):
    """A server whose start ends at the first 200 on ``path`` (polled every 10 ms)."""

    path = "/readyz"

    def _wait_until_ready(self, *, deadline: float) -> None:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"server exited: see {self.folder}")
            with contextlib.suppress(OSError, IndexError, ValueError):
                if get_status(self.path, self.port) == 200:
                    return
            time.sleep(0.01)
        raise RuntimeError(f"no 200 on {self.path} before the deadline")


def settle(port: int, *, seconds: float = 300) -> None:
    """Wait until the server answers /readyz again (requests a failed case left queued,
    slow ones, are worked off first), so that they do not weigh on the next case."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, IndexError, ValueError):
            if get_status("/readyz", port) == 200:
                return
        time.sleep(0.5)


def worker_rss_mb(server: Server) -> list[float]:
    """Resident memory of each of the server's gunicorn workers (children of its master)."""
    master = server.processes[0].pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
    return sizes


def cold_starts(url: str, folder: Path, path: str, count: int) -> list[float]:
    """Seconds from spawning gunicorn to its first 200 on ``path``, ``count`` times."""
    times = []
    for _ in range(count):
        server = FirstAnswer(CONFIGURED, url, folder)
        server.path = path
        started = time.monotonic()
        try:
            server.start()
            times.append(time.monotonic() - started)
        finally:
            server.stop()
    return times


# --- cases -------------------------------------------------------------------------------------
@dataclass
class Case:
    """One row: how to make its wrk script before each run, and how to load it."""

    name: str
    script: Callable[[], str]
    connections: int = 8
    threads: int = 2
    group: str = ""  #: "sqlite small", ... for the scale cases
    runs: list[Run] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    failure: str = ""


class Client:
    """Plain requests to one server, for what the cases need before they run (checks go 8
    at a time, each thread on a keep-alive session of its own)."""

    def __init__(self, port: int, token: str | None = None):
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self.headers)
        return session

    def get(self, path: str, **headers) -> requests.Response:
        return self._session().get(self.base + path, headers=headers, timeout=30)

    def post(self, path: str, body: dict) -> requests.Response:
        return self._session().post(self.base + path, json=body, timeout=30)

    def expect_body(self, path: str) -> bytes:
        response = self.get(path)
        if response.status_code != 200:
            raise CaseFailed(f"GET {path}: {response.status_code} {response.text[:300]}")
        return response.content

    def expect(
        self, paths: list[str], status: int = 200, etags: list[str] | None = None
    ) -> list[str]:
        """GET every path (sending its ETag in If-None-Match when given), expecting
        ``status``; returns their ETags."""

        def one(index: int) -> str:
            path = paths[index]
            headers = {"If-None-Match": etags[index]} if etags else {}
            response = self.get(path, **headers)
            if response.status_code != status:
                sent = " with its ETag" if etags else ""
                raise CaseFailed(
                    f"GET {path}{sent}: {response.status_code}, not {status}: "
                    + response.text[:300]
                )
            return response.headers.get("ETag", "")

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(len(paths))))


def decision_paths(ids: list[str], times: tuple[str, ...], facts: tuple[str, ...]) -> list[str]:
    return [
        f"/v1/decisions?checkpoint_id={cid}&mode={mode}&at={at}" + (f"&{fact}" if fact else "")
        for cid in ids
        for mode in MODES
        for at in times
        for fact in facts
    ]


def read_cases(
    client: Client,
    ids: list[str],
    times: tuple[str, ...],
    facts: tuple[str, ...],
    wanted: Callable[[str], bool],
) -> dict[str, list[str]]:
    """The read cases over ``ids``: name -> paths (those of the wanted cases checked to
    answer 200)."""
    paths = {
        "decisions": decision_paths(ids, times, facts),
        "checkpoint-status": [
            f"/v1/checkpoints/{cid}/status?at={at}" for cid in ids for at in times
        ],
        "status-page": [f"/v1/status?limit={PAGE}&at={at}" for at in times],
        "checkpoint": [f"/v1/checkpoints/{cid}" for cid in ids],
        "list-page": [f"/v1/checkpoints?limit={PAGE}"],
    }
    for name, case_paths in paths.items():
        if wanted(name):
            client.expect(case_paths)
    return paths


def not_modified_script(client: Client, paths: list[str]) -> Callable[[], str]:
    """The 304 case: each path's current ETag, fetched again before every run (a write may
    have changed it), and checked to answer 304 once."""

    def script() -> str:
        etags = client.expect(paths)
        client.expect(paths, 304, etags)
        return lua_get(paths, etags)

    return script


def patch_script(client: Client, ids: list[str], token: str) -> Callable[[], str]:
    """The writers' script, with each checkpoint's current ETag. A previous run's last write
    may still be committing after wrk stopped: the ETags are read until two reads 0.2 s apart
    agree (5 s at most), so no run starts with an ETag that is already stale."""
    paths = [f"/v1/checkpoints/{cid}" for cid in ids]

    def script() -> str:
        etags = client.expect(paths)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.2)
            again = client.expect(paths)
            if again == etags:
                break
            etags = again
        return lua_patch(ids, etags, token)

    return script


def create_writers(client: Client, count: int) -> list[str]:
    ids = []
    for n in range(count):
        cid = f"bench-writer-{n + 1}"
        body = {
            "id": cid,
            "name": f"Writer {n + 1}",
            "countries": ["LT", "BY"],
            "kind": "road",
            "location": {"lat": 54.5, "lon": 25.6},
            "timezone": "Europe/Vilnius",
        }
        response = client.post("/v1/checkpoints", body)
        if response.status_code != 201:
            raise CaseFailed(f"creating {cid}: {response.status_code} {response.text[:300]}")
        ids.append(cid)
    return ids


def editor_token(url: str) -> str:
    out = subprocess.run(
        [
            BIN / "checkpoints",
            "token",
            "create",
            f"bench-{secrets.token_hex(3)}",
            "--role",
            "editor",
        ],
        env={**os.environ, "CHECKPOINTS_DATABASE_URL": url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[-1]


# --- the run -----------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path):
        self.args = args
        self.folder = folder
        self.ceiling_runs: list[Run] = []
        self.cases: list[Case] = []
        self.notes: list[str] = []
        self.ceiling_script = folder / "ceiling.lua"
        self.ceiling_script.write_text(lua_get(["/ceiling"]))
        self.ceiling_port = 0

    def wanted(self, name: str) -> bool:
        only = self.args.only
        return only is None or name in only

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def measure(self, port: int, cases: list[Case]) -> None:
        """Each case right after the ceiling, ``rounds`` times. A case that fails is marked
        and not run again; the others go on (the run still exits non-zero)."""
        seconds = self.args.duration
        if self.args.warmup:
            # Fresh workers, cold caches: one untimed run of each case (and of the ceiling).
            self.run_ceiling(self.args.warmup)
            for case in cases:
                self.run_case(port, case, self.args.warmup)
        for round_ in range(self.args.rounds):
            for case in cases:
                if case.failure:
                    continue
                ceiling = self.run_ceiling(seconds)
                self.ceiling_runs.append(ceiling)
                run = self.run_case(port, case, seconds)
                if run is None:
                    continue
                case.runs.append(run)
                case.ratios.append(run.rate / ceiling.rate)
                self.log(
                    f"round {round_ + 1}: {case.group} {case.name}: {run.rate:,.0f} req/s "
                    f"(ceiling {ceiling.rate:,.0f})"
                )
        self.cases += cases

    def run_ceiling(self, seconds: float) -> Run:
        return run_wrk(
            self.ceiling_port, self.ceiling_script, seconds=seconds, connections=8, threads=2
        )

    def run_case(self, port: int, case: Case, seconds: float) -> Run | None:
        try:
            script = self.folder / f"case-{secrets.token_hex(4)}.lua"
            script.write_text(case.script())
            return run_wrk(
                port, script, seconds=seconds, connections=case.connections, threads=case.threads
            )
        except CaseFailed as exc:
            case.failure = str(exc)
            self.log(f"FAILED: {case.group} {case.name}: {exc}")
            settle(port)
            return None

    @property
    def failures(self) -> list[str]:
        return [f"{c.group}: {c.name}: {c.failure}" for c in self.cases if c.failure]

    def rss(self, label: str, server: Server) -> None:
        sizes = worker_rss_mb(server)
        self.notes.append(
            f"RSS per worker after the {label} cases: "
            + ", ".join(f"{size:.0f} MB" for size in sizes)
        )

    def main_cases(self, server: Server, token: str) -> None:
        names = [name for name in MAIN_CASES if self.wanted(name)]
        if not names:
            return
        client = Client(server.port, token)
        ids = [point["id"] for point in CHECKPOINTS]
        paths = read_cases(client, ids, EXAMPLE_TIMES, EXAMPLE_FACTS, names.__contains__)
        writers = create_writers(client, 8) if {"patch-1", "patch-8"} & set(names) else []
        make = {
            **{name: (lambda p=p: lua_get(p)) for name, p in paths.items()},
            "decisions-304": not_modified_script(client, paths["decisions"]),
            "patch-1": patch_script(client, writers[:1], token),
            "patch-8": patch_script(client, writers, token),
        }
        cases = []
        for name in names:
            connections, threads = {"patch-1": (1, 1), "patch-8": (8, 8)}.get(name, (8, 2))
            cases.append(Case(name, make[name], connections, threads, group="example sqlite"))
        self.measure(server.port, cases)
        self.rss("example (SQLite)", server)

    def floor_cases(self, url: str, setup: Setup) -> None:
        names = [name for name in FLOOR_CASES if self.wanted(name)]
        if not names:
            return
        with Server(setup, url, self.folder) as floor:
            cases = [
                Case(name, (lambda p=FLOOR_CASES[name]: lua_get([p])), group="no work")
                for name in names
            ]
            self.measure(floor.port, cases)

    def scale_cases(self) -> None:
        names = [name for name in SCALE_CASES if self.wanted(f"scale-{name}")]
        backends = [b for b in BACKENDS if self.wanted(f"scale-{b}")]
        if self.wanted("scale"):
            names, backends = list(SCALE_CASES), list(BACKENDS)
        elif not (names or backends):
            return
        names, backends = names or list(SCALE_CASES), backends or list(BACKENDS)
        sizes = {"small": _scale.SMALL, "big": _scale.scale_for_rows(self.args.scale_rows)}
        for backend in backends:
            for size, scale in sizes.items():
                url = _scale.sqlite_database(scale, SCALE_FOLDER, log=self.log)
                if backend == "postgresql":
                    url = _scale.postgres_database(scale, POSTGRES, url, log=self.log)
                label = f"{backend} {size}"
                with Server(CONFIGURED, url, self.folder) as server:
                    client = Client(server.port)
                    ids = scale.sample_ids()
                    paths = read_cases(client, ids, SCALE_TIMES, ("",), names.__contains__)
                    head = scale.rows
                    paths["feed-page"] = [
                        f"/v1/changes?after={head * k // 10}&limit={FEED_PAGE}" for k in range(1, 9)
                    ]
                    if "feed-page" in names:
                        client.expect(paths["feed-page"])
                    cases = [
                        Case(name, (lambda p=paths[name]: lua_get(p)), group=label)
                        for name in names
                    ]
                    self.measure(server.port, cases)
                    self.rss(f"{label} ({scale.checkpoints:,} checkpoints)", server)

    def run(self) -> None:
        example_url = prepare_database(self.folder)
        token = editor_token(example_url)
        body_path = self.folder / "decision.json"
        ceiling_setup = Setup(
            "ceiling",
            ["-c", "gunicorn.conf.py", "benchmarks._ceiling:app"],
            {"BENCH_CEILING_BODY": str(body_path)},
        )
        floor_setup = Setup(
            "floor",
            ["-c", "gunicorn.conf.py", "benchmarks._ceiling:floor()"],
            {"BENCH_CEILING_BODY": str(body_path)},
        )
        decision = decision_paths(["medininkai"], ("2025-06-01T10:00:00Z",), EXAMPLE_FACTS[1:2])
        with Server(CONFIGURED, example_url, self.folder) as example:
            # The ceiling answers the bytes of a real decision.
            body_path.write_bytes(Client(example.port).expect_body(decision[0]))
            with Server(ceiling_setup, example_url, self.folder) as ceiling:
                self.ceiling_port = ceiling.port
                self.main_cases(example, token)
                example.stop()
                self.floor_cases(example_url, floor_setup)
                self.scale_cases()
                if not self.cases:  # only the ceiling was asked for
                    for _ in range(self.args.rounds):
                        self.ceiling_runs.append(
                            run_wrk(
                                ceiling.port,
                                self.ceiling_script,
                                seconds=self.args.duration,
                                connections=8,
                                threads=2,
                            )
                        )
        if self.wanted("cold-start"):
            times = cold_starts(example_url, self.folder, decision[0], self.args.cold_starts)
            each = ", ".join(f"{t:.2f}" for t in times)
            self.notes.append(
                "cold start to the first 200 on /v1/decisions: median "
                f"{statistics.median(times):.2f} s of {len(times)} ({each})"
            )

    def table(self) -> str:
        rows = [
            _row(
                "ceiling (constant body, bare Flask)",
                self.ceiling_runs,
                [1.0] if self.ceiling_runs else [],
            )
        ]
        small = {(c.group.split()[0], c.name): c for c in self.cases if c.group.endswith("small")}
        for case in self.cases:
            row = _row(f"{case.group}: {case.name}", case.runs, case.ratios)
            if case.failure:
                row[1:] = ["FAILED", "-", "-", "-"]
            twin = small.get((case.group.split()[0], case.name))
            if case.group.endswith("big") and twin and case.runs and twin.runs:
                row.append(f"{_median_p50(case) / _median_p50(twin):.2f}")
            else:
                row.append("")
            rows.append(row)
        rows[0].append("")
        headers = ["case", "req/s", "p50 ms", "p99 ms", "x ceiling", "big/small p50"]
        return format_table(headers, rows)


def _median_p50(case: Case) -> float:
    return statistics.median(run.p50 for run in case.runs)


def _row(name: str, runs: list[Run], ratios: list[float]) -> list[str]:
    if not runs:
        return [name, "-", "-", "-", "-"]
    return [
        name,
        f"{statistics.median(r.rate for r in runs):,.0f}",
        f"{statistics.median(r.p50 for r in runs):.2f}",
        f"{statistics.median(r.p99 for r in runs):.2f}",
        f"{statistics.median(ratios):.2f}",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1 s per run, 1 round, tiny scale")
    parser.add_argument("--scale-rows", type=int, help="history rows of the big database")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, help="rounds per case (default 3)")
    parser.add_argument(
        "--warmup", type=float, help="seconds of untimed load per case first (default 2)"
    )
    parser.add_argument("--cold-starts", type=int, help="cold starts to time (default 5)")
    parser.add_argument(
        "--only",
        help="comma-separated cases to run (the ceiling always runs): " + ", ".join(ONLY),
    )
    args = parser.parse_args(argv)
    defaults = (
        {"scale_rows": 2_000, "duration": 1.0, "rounds": 1, "cold_starts": 1, "warmup": 0}
        if args.smoke
        else {"scale_rows": 1_000_000, "duration": 5.0, "rounds": 3, "cold_starts": 5, "warmup": 2}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.only is not None:
        args.only = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = args.only - {"ceiling", *ONLY}
        if unknown:
            parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if min(args.rounds, args.duration, args.scale_rows, args.cold_starts) < 1:
        parser.error("--rounds, --duration, --scale-rows and --cold-starts must be at least 1")
    if args.warmup and args.warmup < 1:
        parser.error("--warmup is 0 (none) or at least 1 second")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_wrk()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="checkpoints-bench-") as scratch:
        bench = Bench(args, Path(scratch))
        try:
            bench.run()
        except CaseFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    print(
        f"gunicorn.conf.py ({os.cpu_count()} CPUs), wrk 2 threads x 8 connections unless "
        f"the case says; {args.duration:g} s per run, median of {args.rounds} rounds"
    )
    print(bench.table())
    for note in bench.notes:
        print(note)
    print(f"total {time.monotonic() - started:.0f} s")
    for failure in bench.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
