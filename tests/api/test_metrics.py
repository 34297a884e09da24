"""``GET /metrics``: Prometheus text, grouped by endpoint."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import CHECKPOINT


def test_metrics_count_requests_by_endpoint(client, editor):
    client.post("/v1/checkpoints", json=CHECKPOINT, headers=editor)
    for _ in range(3):
        client.get("/v1/checkpoints/medininkai")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("flask_http_request_duration_seconds_count{")
        and 'endpoint="checkpoints.Checkpoint"' in line
        and 'status="200"' in line
    )
    assert line.endswith(" 3.0")
    assert "medininkai" not in text  # grouped by endpoint, not by path


@pytest.mark.gunicorn
def test_metrics_add_up_every_worker(server):
    with requests.Session() as session:
        for _ in range(40):
            assert session.get(f"{server.url}/healthz").status_code == 200
    # Fresh connections spread over the three workers; each worker answers for all.
    totals = set()
    for _ in range(6):
        text = requests.get(f"{server.url}/metrics", timeout=10).text
        line = next(
            line
            for line in text.splitlines()
            if line.startswith("flask_http_request_duration_seconds_count{")
            and 'endpoint="health.Health"' in line
        )
        totals.add(float(line.rsplit(" ", 1)[1]))
    assert totals == {40.0}
