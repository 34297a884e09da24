"""Hostile clients against a real gunicorn (gunicorn.conf.py): gunicorn's own refusals are
problem+json and reach the client, a crowd of idle connections does not hold up new
clients, and no secret a client sends reaches a log."""

from __future__ import annotations

import json
import resource
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.serving import _redact, redact
from tests.conftest import Server
from tests.properties import examples

pytestmark = pytest.mark.gunicorn


def _exchange(server: Server, request: bytes, timeout: float = 15) -> bytes:
    """Send ``request`` whole on a fresh connection, then read until the server closes."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    received = b""
    try:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
    finally:
        sock.close()
    return received


def _problem(answer: bytes, status: int) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), answer[:300]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == status
    return problem


HEAD = b"Host: hostile\r\nAccept: application/json\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"GET /healthz HTTP/1.1\r\n"
            + HEAD
            + b"".join(b"X-Field-%d: x\r\n" % i for i in range(200))
            + b"\r\n",
            431,
            id="200-header-fields",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\n" + HEAD + b"X-Big: " + b"b" * 100_000 + b"\r\n\r\n",
            431,
            id="one-100-KB-header",
        ),
        pytest.param(
            b"GET /v1/" + b"p" * 10_000 + b" HTTP/1.1\r\n" + HEAD + b"\r\n", 414, id="10-KB-path"
        ),
        pytest.param(
            b"GET /v1/checkpoints?q=" + b"q" * 100_000 + b" HTTP/1.1\r\n" + HEAD + b"\r\n",
            414,
            id="100-KB-query-string",
        ),
        pytest.param(b"\x16\x03\x01garbage and more\r\n" + HEAD + b"\r\n", 400, id="garbage"),
        pytest.param(b"GET /healthz HTTP/1.1 extra\r\n" + HEAD + b"\r\n", 400, id="four-words"),
    ],
)
def test_gunicorn_refuses_a_bad_request_head_with_a_problem_the_client_receives(
    server, request_bytes, status
):
    # Several times each: a reset that destroys the answer depends on timing.
    for _ in range(5):
        problem = _problem(_exchange(server, request_bytes), status)
    assert "garbage" not in problem["detail"] and "qqqq" not in problem["detail"]


def test_the_limits_just_within_are_served(server):
    fields = b"".join(b"X-Field-%d: x\r\n" % i for i in range(95))
    answer = _exchange(
        server, b"GET /healthz HTTP/1.1\r\n" + HEAD + fields + b"Connection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


SECRET = "cpt_" + "S3cr3tT0ken-value_" * 2 + "xyz"  # the shape of auth.new_secret()


def test_no_secret_a_client_sends_reaches_the_log(server, tmp_path):
    other = "hunter2-not-token-shaped"
    requests_sent = [
        f"GET /v1/checkpoints?access_token={SECRET} HTTP/1.1",
        f"GET /v1/checkpoints?limit=5&token={other} HTTP/1.1",
        f"GET /v1/checkpoints?API_KEY={other}&limit=5 HTTP/1.1",
        f"GET /v1/checkpoints?access%5Ftoken={other} HTTP/1.1",  # name percent-encoded
        f"GET /v1/checkpoints?x={SECRET.replace('_', '%5F')} HTTP/1.1",  # value encoded
        f"GET /v1/checkpoints/{SECRET} HTTP/1.1",  # in the path
        f"POST /v1/checkpoints?password={other} HTTP/1.1",  # a refused write
    ]
    for line in requests_sent:
        answer = _exchange(
            server,
            line.encode()
            + b"\r\nHost: h\r\nConnection: close\r\nContent-Length: 0\r\n"
            + f"Referer: https://app.example/page?session={other}&t={SECRET}\r\n".encode()
            + f"Authorization: Bearer {other}\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    # Refused heads, which gunicorn's warning echoes into the error log.
    _exchange(server, f"GET /?access_token={SECRET}\r\nHost: h\r\n\r\n".encode())
    _exchange(server, f"GET / HTTP/1.1\r\nHost: h\r\nX-{SECRET}\r\n\r\n".encode())
    log_path = tmp_path / "gunicorn.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if text.count("Refused a request") >= 2 and text.count("/v1/checkpoints") >= 7:
            break
        time.sleep(0.1)
    for secret in (SECRET, SECRET.replace("_", "%5F"), SECRET[4:], other):
        assert secret not in text
    assert "/v1/checkpoints?access_token=[REDACTED]" in text
    assert "?limit=5&token=[REDACTED]" in text
    assert "API_KEY=[REDACTED]&limit=5" in text
    assert "access%5Ftoken=[REDACTED]" in text
    assert "/v1/checkpoints/[REDACTED]" in text
    assert "https://app.example/page?session=[REDACTED]&t=[REDACTED]" in text
    assert "request line: 'GET /?access_token=[REDACTED]'" in text
    assert "Invalid HTTP Header: 'X-[REDACTED]'" in text


# Log lines as requests make them: parameters whose names are made of pieces of the words
# the redaction looks for (cased, percent-encoded once or twice, split), around other text.
_NAME_PIECES = st.sampled_from(
    [
        "k",
        "ey",
        "%6B",
        "sess\u0131on",  # a dotless i matches "i" case-insensitively
        "\u017fession",  # a long s matches "s" case-insensitively
        "\u0131",
        "%256b",
        "to",
        "ken",
        "%74",
        "oken",
        "pass",
        "w",
        "%77",
        "Api_",
        "KEY",
        "mode",
        "at",
        "checkpoint_id",
        "x",
        "+",
        "cpt",
        "_",
    ]
)
_VALUE_PIECES = st.sampled_from(
    ["", "abc", "vehicle", "2025-06-01T10:00:00Z", "cpt_x9-", "cpt%5fab", "%20", "+", "x9_-"]
)
_TEXT_PIECES = st.sampled_from(
    ["GET /v1/decisions", " HTTP/1.1", " ", "'", '"', "#", ";", "Bearer x", "basic+y", "%"]
)
_PARAMETER_TEXT = st.builds(
    lambda name, value: f"{name}={value}",
    st.lists(_NAME_PIECES, min_size=1, max_size=3).map("".join),
    st.lists(_VALUE_PIECES, max_size=2).map("".join),
)
_LOG_LINES = st.builds(
    lambda head, parameters, tail: head + ("?" if parameters else "") + "&".join(parameters) + tail,
    st.lists(_TEXT_PIECES, max_size=3).map("".join),
    st.lists(_PARAMETER_TEXT, max_size=4),
    st.lists(_TEXT_PIECES, max_size=2).map("".join),
)


@settings(max_examples=examples(2000), deadline=None)
@given(_LOG_LINES)
def test_a_log_line_without_a_secret_word_is_left_as_it_is_and_no_other_is(text):
    """``redact``'s shortcut (one search for any word a secret needs) answers as the whole
    redaction does, for lines with and without those words."""
    assert redact(text) == _redact(text)


def _raise_open_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


IDLE = 2_500  # more than 2 workers x gunicorn's default 1000 connections


def test_a_crowd_of_idle_connections_does_not_hold_up_a_new_client(app, database_url, tmp_path):
    _raise_open_file_limit(IDLE + 500)
    server = Server(database_url, workers=2)
    crowd: list[socket.socket] = []
    try:
        server.start(tmp_path / "gunicorn.log")  # inside: a failed start is stopped too
        for _ in range(IDLE):  # connected, never a byte sent
            crowd.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        time.sleep(0.5)  # the workers have accepted what they will
        waits = []
        for _ in range(5):
            started = time.monotonic()
            answer = _exchange(
                server, b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 10
            )
            waits.append(time.monotonic() - started)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    finally:
        for sock in crowd:
            sock.close()
        server.stop()
    # Without room for the crowd a new client waits in the backlog until the keep-alive
    # bound (5 s) closes idle connections; the bound is 250 ms, with slack for a busy machine.
    assert max(waits) < 1.0, waits


def test_credential_headers_are_never_logged_even_when_the_format_names_them(
    app, database_url, tmp_path
):
    # An operator's access-log format that names them, and Basic credentials (gunicorn
    # fills its user atom from them).
    fmt = "%(u)s|%({authorization}i)s|%({cookie}i)s|%({x-api-key}i)s|%({http_authorization}e)s"
    server = Server(
        database_url, workers=1, extra_env={"GUNICORN_CMD_ARGS": f"--access-logformat='{fmt}'"}
    )
    try:
        server.start(tmp_path / "gunicorn.log")  # inside: a failed start is stopped too
        for authorization in (f"Bearer {SECRET}", "Basic dXNlcjpodW50ZXIy", "Token opaque42"):
            _exchange(
                server,
                b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                + f"Authorization: {authorization}\r\nCookie: sid=opaque42\r\n".encode()
                + b"X-Api-Key: opaque42\r\n\r\n",
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = (tmp_path / "gunicorn.log").read_text(errors="replace")
            if text.count("-|[REDACTED]|[REDACTED]|[REDACTED]|[REDACTED]") >= 3:
                break
            time.sleep(0.1)
    finally:
        server.stop()
    assert text.count("-|[REDACTED]|[REDACTED]|[REDACTED]|[REDACTED]") == 3, text[-1500:]
    for secret in (SECRET, "dXNlcjpodW50ZXIy", "user", "opaque42"):
        assert secret not in text.split("Booting worker")[-1]


@pytest.mark.parametrize(
    ("worker_class", "threads", "used"),
    [("gthread", "8", "ThreadWorker"), ("sync", "1", "SyncWorker"), ("sync", "8", "ThreadWorker")],
)
def test_the_other_worker_classes_refuse_with_problems_too(
    app, database_url, tmp_path, worker_class, threads, used
):
    env = {"GUNICORN_WORKER_CLASS": worker_class, "GUNICORN_THREADS": threads}
    server = Server(database_url, workers=1, extra_env=env)
    try:
        server.start(tmp_path / "gunicorn.log")  # inside: a failed start is stopped too
        fields = b"".join(b"X-Field-%d: x\r\n" % i for i in range(200))
        _problem(_exchange(server, b"GET /healthz HTTP/1.1\r\n" + HEAD + fields + b"\r\n"), 431)
        query = b"GET /healthz?q=" + b"q" * 100_000 + b" HTTP/1.1\r\n" + HEAD + b"\r\n"
        for _ in range(3):
            _problem(_exchange(server, query), 414)
    finally:
        server.stop()
    assert f"Using worker: service.serving.{used}" in (tmp_path / "gunicorn.log").read_text()
