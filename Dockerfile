# The same steps as `make run`: install the package, apply migrations, load the example
# into an empty database, serve with gunicorn -c gunicorn.conf.py: gevent workers, no proxy
# needed (README "### Serving"). `docker stop` sends SIGTERM: long-polls and event streams
# end at once, other requests get up to GUNICORN_GRACEFUL_TIMEOUT (give `docker stop -t` as much).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    CHECKPOINTS_DATABASE_URL=sqlite:////data/checkpoints.db

WORKDIR /app
COPY pyproject.toml README.md gunicorn.conf.py ./
COPY service ./service
COPY schemas ./schemas
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app checkpoints \
    && mkdir /data && chown checkpoints /data

USER 10001
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=2)"]

CMD ["sh", "-c", "checkpoints init-db && checkpoints load-example --if-empty && exec gunicorn -c gunicorn.conf.py"]
