"""Serving under gunicorn (named by gunicorn.conf.py): the worker classes, whose own refusals
of a malformed or oversized request head are problem+json like every other error; the
logger, which keeps secrets out of the access and error logs; and, for gevent workers, the
read deadlines the worker lacks (installed by ``post_worker_init``)."""

from __future__ import annotations

import json
import logging
import re
import socket
from http import HTTPStatus
from urllib.parse import unquote_plus

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker as _GeventWorker
from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker
from gunicorn.workers.sync import SyncWorker as _SyncWorker

log = logging.getLogger(__name__)


def reason(status: int) -> str:
    """The reason phrase of ``status`` as RFC 9110 names it."""
    return {414: "URI Too Long", 413: "Content Too Large"}.get(status, HTTPStatus(status).phrase)


def problem_json(status: int, detail: str) -> bytes:
    """An RFC 9457 body for a refusal made before the application runs."""
    body = {
        "type": "about:blank",
        "title": reason(status),
        "status": status,
        "detail": detail,
    }
    return json.dumps(body).encode()


def refusal(exc: BaseException, cfg) -> tuple[int, str] | None:
    """The status and detail with which to refuse a request whose head gunicorn could not
    take (``exc`` raised while reading it); None when it is no fault of the client's."""
    if isinstance(exc, http_errors.InvalidResponseHeader | http_errors.InvalidResponseHeaderName):
        return None  # the application's header: a 500
    if isinstance(exc, http_errors.LimitRequestLine):
        return 414, f"The request line is longer than {cfg.limit_request_line} bytes."
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return 431, (
            f"A request may have at most {cfg.limit_request_fields} header fields of at most "
            f"{cfg.limit_request_field_size} bytes each."
        )
    if isinstance(exc, http_errors.ExpectationFailed):
        return 417, "Only 'Expect: 100-continue' is supported."
    if isinstance(exc, http_errors.UnsupportedTransferCoding):
        return 501, "The request's Transfer-Encoding is not supported (only chunked is)."
    if isinstance(exc, http_errors.ForbiddenProxyRequest):
        return 403, "PROXY protocol is not accepted from this address."
    if isinstance(exc, http_errors.ConfigurationProblem):
        return None
    if isinstance(exc, http_errors.InvalidRequestLine):
        return 400, "The request line is not 'METHOD target HTTP/1.x'."
    if isinstance(exc, http_errors.InvalidRequestMethod):
        return 400, "The request method is not valid."
    if isinstance(exc, http_errors.InvalidHTTPVersion):
        return 400, "The HTTP version is not supported."
    if isinstance(exc, http_errors.ParseException):
        return 400, "The request head is not valid HTTP/1.1."
    return None


