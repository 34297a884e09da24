"""The benchmark harness (``make bench``) keeps working: a smoke pass of two cases prints a
table of numbers, and a case whose responses are errors fails the run. It measures nothing:
figures are the benchmark's business, never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from benchmarks._load import Server, Setup
from benchmarks.crossing import CaseFailed, ensure_wrk, lua_get, run_wrk
from tests.conftest import ROOT

pytestmark = pytest.mark.gunicorn

NUMBER = r"[\d,]+(?:\.\d+)?"


@pytest.fixture(scope="module", autouse=True)
def wrk():
    """wrk is required: installed when missing (as ``make bench`` does), never skipped."""
    return ensure_wrk()


def test_a_smoke_pass_prints_a_table_of_numbers():
    done = subprocess.run(
        [sys.executable, "benchmarks/crossing.py", "--smoke", "--only", "decisions-304,cold-start"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 6 and re.fullmatch(NUMBER, cells[1]):
            rows[cells[0]] = [float(cell.replace(",", "")) for cell in cells[1:5]]
    assert set(rows) == {"ceiling (constant body, bare Flask)", "example sqlite: decisions-304"}
    for name, (rate, p50, p99, ratio) in rows.items():
        assert rate > 0 and 0 < p50 <= p99 and ratio > 0, (name, done.stdout)
    assert re.search(
        rf"RSS per worker after the example \(SQLite\) cases: {NUMBER} MB", done.stdout
    )
    assert re.search(
        rf"cold start to the first 200 on /v1/decisions: median {NUMBER} s", done.stdout
    )


def test_error_responses_fail_the_case(tmp_path):
    body = tmp_path / "body.json"
    body.write_bytes(b'{"allowed": true}')
    setup = Setup(
        "ceiling",
        ["-c", "gunicorn.conf.py", "benchmarks._ceiling:app"],
        {"BENCH_CEILING_BODY": str(body)},
    )
    script = tmp_path / "missing.lua"
    script.write_text(lua_get(["/ceiling", "/no-such-route"]))
    with (
        Server(setup, f"sqlite:///{tmp_path / 'unused.db'}", tmp_path) as server,
        pytest.raises(CaseFailed, match="not 2xx or 3xx"),
    ):
        run_wrk(server.port, script, seconds=1, connections=2, threads=1)


def test_a_profile_is_summarised_by_part_of_the_stack(tmp_path):
    """Each sample counts once, for the outermost part it reaches (a view under Flask is the
    view's); the storage's share is counted within the others."""
    from benchmarks.profile_decisions import summarise

    raw = tmp_path / "samples.raw"
    raw.write_text(
        "handle (ggevent.py:1);Flask.wsgi_app (app.py:1);View.as_view.view (views.py:1);"
        "feed_position (service/storage/protocol.py:1) 3\n"
        "handle (ggevent.py:1);Flask.wsgi_app (app.py:1);_cors (cors.py:1) 2\n"
        "handle (ggevent.py:1);Logger.access (glogging.py:1);redact (serving.py:1) 4\n"
        "handle (ggevent.py:1);sendall (socket.py:1) 1\n"
        "a line that is not a sample\n"
    )
    assert dict(summarise(raw)) == {
        "the view (held answer or computation)": 30.0,
        "Flask and the service's hooks": 20.0,
        "access log (gunicorn, redaction)": 40.0,
        "gunicorn: parsing, sockets, the rest": 10.0,
        "of all: the storage": 30.0,
    }


def test_the_floor_runs_the_services_hooks_and_nothing_else(monkeypatch, database_url, tmp_path):
    """The floor answers the ceiling's body (and a 304) through every hook of the service."""
    body = tmp_path / "body.json"
    body.write_bytes(b'{"allowed": true}')
    monkeypatch.setenv("BENCH_CEILING_BODY", str(body))
    monkeypatch.setenv("CHECKPOINTS_DATABASE_URL", database_url)
    sys.modules.pop("benchmarks._ceiling", None)  # it reads the body when imported
    from benchmarks._ceiling import floor

    app = floor()
    client = app.test_client()
    answer = client.get("/ceiling", headers={"Origin": "https://app.example"})
    assert answer.status_code == 200 and answer.data == b'{"allowed": true}'
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/ceiling-304").status_code == 304
    assert "/v1/decisions" in {rule.rule for rule in app.url_map.iter_rules()}  # the service's
