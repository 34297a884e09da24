"""``GET /metrics``: Prometheus text, by prometheus-flask-exporter.

Under gunicorn every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set by
gunicorn.conf.py before the workers fork) and any worker answers for all of them; without
it (tests, ``flask run``) the counts are this process's own. Requests are grouped by
endpoint, not path, so ids in URLs do not each make a time series.

The request metrics are the exporter's defaults (the same names, help and labels), counted
here: the labelled series of each method, endpoint and status are looked up once and kept,
so that a request costs one dictionary look-up, not a labels call per metric.
"""

from __future__ import annotations

import os
from timeit import default_timer

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram

#: The exporter's names for its default metrics (``export_defaults``, prefix ``flask``).
PREFIX = "flask_"


class RequestMetrics:
    """Duration, count and exceptions of every request but those the exporter does not track
    (``/metrics`` itself), by method, endpoint and status."""

    def __init__(self, app: Flask, metrics) -> None:
        registry = metrics.registry
        metrics.info(
            f"{PREFIX}exporter_info",
            "Information about the Prometheus Flask exporter",
            version=metrics.version,
        )
        self.duration = Histogram(
            f"{PREFIX}http_request_duration_seconds",
            "Flask HTTP request duration in seconds",
            ("method", "endpoint", "status"),
            registry=registry,
        )
        self.total = Counter(
            f"{PREFIX}http_request_total",
            "Total number of HTTP requests",
            ("method", "status"),
            registry=registry,
        )
        self.exceptions = Counter(
            f"{PREFIX}http_request_exceptions_total",
            "Total number of HTTP requests which resulted in an exception",
            ("method", "status"),
            registry=registry,
        )
        #: (method, endpoint, status) → (the duration series' observe, the count's inc).
        self._series: dict[tuple, tuple] = {}
        app.before_request(self._start)
        app.after_request(self._finish)
        app.teardown_request(self._failed)

    def _record(self, method: str, endpoint, status: int) -> None:
        key = (method, endpoint, status)
        series = self._series.get(key)
        if series is None:
            series = (
                self.duration.labels(method=method, endpoint=endpoint, status=status).observe,
                self.total.labels(method=method, status=status).inc,
            )
            self._series[key] = series
        observe, inc = series
        observe(max(default_timer() - g._metrics_started, 0))
        inc()

    @staticmethod
    def _tracked() -> bool:
        current = request._get_current_object()  # the exporter marks untracked requests on it
        return not (hasattr(current, "prom_do_not_track") or hasattr(current, "prom_exclude_all"))

    def _start(self) -> None:
        g._metrics_started = default_timer()

    def _finish(self, response: Response) -> Response:
        if "_metrics_started" in g and "_metrics_reported" not in g and self._tracked():
            g._metrics_reported = True
            self._record(request.method, request.endpoint, response.status_code)
        return response

    def _failed(self, exception: BaseException | None = None) -> None:
        if exception is None or not self._tracked():
            return
        self.exceptions.labels(method=request.method, status=500).inc()
        if "_metrics_started" in g and "_metrics_reported" not in g:
            g._metrics_reported = True
            self._record(request.method, request.endpoint, 500)


def init_app(app: Flask) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

        metrics = GunicornInternalPrometheusMetrics(app, export_defaults=False)
    else:
        from prometheus_flask_exporter import PrometheusMetrics

        # A registry per application, so that several apps in one process do not collide.
        metrics = PrometheusMetrics(app, export_defaults=False, registry=CollectorRegistry())
    RequestMetrics(app, metrics)
    metrics.info("checkpoints_info", "The checkpoints service", version="1.0.0")
    app.extensions["checkpoints.metrics"] = metrics