class ProblemRefusals:
    """Mixin for gunicorn workers: the refusals gunicorn writes itself (a malformed request
    line, too many or too large header fields, a request line over the limit...) leave as
    application/problem+json instead of text/html. gunicorn's statuses are kept; its
    message, which can echo the request line, is not sent or logged whole."""

    def handle_error(self, req, client, addr, exc):
        addr = addr or ("", -1)  # a unix socket
        refused = refusal(exc, self.cfg)
        if refused is None:
            if hasattr(req, "method") and hasattr(req, "uri"):
                self.log.exception("Error handling request %s %s", req.method, req.uri)
            else:
                self.log.exception("Error handling request")
            status, detail = 500, "The server could not complete the request."
        else:
            status, detail = refused
            self.log.warning(
                "Refused a request from ip=%s with %s: %.200s", addr[0], status, str(exc)
            )
        body = problem_json(status, detail)
        if req is None and hasattr(exc, "req") and hasattr(exc.req, "uri"):
            req = exc.req
        if req is not None and hasattr(req, "uri"):
            self._log_refusal(req, client, addr, status, len(body))
        head = (
            f"HTTP/1.1 {status} {reason(status)}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except Exception:
            self.log.debug("Failed to send error message.")

    def _log_refusal(self, req, client, addr, status, length):
        from datetime import timedelta

        from gunicorn.http.wsgi import Response, default_environ

        try:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
            resp = Response(req, client, self.cfg)
            resp.status = f"{status} {reason(status)}"
            resp.response_length = length
            self.log.access(resp, req, environ, timedelta(0))
        except Exception:
            self.log.debug("Failed to log a refused request.")


#: A refused request's connection is half-closed and the rest of what the client sends read
#: and dropped, up to these bounds, before it is closed: closing a socket with unread bytes
#: makes the kernel reset the connection, and the reset can destroy the answer before the
#: client reads it (a 100 KB request line was answered by a reset alone).
DRAIN_SECONDS = 2.0
DRAIN_BYTES = 1 << 20


class GeventWorker(ProblemRefusals, _GeventWorker):
    """gunicorn's gevent worker, with problem+json refusals that reach the client."""

    def handle_error(self, req, client, addr, exc):
        super().handle_error(req, client, addr, exc)
        _drain_and_close(client)


class ThreadWorker(ProblemRefusals, _ThreadWorker):
    """gunicorn's gthread worker with problem+json refusals (it drains before closing)."""


class SyncWorker(ProblemRefusals, _SyncWorker):
    """gunicorn's sync worker with problem+json refusals (it drains before closing)."""


def _drain_and_close(sock) -> None:
    """Half-close ``sock`` (the answer is followed by a FIN), read and drop what the client
    still sends, within DRAIN_SECONDS and DRAIN_BYTES, then close it. Under gevent only this
    connection's greenlet waits."""
    import time

    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        util.close(sock)
        return
    deadline = time.monotonic() + DRAIN_SECONDS
    drained = 0
    try:
        while drained < DRAIN_BYTES and (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            drained += len(chunk)
    except OSError:
        pass
    util.close(sock)


REDACTED = "[REDACTED]"

#: A token secret (``cpt_`` and URL-safe base64), also percent-encoded, once or twice.
_SECRET = re.compile(r"cpt(?:_|%(?:25)?5[fF])(?:[A-Za-z0-9_-]|%(?:25)?[0-9A-Fa-f]{2})+")
#: Credentials after an authorization scheme.
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[^\s\"'&;,]+")
#: ``name=value`` after a query, fragment or text separator; the value runs to the next one.
_PARAMETER = re.compile(r"(^|[?&;#\s'\"])([^=?&;#\s'\"]+)=([^&;#\s'\"]*)")
#: Parameter and header names whose values are secrets, whatever the value looks like.
_SECRET_NAME = re.compile(
    r"(?i)token|secret|passw|pwd|key|auth|credential|session|signature|cookie|jwt"
)


def _parameter(match: re.Match) -> str:
    lead, name, value = match.groups()
    if value and _SECRET_NAME.search(unquote_plus(unquote_plus(name))):
        value = REDACTED
    return f"{lead}{name}={value}"


#: What any of the three patterns above needs in a lower-cased ASCII text to match it:
#: without one, there is nothing to redact (a name becomes secret only through these words or
#: through percent-decoding). Searched case-sensitively: a case-insensitive alternation costs
#: ten times as much.
_MAYBE_SECRET = re.compile(r"cpt|bearer|basic|%|" + _SECRET_NAME.pattern.removeprefix("(?i)"))


def redact(text: str) -> str:
    """``text`` with token secrets, credentials and the values of secret-named parameters
    (``?access_token=...``, ``&api_key=...``, percent-encoded or not) replaced by REDACTED."""
    # Most log lines have none of those words: one search instead of three substitutions.
    # Beyond ASCII, a letter may match another case-insensitively ("ı" matches "i").
    if text.isascii() and _MAYBE_SECRET.search(text.lower()) is None:
        return text
    return _redact(text)


def _redact(text: str) -> str:
    text = _SECRET.sub(REDACTED, text)
    text = _CREDENTIALS.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    return _PARAMETER.sub(_parameter, text)


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and traceback) through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RedactingLogger(Logger):
    """gunicorn's logger, with no secret in either log: request headers that carry
    credentials (Authorization, Cookie...) are never logged, the user atom (from Basic
    credentials) is not filled, and every access and error record is rewritten by
    ``redact``."""

    def setup(self, cfg):
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactSecrets) for f in logger.filters):
                logger.addFilter(RedactSecrets())
        # The atoms the access log format names (gunicorn looks ``{...}`` ones up in lower
        # case): only those are kept and redacted for each request, not every header and
        # variable (the record carries no other atom that a handler could print).
        self._used_atoms = {
            name.lower() if name.startswith("{") else name
            for name in re.findall(r"%\(([^)]*)\)", cfg.access_log_format or "")
        }

    def atoms(self, resp, req, environ, request_time):
        every = super().atoms(resp, req, environ, request_time)
        every["u"] = "-"
        atoms = {key: every[key] for key in self._used_atoms if key in every}
        for key, value in atoms.items():
            if (key.endswith("}i") or key.endswith("}e")) and _SECRET_NAME.search(key):
                atoms[key] = REDACTED
            elif isinstance(value, str):
                atoms[key] = redact(value)
        return atoms


