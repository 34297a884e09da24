"""Serving under gunicorn's gevent workers: read deadlines the worker lacks (installed by
gunicorn.conf.py's ``post_worker_init``)."""

from __future__ import annotations


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
        import json

        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Request Timeout",
                "status": 408,
                "detail": f"The request body did not arrive within {self.body_seconds:g} s.",
            }
        ).encode()
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
