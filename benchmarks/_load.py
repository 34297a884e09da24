"""Shared helpers for the serving benchmarks: a database holding the example, servers (the
plain gunicorn default, or gunicorn.conf.py, optionally behind nginx) and load clients on raw
asyncio sockets. Loopback only; every loop is bounded by a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DECISION = "/v1/decisions?checkpoint_id=medininkai&mode=vehicle&at=2025-06-01T12:00:00Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(folder: Path) -> str:
    """A migrated database holding the bundled example; returns its URL."""
    url = f"sqlite:///{folder / 'bench.db'}"
    env = {**os.environ, "CHECKPOINTS_DATABASE_URL": url}
    for command in (["init-db"], ["load-example"]):
        subprocess.run([BIN / "checkpoints", *command], env=env, check=True, capture_output=True)
    return url


# --- servers -------------------------------------------------------------------------------
#: Settings given with ``--set NAME=VALUE``: environment variables of every server a benchmark
#: starts (gunicorn.conf.py's and the service's, e.g. ``GUNICORN_WORKER_CONNECTIONS=1000`` or
#: ``CHECKPOINTS_SQLITE_BUSY_SLICE_MS=15000``), over those of the setup measured; so that an
#: alternative is measured with one command, never a code edit.
SETTINGS: dict[str, str] = {}


def add_settings_option(parser) -> None:
    """Add ``--set NAME=VALUE`` (repeatable) to a benchmark's command line."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for every server started, over the setup's own "
        "(e.g. GUNICORN_WORKER_CONNECTIONS=1000); repeatable",
    )


def apply_settings(args) -> dict[str, str]:
    """Take the parsed ``--set`` options into SETTINGS; returns them (for the report)."""
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--set wants NAME=VALUE, not {item!r}")
        SETTINGS[name] = value
    if SETTINGS:
        print("settings: " + " ".join(f"{k}={v}" for k, v in SETTINGS.items()), flush=True)
    return dict(SETTINGS)


@dataclass
class Setup:
    """How to serve: the gunicorn command line and environment, and whether nginx is in front."""

    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    nginx: bool = False


