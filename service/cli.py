"""The ``checkpoints`` console script: the operator's commands."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
from flask import Flask

from .config import Config
from .domain.model import ROLES

_TOKEN_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def _app(config: Config | None = None) -> Flask:
    from . import create_app

    return create_app(config)


def _store(*, ready: bool = True):
    """The configured store; unless ``ready`` is False (init-db), one whose schema is current."""
    store = _app().extensions["checkpoints.store"]
    if ready:
        store.check_ready()
    return store


class _Commands(click.Group):
    """The command group: a storage failure (no database yet, a run from another folder, a
    damaged, read-only or full database) ends any command with one line on standard error
    that says what went wrong, and a non-zero exit, not a traceback."""

    def invoke(self, ctx: click.Context):
        from .storage import SchemaNotReady, StorageError

        try:
            return super().invoke(ctx)
        except StorageError as exc:
            if not isinstance(exc, SchemaNotReady):
                raise click.ClickException(str(exc)) from exc
            url = Config.from_env().database_url
            raise click.ClickException(
                f"{exc} (database {url}). Run `checkpoints init-db` first, from the project's "
                "folder (the default database is var/checkpoints.db there), or set "
                "CHECKPOINTS_DATABASE_URL."
            ) from exc


@click.group(
    cls=_Commands,
    help="Operate a checkpoints deployment (storage from CHECKPOINTS_DATABASE_URL).",
)
def main() -> None:
    pass


@main.command("init-db")
def init_db() -> None:
    """Check an existing database's integrity, create it if missing and apply pending
    migrations (idempotent). A damaged database is refused."""
    store = _store(ready=False)
    store.check_integrity()
    applied = store.migrate()
    click.echo(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


@main.command("load-example")
@click.option("--if-empty", is_flag=True, help="Do nothing unless the database is empty.")
def load_example(if_empty: bool) -> None:
    """Load the bundled Lithuania–Belarus example through the normal write path."""
    from .example import load

    store = _store()
    if if_empty and not store.is_empty():
        click.echo("the database has data already; example not loaded")
        return
    written = load(store)
    click.echo(f"example loaded: {written} writes")


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
def backup(file: str) -> None:
    """Copy the database to FILE, consistently, while it is being served."""
    if Path(file).exists():
        raise click.ClickException(f"{file} exists already; name a new file")
    if not Path(file).absolute().parent.is_dir():
        raise click.ClickException(f"{Path(file).parent} is not a folder")
    _store().backup(target=file)
    click.echo(f"backed up to {file} (integrity check passed)")


@main.group()
def token() -> None:
    """API tokens: only a hash of each secret is stored."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="editor", show_default=True)
@click.option(
    "--replace",
    is_flag=True,
    help="If NAME exists, give it this new secret and role (its old secret stops working).",
)
def token_create(name: str, role: str, replace: bool) -> None:
    """Create a token; prints the secret once, as the last word."""
    from .bearer_tokens import hash_secret, new_secret
    from .storage import TokenExists

    if not _TOKEN_NAME.match(name):
        raise click.BadParameter(
            "use lowercase letters, digits, '.', '_' or '-'", param_hint="NAME"
        )
    secret = new_secret()
    try:
        _store().create_token(
            name=name, role=role, secret_hash=hash_secret(secret), replace=replace
        )
    except TokenExists as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"created {role} token {name!r}; store this secret now, it is not shown again: {secret}"
    )


@token.command("list")
def token_list() -> None:
    """List tokens (names, roles, state; never secrets)."""
    for item in _store().list_tokens():
        state = f"revoked {item.revoked_at}" if item.revoked_at else "active"
        click.echo(f"{item.name}\t{item.role}\t{item.created_at}\t{state}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke a token by name; it is refused from then on."""
    from .storage import NotFound

    try:
        item = _store().revoke_token(name=name)
    except NotFound as exc:
        raise click.ClickException(f"no token named {name!r}") from exc
    click.echo(f"revoked {item.name!r} at {item.revoked_at}")


@main.group()
def feed() -> None:
    """The change feed."""


@feed.command("compact")
@click.option(
    "--before",
    required=True,
    metavar="SEQ|TIME",
    help="Drop events with a smaller seq, or recorded before an RFC 3339 time.",
)
def feed_compact(before: str) -> None:
    """Drop old change-feed events (revisions stay). Consumers behind get a 410 and
    re-snapshot."""
    from datetime import datetime

    from .storage.times import to_stamp

    if before.isdigit():
        dropped = _store().compact_feed(before_seq=int(before))
    else:
        try:
            moment = datetime.fromisoformat(before.replace("Z", "+00:00"))
        except ValueError as exc:
            raise click.BadParameter("a seq or an RFC 3339 time", param_hint="--before") from exc
        if moment.tzinfo is None:
            raise click.BadParameter(
                "the time needs an offset (Z or ±HH:MM)", param_hint="--before"
            )
        dropped = _store().compact_feed(before_time=to_stamp(moment))
    click.echo(f"dropped {dropped} event(s)")


@main.command("sync")
@click.argument("source_url")
@click.option("--into", "database_url", required=True, help="The mirror's database URL.")
@click.option("--follow", is_flag=True, help="Keep following the feed after catching up.")
def sync(source_url: str, database_url: str, follow: bool) -> None:
    """Mirror the deployment at SOURCE_URL into DATABASE_URL through its public API.

    The first run takes a snapshot, later runs resume from the stored position; a 410
    (events compacted away) triggers a fresh snapshot. Serve the mirror read-only with
    CHECKPOINTS_DATABASE_URL pointing at it.
    """
    import logging

    from .storage import open_store
    from .sync import Mirror, SourceError, Stopped, StopSignal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = open_store(database_url)
    store.migrate()
    # SIGTERM or Ctrl-C: a long-poll in progress is cut, and the command ends within a second.
    stop = StopSignal()
    stop.install()
    mirror = Mirror(source_url, store, stop=stop)
    try:
        position = mirror.catch_up()
        click.echo(f"mirror at seq {position}")
        if follow:
            mirror.follow()
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    except Stopped:
        pass


def render_openapi() -> str:
    """The OpenAPI document as committed: generated from the default configuration."""
    app = _app(Config())
    spec = app.extensions["checkpoints.api"].spec.to_dict()
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


@main.command("openapi")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def openapi(file: str) -> None:
    """Write the OpenAPI document to FILE ('-' for standard output)."""
    text = render_openapi()
    if file == "-":
        sys.stdout.write(text)
    else:
        Path(file).write_text(text, encoding="utf-8")


def init_app(app: Flask) -> None:
    """Expose the same commands under ``flask checkpoints``."""
    app.cli.add_command(main, "checkpoints")
