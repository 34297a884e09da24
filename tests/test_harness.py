"""The test harness itself: readiness waits survive transient errors, and a server that
fails to start leaves no process behind."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import Server, wait_until_ready


class _SlowThenReady(BaseHTTPRequestHandler):
    """Answers too slowly twice (the client times out), then 503 once, then 200."""

    calls = 0

    def do_GET(self):
        type(self).calls += 1
        if self.calls <= 2:
            time.sleep(1.0)
        status = 503 if self.calls == 3 else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_readiness_wait_retries_timeouts_and_errors_until_ready():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SlowThenReady)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/readyz"
        wait_until_ready(url, deadline=time.monotonic() + 20, probe_timeout=0.2)
        assert _SlowThenReady.calls >= 4
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_readiness_wait_gives_up_at_its_deadline():
    with pytest.raises(RuntimeError, match="not ready"):
        # Nothing listens on a port just freed: every probe is refused.
        from .conftest import free_port

        wait_until_ready(f"http://127.0.0.1:{free_port()}/readyz", deadline=time.monotonic() + 1)


@pytest.mark.gunicorn
def test_a_server_that_never_gets_ready_is_stopped_with_its_workers(tmp_path):
    # A database that was never created: /readyz can never answer 200.
    server = Server(f"sqlite:///{tmp_path / 'missing' / 'never.db'}", workers=2)
    with pytest.raises(RuntimeError, match="did not start"):
        server.start(tmp_path / "gunicorn.log", ready_seconds=3)
    group = server.process.pid
    assert server.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)  # signal 0: is any process of the group left?
    assert server.log is None  # the log file was closed with it