def is_gevent(worker) -> bool:
    """Whether ``worker`` is one of gunicorn's gevent workers."""
    return any(cls.__module__ == "gunicorn.workers.ggevent" for cls in type(worker).__mro__)


class ReadDeadlines:
    """WSGI middleware for gevent workers, which have no read timeout of their own beyond
    the request head: the body must arrive whole within ``body_seconds`` (it is read here, up
    to the body limit, before the application runs; a late one is a 408 and the connection is
    closed), and every later socket operation, sending the response included, may block for
    at most ``send_seconds`` (a client that stops reading an event stream is cut off)."""

    def __init__(self, app, body_seconds, send_seconds, max_body_bytes):
        self.app = app
        self.body_seconds = body_seconds
        self.send_seconds = send_seconds
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ, start_response):
        import io

        import gevent

        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(self.send_seconds)
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        declared = int(length) if length.isdigit() else 0
        if not chunked and declared == 0:
            return self.app(environ, start_response)
        if not chunked and declared > self.max_body_bytes:
            # The application answers 413 after draining a bounded amount: bound it in time.
            environ["wsgi.input"] = _UntilDeadline(stream, self.body_seconds)
            return self.app(environ, start_response)
        body = []
        wanted = self.max_body_bytes + 1  # one byte more tells the application it is too big
        try:
            with gevent.Timeout(self.body_seconds):
                while wanted > 0 and (chunk := stream.read(min(wanted, 65536))):
                    body.append(chunk)
                    wanted -= len(chunk)
        except gevent.Timeout:
            return self._timed_out(sock, start_response)
        environ["wsgi.input"] = io.BytesIO(b"".join(body))
        return self.app(environ, start_response)

    def _timed_out(self, sock, start_response):
        body = problem_json(408, f"The request body did not arrive within {self.body_seconds:g} s.")
        start_response(
            "408 Request Timeout",
            [("Content-Type", "application/problem+json"), ("Content-Length", str(len(body)))],
        )
        return _ThenClose([body], sock)


class _UntilDeadline:
    """A request body stream that reads as ended once its time is up."""

    def __init__(self, stream, seconds):
        import time

        self.stream = stream
        self.deadline = time.monotonic() + seconds

    def _call(self, method, *args):
        import time

        import gevent

        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return b""
        with gevent.Timeout(remaining, False):
            return getattr(self.stream, method)(*args)
        return b""

    def read(self, size=-1):
        return self._call("read", size)

    def readline(self, size=-1):
        return self._call("readline", size)


class _ThenClose(list):
    """A response body after which the connection is shut (gunicorn ignores an application's
    ``Connection: close``), so the rest of a late body is not waited for."""

    def __init__(self, chunks, sock):
        super().__init__(chunks)
        self.sock = sock

    def close(self):
        import contextlib
        import socket

        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def available_cpus(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """The CPUs this process may use: the cores it may run on, bounded by a container's CPU
    quota (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), rounded
    up; at least 1. A container limited to 1.5 CPUs on a 16-core host gets 2 workers, not 16."""
    import math
    import os
    from pathlib import Path

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    root = Path(cgroup_root)
    quota = period = None
    try:
        quota_text, period_text = (root / "cpu.max").read_text().split()[:2]
        if quota_text != "max":
            quota, period = int(quota_text), int(period_text)
    except (OSError, ValueError):
        try:
            quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
            period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            pass
    if quota is not None and period and quota > 0:
        cores = min(cores or 1, math.ceil(quota / period))
    return max(1, cores or 1)
