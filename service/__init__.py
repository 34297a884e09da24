"""checkpoints: a versioned HTTP API for the state of border crossing points."""

from __future__ import annotations

from flask import Flask

from .config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the application: configuration, storage, API, errors and CLI."""
    from . import api, cli
    from .api.machinery.encoding import JSONProvider
    from .storage import open_store

    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["CHECKPOINTS"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json = JSONProvider(app)
    app.extensions["checkpoints.store"] = open_store(
        config.database_url,
        busy_timeout_ms=config.sqlite_busy_timeout_ms,
        busy_slice_ms=config.sqlite_busy_slice_ms,
        poll_interval=config.feed_poll_interval,
        pool_size=config.pg_pool_size,
        statement_timeout_ms=config.pg_statement_timeout_ms,
        held_checkpoints=config.held_checkpoints,
    )
    app.extensions["checkpoints.api"] = api.init_app(app)
    cli.init_app(app)
    return app
