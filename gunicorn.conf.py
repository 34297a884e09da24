"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py` (as `make run` and the
Dockerfile do). Every value can be overridden by its environment variable."""

import multiprocessing
import os

wsgi_app = "service:create_app()"

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))

# Heartbeat files on a RAM-backed directory where there is one (containers often mount
# /tmp on overlay storage, which can stall the heartbeat).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Recycle workers now and then, staggered so they do not all restart at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))

timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

# Request line and header limits (gunicorn's own defaults, stated here on purpose).
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
    restart is not held up by clients that wait (gunicorn waits for open requests)."""
    import signal

    from service.api.waiting import shutting_down

    for signum, handler in (
        (signal.SIGTERM, worker.handle_exit),
        (signal.SIGQUIT, worker.handle_quit),
    ):

        def stop(sig, frame, handler=handler):
            shutting_down.set()
            handler(sig, frame)

        signal.signal(signum, stop)