#: gunicorn's own defaults with three sync workers and no proxy: the baseline
#: (an empty configuration file, or gunicorn would read ./gunicorn.conf.py).
PLAIN_SYNC = Setup(
    "sync x3 (plain default)", ["-c", "/dev/null", "-k", "sync", "-w", "3", "service:create_app()"]
)
#: The production default: gunicorn.conf.py as `make run` and the Dockerfile use it.
CONFIGURED = Setup("gunicorn.conf.py", ["-c", "gunicorn.conf.py"])
#: The alternative measured against it: gthread workers behind a buffering nginx.
GTHREAD_NGINX = Setup(
    "gthread x2 behind nginx",
    ["-c", "gunicorn.conf.py"],
    {"GUNICORN_WORKER_CLASS": "gthread", "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "64"},
    nginx=True,
)


#: nginx in front of gunicorn, for the gthread alternative: buffers requests and responses,
#: keeps upstream connections alive, cuts slow clients off with its own timeouts.
NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        client_header_timeout 5s;
        client_body_timeout 10s;
        send_timeout 60s;
        keepalive_timeout 5s;
        client_max_body_size 1m;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering on;
            proxy_read_timeout 3700s;
        }}
    }}
}}
"""


class Server:
    """A running setup on a loopback port: gunicorn, and nginx in front when asked."""

    def __init__(self, setup: Setup, database_url: str, folder: Path):
        self.setup = setup
        self.database_url = database_url
        self.folder = Path(tempfile.mkdtemp(dir=folder))
        self.port = free_port()
        self.processes: list[subprocess.Popen] = []

    def start(self) -> Server:
        upstream = free_port() if self.setup.nginx else self.port
        env = {
            **os.environ,
            "CHECKPOINTS_DATABASE_URL": self.database_url,
            "HOST": "127.0.0.1",
            "PORT": str(upstream),
            "LOG_LEVEL": "warning",
            # All load comes from one address, which the per-address limit would refuse:
            # these measure serving, not the limiter.
            "CHECKPOINTS_RATELIMIT_ENABLED": "false",
            **self.setup.env,
            **SETTINGS,
        }
        args = [*self.setup.args]
        if "gunicorn.conf.py" not in args:
            args += ["-b", f"127.0.0.1:{upstream}"]
        self.log = open(self.folder / "gunicorn.log", "wb")  # noqa: SIM115 (closed by stop())
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *args],
                cwd=ROOT,
                env=env,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: nothing outlives stop()
            )
        )
        try:
            if self.setup.nginx:
                self._start_nginx(upstream)
            self._wait_until_ready(deadline=time.monotonic() + 60)
        except BaseException:
            self.stop()  # nothing this start began outlives it
            raise
        return self

    def workers_rss_kib(self) -> int:
        """The resident memory of gunicorn's worker processes together, in KiB (Linux)."""
        master = self.processes[0].pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        total = 0
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total

    def _wait_until_ready(self, *, deadline: float) -> None:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"server exited: see {self.folder}")
            try:
                if get_status("/readyz", self.port) == 200:
                    return
            except (OSError, IndexError, ValueError):
                pass  # not listening yet, reset, or too slow: try again until the deadline
            time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def _start_nginx(self, upstream: int) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = self.folder / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.folder, upstream=upstream, port=self.port))
        args = [nginx, "-e", str(self.folder / "nginx-error.log"), "-c", str(conf)]
        self.processes.append(
            subprocess.Popen(
                [*args, "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        """Quick shutdown (SIGQUIT: streams and stuck sync workers are not waited for)."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # workers left behind, if any
            process.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def get_status(path: str, port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return int(sock.recv(64).split()[1])


def get_json(path: str, port: int):
    import json

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


# --- HTTP on asyncio streams ---------------------------------------------------------------
def request_bytes(path: str, *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n{connection}\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one whole response; returns (status, whether the server will close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    closes = headers.get("connection") == "close" or lines[0].startswith("HTTP/1.0")
    return status, closes


#: What a slowloris client sends, one byte every 100 ms: about 25 s when nothing cuts it off.
SLOWLORIS_REQUEST = (
    b"GET /v1/checkpoints/medininkai HTTP/1.1\r\nHost: bench\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) slow\r\nAccept: application/json\r\n"
    b"Accept-Language: lt, en;q=0.8\r\nX-Padding: " + b"x" * 100 + b"\r\n\r\n"
)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    done: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99) * 1000


async def _normal(
    port: int, path: str, clients: int, warmup: float, seconds: float, per_connection: int
) -> Result:
    """Closed loop: each client sends its next request as soon as it has the last answer, on
    a keep-alive connection for up to ``per_connection`` requests (while the server keeps it),
    then on a new one."""
    start = time.monotonic() + warmup
    end = start + seconds
    latencies: list[float] = []
    errors = 0
    payload = request_bytes(path)

    async def client() -> None:
        nonlocal errors
        reader = writer = None
        used = 0
        while time.monotonic() < end:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    used = 0
                used += 1
                sent = time.monotonic()
                writer.write(payload)
                limit = max(0.1, end - time.monotonic()) + 1
                status, closes = await asyncio.wait_for(read_response(reader), limit)
                finished = time.monotonic()
                if start <= sent and finished <= end:
                    latencies.append(finished - sent)
                    errors += status != 200
                if closes or used >= per_connection:
                    writer.close()
                    writer = None
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                if start <= time.monotonic() <= end:
                    errors += 1
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return Result(len(latencies), errors, seconds, latencies)


async def _closing_late(
    port: int, path: str, clients: int, delay: float, seconds: float, pace: float = 0.0
) -> Result:
    """Each client: connect, one request, read the answer, wait ``delay``, close; then wait
    ``pace`` before the next (0: at once)."""
    end = time.monotonic() + seconds
    latencies: list[float] = []
    errors = 0
    payload = request_bytes(path)

    async def client() -> None:
        nonlocal errors
        while time.monotonic() < end:
            sent = time.monotonic()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), max(0.1, end - time.monotonic())
                )
                writer.write(payload)
                limit = max(0.1, end - time.monotonic()) + 1
                await asyncio.wait_for(read_response(reader), limit)
                latencies.append(time.monotonic() - sent)
                await asyncio.sleep(delay)
                writer.close()
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                errors += 1
                await asyncio.sleep(0.05)
            if pace:
                await asyncio.sleep(max(0.0, pace - (time.monotonic() - sent)))

    await asyncio.gather(*(client() for _ in range(clients)))
    return Result(len(latencies), errors, seconds, latencies)


def _in_process(function: Callable, *args) -> Result:
    return asyncio.run(function(*args))


def run_normal(
    port: int, path: str, clients: int, warmup: float, seconds: float, per_connection: int = 10
) -> Result:
    """Normal clients in a process of their own (the crowd cannot delay their clock)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        args = (_normal, port, path, clients, warmup, seconds, per_connection)
        return pool.apply(_in_process, args)


def run_closing_late(port: int, path: str, clients: int, delay: float, seconds: float) -> Result:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_in_process, (_closing_late, port, path, clients, delay, seconds))


# --- the crowd: slow, idle and waiting clients ----------------------------------------------
@dataclass
class Crowd:
    """What to hold against the server while the normal clients are measured."""

    late_closers: int = 0  #: close their socket 20 ms after reading each response
    late_pace: float = 0.5  #: ...and send one request every this many seconds
    slowloris: int = 0  #: send their request one byte every 100 ms
    streams: int = 0  #: open SSE streams
    long_polls: int = 0  #: long-polls on /v1/changes?after=<head>&wait=30
    head: int = 0  #: the feed's newest seq (from /v1/snapshot)


@dataclass
class CrowdReport:
    late_done: int = 0
    late_errors: int = 0
    slowloris_cut: int = 0
    slowloris_answered: int = 0
    slowloris_cut_after: list[float] = field(default_factory=list)
    streams_open: int = 0
    streams_refused: int = 0
    long_polls_open: int = 0  #: sent (held until answered)
    long_polls_answered: int = 0
    long_polls_refused: int = 0


async def _crowd(port: int, crowd: Crowd, seconds: float, ready) -> CrowdReport:
    report = CrowdReport()
    end = time.monotonic() + seconds

    async def late_closer() -> None:
        await asyncio.sleep(crowd.late_pace * os.urandom(1)[0] / 255)
        seconds = end - time.monotonic()
        result = await _closing_late(port, DECISION, 1, 0.02, seconds, crowd.late_pace)
        report.late_done += result.done
        report.late_errors += result.errors

    async def slowloris() -> None:
        payload = SLOWLORIS_REQUEST
        while time.monotonic() < end:
            opened = time.monotonic()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                for byte in payload:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    if time.monotonic() > end:
                        writer.close()
                        return
                    await asyncio.sleep(0.1)
                await asyncio.wait_for(read_response(reader), max(0.1, end - time.monotonic()))
                report.slowloris_answered += 1
                writer.close()
            except (OSError, asyncio.IncompleteReadError):
                report.slowloris_cut += 1
                report.slowloris_cut_after.append(time.monotonic() - opened)
                await asyncio.sleep(0.1)
            except TimeoutError:
                return

    async def stream() -> None:
        """An SSE stream, read until the server ends it (then reopened)."""
        payload = request_bytes(f"/v1/changes/stream?after={crowd.head}")
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(payload)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                if int(head.split()[1]) != 200:
                    report.streams_refused += 1
                    writer.close()
                    await asyncio.sleep(1)
                    continue
                report.streams_open += 1
                while time.monotonic() < end:
                    chunk = await asyncio.wait_for(reader.read(65536), end - time.monotonic())
                    if not chunk:
                        break
                writer.close()
            except (OSError, asyncio.IncompleteReadError):
                await asyncio.sleep(0.1)
            except TimeoutError:
                return

    async def long_poll() -> None:
        """A long-poll at the head of the feed: held until it times out (30 s), then again."""
        payload = request_bytes(f"/v1/changes?after={crowd.head}&wait=30")
        writer = None
        while time.monotonic() < end:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(payload)
                report.long_polls_open += 1
                status, closes = await asyncio.wait_for(
                    read_response(reader), end - time.monotonic()
                )
                if status != 200:
                    report.long_polls_refused += 1
                    await asyncio.sleep(1)
                else:
                    report.long_polls_answered += 1
                if closes:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError):
                writer = None
                await asyncio.sleep(0.1)
            except TimeoutError:
                break
        if writer is not None:
            writer.close()

    tasks = [late_closer() for _ in range(crowd.late_closers)]
    tasks += [slowloris() for _ in range(crowd.slowloris)]
    tasks += [stream() for _ in range(crowd.streams)]
    tasks += [long_poll() for _ in range(crowd.long_polls)]
    ready.set()
    await asyncio.gather(*tasks)
    return report


def _crowd_process(port: int, crowd: Crowd, seconds: float, ready, queue) -> None:
    queue.put(asyncio.run(_crowd(port, crowd, seconds, ready)))


class CrowdRunner:
    """Runs a crowd in a process of its own for ``seconds``; ``report()`` waits for it."""

    def __init__(self, port: int, crowd: Crowd, seconds: float):
        ctx = multiprocessing.get_context("spawn")
        self.ready = ctx.Event()
        self.queue = ctx.Queue()
        self.process = ctx.Process(
            target=_crowd_process, args=(port, crowd, seconds, self.ready, self.queue)
        )

    def start(self, settle: float) -> None:
        self.process.start()
        self.ready.wait(30)
        time.sleep(settle)

    def report(self) -> CrowdReport:
        report = self.queue.get(timeout=120)
        self.process.join(10)
        return report


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-|-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)
