"""``GET /metrics``: Prometheus text, by prometheus-flask-exporter.

Under gunicorn every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set by
gunicorn.conf.py before the workers fork) and any worker answers for all of them; without
it (tests, ``flask run``) the counts are this process's own. Requests are grouped by
endpoint, not path, so ids in URLs do not each make a time series.
"""

from __future__ import annotations

import os

from flask import Flask
from prometheus_client import CollectorRegistry


def init_app(app: Flask) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

        metrics = GunicornInternalPrometheusMetrics(app, group_by="endpoint")
    else:
        from prometheus_flask_exporter import PrometheusMetrics

        # A registry per application, so that several apps in one process do not collide.
        metrics = PrometheusMetrics(app, group_by="endpoint", registry=CollectorRegistry())
    metrics.info("checkpoints_info", "The checkpoints service", version="1.0.0")
    app.extensions["checkpoints.metrics"] = metrics
