"""The SQLite schema, as sqlite-utils migrations applied in order by ``checkpoints init-db``."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("checkpoints")


@migrations()
def m001_versioned_resources(db: Database) -> None:
    """Checkpoints, the revision history of every resource, the change feed and tokens."""
    db["checkpoints"].create(
        {
            "id": str,
            "revision": int,
            "live": int,
            "created_at": str,
            "updated_at": str,
            "checkpoint_id": str,
            "data": str,
            "search": str,
            "country_a": str,
            "country_b": str,
            "kind": str,
        },
        pk="id",
        not_null={"revision", "live", "created_at", "updated_at", "checkpoint_id", "data"},
    )
    db["checkpoints"].create_index(["live", "id"])
    db["revisions"].create(
        {
            "resource_type": str,
            "resource_id": str,
            "revision": int,
            "action": str,
            "actor": str,
            "recorded_at": str,
            "data": str,
        },
        pk=("resource_type", "resource_id", "revision"),
        not_null={"action", "actor", "recorded_at"},
    )
    db["changes"].create(
        {
            "seq": int,
            "recorded_at": str,
            "resource_type": str,
            "resource_id": str,
            "checkpoint_id": str,
            "revision": int,
            "action": str,
            "actor": str,
            "data": str,
        },
        pk="seq",
        not_null={"recorded_at", "resource_type", "resource_id", "revision", "action", "actor"},
    )
    db["changes"].create_index(["checkpoint_id", "seq"])
    db["changes"].create_index(["resource_type", "seq"])
    # One row: the newest seq and its time, so seq stays gap-free after old events are
    # compacted away, and recorded_at never goes backwards along the feed.
    db["feed_state"].create(
        {"id": int, "last_seq": int, "last_recorded_at": str, "first_seq": int},
        pk="id",
    )
    db["feed_state"].insert({"id": 1, "last_seq": 0, "last_recorded_at": "", "first_seq": 1})
    db["tokens"].create(
        {"name": str, "role": str, "secret_hash": str, "created_at": str, "revoked_at": str},
        pk="name",
        not_null={"role", "secret_hash", "created_at"},
    )
    db["tokens"].create_index(["secret_hash"], unique=True)


@migrations()
def m002_rules_and_closures(db: Database) -> None:
    """Per-mode rules and closures, versioned like checkpoints."""
    common = {
        "id": str,
        "revision": int,
        "live": int,
        "created_at": str,
        "updated_at": str,
        "checkpoint_id": str,
        "data": str,
    }
    not_null = {"revision", "live", "created_at", "updated_at", "checkpoint_id", "data"}
    db["rules"].create(
        {**common, "mode": str, "valid_from": str, "valid_until": str}, pk="id", not_null=not_null
    )
    # The overlap check and "in force at" look a checkpoint's mode up by time.
    db["rules"].create_index(["checkpoint_id", "mode", "valid_from"])
    db["closures"].create(
        {**common, "starts_at": str, "ends_at": str, "reason": str, "modes": str},
        pk="id",
        not_null=not_null,
    )
    db["closures"].create_index(["checkpoint_id", "starts_at"])
    db["closures"].create_index(["live", "starts_at"])


@migrations()
def m003_idempotency_and_sync(db: Database) -> None:
    """Idempotency keys of POSTs, and a mirror's position in the feed it follows."""
    db["idempotency_keys"].create(
        {
            "actor": str,
            "key": str,
            "fingerprint": str,
            "state": str,
            "created_at": str,
            "resource_type": str,
            "resource_id": str,
            "revision": int,
        },
        pk=("actor", "key"),
        not_null={"fingerprint", "state", "created_at"},
    )
    db["sync_state"].create({"source": str, "seq": int, "updated_at": str}, pk="source")


@migrations()
def m004_idempotency_expiry(db: Database) -> None:
    """Expired idempotency keys are found by age, to purge them a batch at a time."""
    db["idempotency_keys"].create_index(["created_at"])
