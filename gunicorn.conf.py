"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py` (as `make run` and the
Dockerfile do). Every value can be overridden by its environment variable.

Workers are gevent's (cooperative): each client connection is a greenlet, so slow, idle and
streaming clients (long-polls, Server-Sent Events) cost a little memory, not a worker, and
gunicorn's gevent worker closes a connection at once instead of lingering on it for up to 2 s
as its sync and gthread workers do. README "### Serving" has the measurements and the limits.
"""

import os

from service.serving import available_cpus

# Loaded by each worker after gevent has patched it (never preload_app): database connections
# are opened in the worker, and psycopg sees the patching when it is first imported.
wsgi_app = "service:create_app()"

# Prometheus samples of every worker go to files here, so /metrics answers for all of them.
# A fresh folder per server start, unless the operator names one.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="checkpoints-metrics-")

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One worker per CPU the server may use: a container's CPU quota counts, not the host's cores.
workers = int(os.environ.get("WEB_CONCURRENCY") or available_cpus())
threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # gthread (and sync, see below)
# gunicorn's workers by their usual names, subclassed so that their own refusals (a request
# line or headers over the limits below, a malformed request line) are problem+json too;
# any other worker class may be named in full. As in gunicorn, sync with threads is gthread.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
if worker_class == "sync" and threads > 1:
    worker_class = "gthread"
worker_class = {
    "gevent": "service.serving.GeventWorker",
    "gthread": "service.serving.ThreadWorker",
    "sync": "service.serving.SyncWorker",
}.get(worker_class, worker_class)
# Open connections per gevent worker (beyond them, new ones wait in the listen backlog until
# an idle one is closed, up to GUNICORN_KEEPALIVE seconds later). An idle connection costs a
# greenlet and a file descriptor, so the bound is high: a crowd of idle connections must not
# make new clients wait. Held-open requests are bounded lower, by
# CHECKPOINTS_MAX_HELD_REQUESTS.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "10000"))
# Connections the kernel holds for the workers to accept (it caps this at
# net.core.somaxconn).
backlog = int(os.environ.get("GUNICORN_BACKLOG", "4096"))

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

# Neither log ever holds a secret: token-shaped strings, credentials and the values of
# secret-named query parameters are redacted; Authorization and Cookie are never logged.
logger_class = "service.serving.RedactingLogger"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")

# No control socket: nothing should be able to steer the arbiter from outside.
control_socket_disable = True


def on_starting(server):
    """Refuse a damaged database before any worker starts, then raise the open-file limit."""
    _refuse_damaged_storage(server)
    _raise_open_file_limit(server)


def _refuse_damaged_storage(server):
    """The integrity check, once in the master before it forks (its connection is closed
    again): a damaged database stops the server with one line. Every worker checks again
    when it boots (post_worker_init), for a file damaged after the server started.

    Only an SQLite database is checked here: opening a PostgreSQL store would import psycopg
    in the master, before gevent patches the workers, and psycopg would then block them
    (it looks for the patching when first imported). Its workers check it when they boot."""
    import sys

    from service.config import Config
    from service.storage import Corrupt, open_store

    url = Config.from_env().database_url
    if not url.startswith("sqlite:"):
        return
    store = open_store(url)
    try:
        store.check_integrity()
    except Corrupt as exc:
        server.log.error("refusing to serve: %s", exc)
        sys.exit(3)  # as a worker that fails to boot
    finally:
        store.close()


def _raise_open_file_limit(server):
    """Raise the open-file limit to its hard limit (each connection is a file descriptor;
    the soft limit is often 1024), and warn when it is below what worker_connections needs."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    if soft < worker_connections + 100:
        server.log.warning(
            "open-file limit %s is below worker_connections %s: raise it (ulimit -n)",
            soft,
            worker_connections,
        )


def post_worker_init(worker):
    """Refuse to serve a damaged database. End long-polls and event streams at once when the
    worker is told to stop, so a restart is not held up by clients that wait (gunicorn waits
    for open requests); under gevent, also bound how long a request body may take to arrive."""
    import signal
    import sys

    from service.storage import Corrupt

    try:
        worker.wsgi.extensions["checkpoints.store"].check_integrity()
    except Corrupt as exc:
        # One line, and gunicorn stops: a worker that fails to boot halts the server.
        worker.log.error("refusing to serve: %s", exc)
        sys.exit(3)  # gunicorn's WORKER_BOOT_ERROR

    from service.api.machinery.waiting import shutting_down

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
        from service.api.machinery.waiting import shutting_down

        shutting_down.set()


def child_exit(server, worker):
    """Fold a finished worker's live gauges out of /metrics."""
    from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

    GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)
