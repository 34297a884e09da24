"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py` (as `make run` and the
Dockerfile do). Every value can be overridden by its environment variable.

Workers are gevent's (cooperative): each client connection is a greenlet, so slow, idle and
streaming clients (long-polls, Server-Sent Events) cost a little memory, not a worker, and
gunicorn's gevent worker closes a connection at once instead of lingering on it for up to 2 s
as its sync and gthread workers do. README "### Serving" has the measurements and the limits.
"""

import multiprocessing
import os

# Loaded by each worker after gevent has patched it (never preload_app): database connections
# are opened in the worker, and psycopg sees the patching when it is first imported.
wsgi_app = "service:create_app()"

# Prometheus samples of every worker go to files here, so /metrics answers for all of them.
# A fresh folder per server start, unless the operator names one.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="checkpoints-metrics-")

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# Open connections per gevent worker (beyond them, new ones wait in the listen backlog);
# held-open requests are bounded lower, by CHECKPOINTS_MAX_HELD_REQUESTS.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # gthread only

# Heartbeat files on a RAM-backed directory where there is one (containers often mount
# /tmp on overlay storage, which can stall the heartbeat).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Worker recycling is off by default: a recycled worker ends every long-poll and stream it
# holds (their clients reconnect) and a new one boots; at 10,000 requests the normal clients
# of benchmarks/slow_clients.py kept 0.59 of their throughput instead of 0.84. Set it
# (staggered by the jitter) to bound a leak should one appear.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))

# A worker whose event loop is blocked this long is killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# Under gevent this also bounds the request head: a connection must deliver a whole request
# line and headers within this many seconds of opening or of the previous answer, or it is
# closed (slowloris); an idle keep-alive connection is closed after it too. Never 0: that
# would switch the bound off.
keepalive = max(1, int(os.environ.get("GUNICORN_KEEPALIVE", "5")))
# The whole request body must arrive within this many seconds of the head (else 408), and a
# client that takes no response bytes for this long is cut off (gevent workers; see below).
body_timeout = float(os.environ.get("GUNICORN_BODY_TIMEOUT", "10"))
send_timeout = float(os.environ.get("GUNICORN_SEND_TIMEOUT", "60"))

# Request line and header limits (gunicorn's own defaults, stated here on purpose); bodies
# are limited by the application (CHECKPOINTS_MAX_BODY_BYTES).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")

# No control socket: nothing should be able to steer the arbiter from outside.
control_socket_disable = True


def post_worker_init(worker):
    """End long-polls and event streams at once when the worker is told to stop, so a
    restart is not held up by clients that wait (gunicorn waits for open requests); under
    gevent, also bound how long a request body may take to arrive."""
    import signal

    from service.api.waiting import shutting_down

    # gunicorn's handlers are kept (the gevent worker's SIGQUIT handler hands the exit to a
    # greenlet); setting an Event and a flag is safe in a signal handler under gevent too.
    for signum, handler in (
        (signal.SIGTERM, worker.handle_exit),
        (signal.SIGQUIT, worker.handle_quit),
        (signal.SIGINT, worker.handle_quit),
    ):

        def stop(sig, frame, handler=handler):
            shutting_down.set()
            handler(sig, frame)

        signal.signal(signum, stop)

    from service.serving import ReadDeadlines, is_gevent

    if is_gevent(worker):
        from service.config import Config

        worker.wsgi = ReadDeadlines(
            worker.wsgi, body_timeout, send_timeout, Config.from_env().max_body_bytes
        )


def post_request(worker, req, environ, resp):
    """A worker that is recycled (max_requests) ends its long-polls and streams too."""
    if not worker.alive:
        from service.api.waiting import shutting_down

        shutting_down.set()


def child_exit(server, worker):
    """Fold a finished worker's live gauges out of /metrics."""
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)
