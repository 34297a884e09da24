"""The status board in a real browser: headless Chromium (driven by playwright-core) against a
real gunicorn serving the example data, at desktop and phone widths, with axe-core run in every
page. Screenshots go to var/screenshots/."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from service.example import load
from tests.conftest import CHROMIUM_FLAGS, ROOT, Server, chromium, make_token, node_tools

TOOLS = ROOT / "var" / "browser-tools"
SHOTS = ROOT / "var" / "screenshots"
SCRIPT = ROOT / "tests" / "browser" / "board.cjs"
#: A day when Šalčininkai was shut by a closure and Medininkai let only some vehicles through.
AT = "2025-11-10T12:00:00Z"
SIZES = [
    {"name": "desktop", "width": 1280, "height": 900},
    {"name": "phone", "width": 390, "height": 844},
]

pytestmark = pytest.mark.browser


def _tools() -> str:
    """Chromium (returned), node and the npm tools; in CI (CI=true) a missing one fails,
    never skips."""
    browser = chromium()
    node_tools("browser-tools")
    return browser


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    """What Chromium saw on the board and a checkpoint's page (run once for the module)."""
    browser = _tools()
    from service import create_app
    from service.config import Config

    tmp = tmp_path_factory.mktemp("board")
    database_url = f"sqlite:///{tmp / 'checkpoints.db'}"
    app = create_app(Config(database_url=database_url))
    store = app.extensions["checkpoints.store"]
    store.migrate()
    load(store)
    token = make_token(store, "board-test", "editor")
    store.close()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with Server(database_url, workers=2) as server:
        server.start(tmp / "gunicorn.log")
        job = {
            "tools": str(TOOLS),
            "chromium": browser,
            "args": CHROMIUM_FLAGS,
            "base": server.url,
            "shots": str(SHOTS),
            "sizes": SIZES,
            "token": token,
            "pages": [
                {"name": "board", "path": f"/?at={AT}"},
                {"name": "checkpoint", "path": f"/checkpoints/salcininkai?at={AT}"},
            ],
        }
        result = subprocess.run(
            ["node", str(SCRIPT), json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:] + server.log_tail()
    (SHOTS / "seen.json").write_text(result.stdout, encoding="utf-8")
    return json.loads(result.stdout)


def _visits(seen, page: str, *, javascript: bool = True) -> list[dict]:
    found = [v for v in seen["visits"] if v["page"] == page and v["javaScript"] is javascript]
    assert found
    return found


def test_the_board_lists_the_six_points_and_their_states_on_a_date(seen):
    for visit in _visits(seen, "board"):
        assert visit["status"] == 200
        text = " ".join(visit["text"].split())
        assert visit["cards"] == 6, visit["size"]
        for name in (
            "Šumskas",
            "Tverečius",
            "Lavoriškės",
            "Raigardas",
            "Medininkai",
            "Šalčininkai",
        ):
            assert name in text, (visit["size"], name)
        assert "2025-11-10 14:00 EET (12:00 UTC)" in text
        # Five points shut, Medininkai open to some vehicles: by word, not colour alone.
        assert text.count("State: Closed") == 5, text
        assert "Restricted" in text and "Depends on who and what" in text
        assert "Pedestrians" in text and "Goods" in text and "Not allowed" in text
        # Šalčininkai's closure until 20 November: the next known change, reason and source.
        assert "Next known change: 2025-11-20 00:00 EET (22:00 UTC)" in text
        assert "Security since 2025-10-27 00:00 EET" in text
        assert "Source:" in text


def test_a_checkpoints_page_shows_its_closure_history_and_a_map(seen):
    for visit in _visits(seen, "checkpoint"):
        assert visit["status"] == 200
        text = " ".join(visit["text"].split())
        assert visit["title"].startswith("Šalčininkai")
        assert "History of closures and rules" in text
        # The overnight closure of 22 October and the one extended, then ended early.
        assert "2025-10-22 21:00 EEST (18:00 UTC) – 2025-10-23 07:00 EEST (04:00 UTC)" in text
        assert "Closure: Closed to every mode: security" in text
        assert "revisions" in text
        assert "Positions by latitude and longitude" in text


def test_every_page_passes_axe_and_fits_a_phone(seen):
    for visit in _visits(seen, "board") + _visits(seen, "checkpoint"):
        where = f"{visit['page']} at {visit['size']}"
        assert visit["violations"] == [], (where, visit["violations"])
        assert visit["passes"] > 10, where
        assert visit["overflow"] <= 0, f"{where}: {visit['overflow']} px wider than the window"
        assert visit["problems"] == [], (where, visit["problems"])
        assert "script-src 'self'" in visit["csp"] and "unsafe-inline" not in visit["csp"]
        assert Path(visit["screenshot"]).stat().st_size > 10_000


def test_the_board_works_without_javascript(seen):
    (visit,) = _visits(seen, "board", javascript=False)
    assert visit["cards"] == 6 and "Restricted" in visit["text"]


def test_the_board_refreshes_from_the_change_stream_under_its_policy(seen):
    live = seen["live"]
    assert live["written"] == 201
    assert "Maintenance" not in live["before"]
    assert "Maintenance" in live["after"] and "Closed" in live["after"]
    assert live["problems"] == []
