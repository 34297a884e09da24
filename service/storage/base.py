"""The storage interface every backend implements, and the exceptions it raises.

Storage speaks storage: it never raises HTTP errors. ``service.api.machinery.errors`` translates.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.domain.model import Checkpoint, Closure, Rule


class StorageError(Exception):
    """Base class of every storage failure."""


class NotFound(StorageError):
    """The resource (or revision) does not exist, or is deleted."""

    def __init__(self, resource_type: str, resource_id: str, detail: str | None = None):
        self.resource_type = resource_type
        self.resource_id = resource_id
        super().__init__(detail or f"{resource_type} {resource_id!r} does not exist")


class AlreadyExists(StorageError):
    """A create named an id that is live already."""

    def __init__(self, resource_type: str, resource_id: str):
        self.resource_type = resource_type
        self.resource_id = resource_id
        super().__init__(f"{resource_type} {resource_id!r} exists already")


class RevisionMismatch(StorageError):
    """The stored revision is not the one the writer expected."""

    def __init__(self, resource_type: str, resource_id: str, current_revision: int):
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.current_revision = current_revision
        super().__init__(
            f"{resource_type} {resource_id!r} is at revision {current_revision}, "
            "not the one expected"
        )


class Conflict(StorageError):
    """The write would break an invariant that involves another resource."""

    def __init__(self, detail: str, *, other: Mapping[str, Any] | None = None):
        self.other = dict(other or {})
        super().__init__(detail)


class HistoryOrder(StorageError):
    """A recording time supplied by an operator's loader would put the feed's ``recorded_at``
    out of order (earlier than the last write's) or in the future."""


class TokenExists(StorageError):
    """A token with that name exists already."""


class SchemaNotReady(StorageError):
    """The database is unreachable or its schema is not current."""


@dataclass(frozen=True)
class Record:
    """One resource as stored: its public representation (with revision and times).
    ``replayed``: a create that found its idempotency key done returns its first outcome."""

    type: str
    id: str
    revision: int
    data: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class Revision:
    """One entry of a resource's history."""

    revision: int
    action: str
    recorded_at: str
    actor: str
    data: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "action": self.action,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "data": self.data,
        }


@dataclass(frozen=True)
class Token:
    """An API token as stored (its secret is never stored, only a hash)."""

    name: str
    role: str
    created_at: str
    revoked_at: str | None = None
    #: Only filled in by ``token_by_hash``, for the caller's constant-time comparison.
    secret_hash: str = field(default="", repr=False)


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and the key to continue after, if there is more."""

    items: list[Any]
    next_after: Any | None = None


@dataclass(frozen=True)
class CheckpointFilter:
    """Filters of the checkpoint list."""

    country: str | None = None
    kind: str | None = None
    q: str | None = None
    ids: frozenset[str] | None = field(default=None)


@dataclass(frozen=True)
class RuleFilter:
    """Filters of a checkpoint's rules (times are storage timestamps)."""

    checkpoint_id: str
    mode: str | None = None
    at: str | None = None


@dataclass(frozen=True)
class ClosureFilter:
    """Filters of closures (times are storage timestamps); ``checkpoint_id`` None = all."""

    checkpoint_id: str | None = None
    active_at: str | None = None
    reason: str | None = None
    start: str | None = None
    end: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class FeedPage:
    """Events after a position, and where to continue."""

    changes: list[dict[str, Any]]
    last_seq: int
    has_more: bool


@dataclass(frozen=True)
class IdempotencyKey:
    """A create's idempotency key, per actor: ``fingerprint`` identifies the request, and a
    key is remembered for ``ttl_seconds`` after the create that stored it."""

    actor: str
    key: str
    fingerprint: str
    ttl_seconds: int = 24 * 3600


@dataclass(frozen=True)
class DecisionInput:
    """What a decision about one checkpoint is made from, read in one transaction, as the
    domain's values."""

    checkpoint: Checkpoint
    rules: list[Rule]
    closures: list[Closure]
    #: The checkpoint as stored (its representation), for what shows more than decisions use.
    stored_checkpoint: dict[str, Any]


class Store(abc.ABC):
    """One storage backend. Every write is one transaction that re-checks the revision,
    writes the new state, a revision row and a change-feed event together."""

    # --- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names applied."""

    @abc.abstractmethod
    def check_ready(self) -> None:
        """Raise a StorageError unless storage is reachable, its schema current, it is not
        known to be damaged, and a write could succeed now."""

    @abc.abstractmethod
    def check_integrity(self) -> None:
        """Raise Corrupt if the stored data is damaged (cost grows with the database's size)."""

    @abc.abstractmethod
    def backup(self, *, target: str) -> None:
        """Write a consistent copy of the database to ``target`` while it stays in use."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close this thread's connection, if any."""

    # --- versioned resources ---------------------------------------------------------------
    @abc.abstractmethod
    def get(self, *, resource_type: str, resource_id: str) -> Record:
        """Return the live resource or raise NotFound."""

    @abc.abstractmethod
    def get_as_of(self, *, resource_type: str, resource_id: str, as_of: str) -> Record:
        """Return the resource as recorded at ``as_of`` (a storage timestamp) or raise NotFound."""

    @abc.abstractmethod
    def create(
        self,
        *,
        resource_type: str,
        resource_id: str,
        data: Mapping[str, Any],
        actor: str,
        idempotency: IdempotencyKey | None = None,
        recorded_at: str | None = None,
    ) -> Record:
        """Create a resource (or re-create a deleted one, continuing its history). With an
        idempotency key, one transaction looks the key up and either replays the first
        outcome (``Record.replayed``), raises IdempotencyMismatch, or writes the resource and
        the key together; nothing of a create that did not commit is remembered.
        ``recorded_at`` (operator loaders only, never HTTP): see ``update``."""

    @abc.abstractmethod
    def update(
        self,
        *,
        resource_type: str,
        resource_id: str,
        data: Mapping[str, Any],
        expected_revision: int | None,
        actor: str,
        recorded_at: str | None = None,
    ) -> Record:
        """Replace a live resource's fields, if it is still at ``expected_revision``.
        ``recorded_at`` (a storage timestamp, for operator loaders of dated history, never
        HTTP) records the write at that time instead of now; HistoryOrder, and nothing
        written, if it is in the future or earlier than the feed's last ``recorded_at``."""

    @abc.abstractmethod
    def delete(
        self,
        *,
        resource_type: str,
        resource_id: str,
        expected_revision: int | None,
        actor: str,
    ) -> None:
        """Delete a live resource (a tombstone revision), if still at ``expected_revision``."""

    @abc.abstractmethod
    def revisions(self, *, resource_type: str, resource_id: str, after: int, limit: int) -> Page:
        """Return a resource's revisions after ``after``, oldest first, or raise NotFound."""

    @abc.abstractmethod
    def revision(self, *, resource_type: str, resource_id: str, number: int) -> Revision:
        """Return one revision or raise NotFound."""

    @abc.abstractmethod
    def list_checkpoints(self, *, filters: CheckpointFilter, after: str | None, limit: int) -> Page:
        """Return live checkpoints ordered by id, after the id ``after``."""

    @abc.abstractmethod
    def list_rules(self, *, filters: RuleFilter, after: list | None, limit: int) -> Page:
        """Return a live checkpoint's live rules ordered by (valid_from, id), or NotFound."""

    @abc.abstractmethod
    def list_closures(self, *, filters: ClosureFilter, after: list | None, limit: int) -> Page:
        """Return live closures ordered by (starts_at, id); NotFound for an unknown checkpoint."""

    @abc.abstractmethod
    def decision_inputs(
        self,
        *,
        checkpoint_id: str | None = None,
        country: str | None = None,
        as_of: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[DecisionInput]:
        """Return live checkpoints (one, or all, or of a country, in id order after ``after``,
        at most ``limit``) with their rules and closures; with ``as_of`` (a storage
        timestamp), as they were recorded at that time (each resource's newest revision
        recorded then, deleted ones left out)."""

    def each_decision_input(self, *, country: str | None = None) -> Iterator[DecisionInput]:
        """Every live checkpoint (or a country's) with its rules and closures, in id order.
        A backend that can reads a bounded number at a time (memory does not grow with how
        many exist); this reads them all at once."""
        yield from self.decision_inputs(country=country)

    # --- change feed -----------------------------------------------------------------------
    @abc.abstractmethod
    def feed_position(self) -> int:
        """Return the ``seq`` of the newest change-feed event (0 when there is none)."""

    @abc.abstractmethod
    def changes(self, *, after: int, limit: int) -> list[dict[str, Any]]:
        """Return change-feed events with ``seq > after``, in order."""

    @abc.abstractmethod
    def wait_for_change(self, after: int, timeout: float, stop: Any = None) -> bool:
        """Wait up to ``timeout`` seconds (or until the ``stop`` event is set) for the feed
        to pass ``after``, whichever process or host commits; True once it has."""

    # --- tokens ----------------------------------------------------------------------------
    @abc.abstractmethod
    def create_token(
        self, *, name: str, role: str, secret_hash: str, replace: bool = False
    ) -> Token:
        """Store a new token's hash; raise TokenExists if the name is taken, unless
        ``replace``: then that token gets this secret and role and is live again."""

    @abc.abstractmethod
    def list_tokens(self) -> list[Token]:
        """Return every token, revoked ones included."""

    @abc.abstractmethod
    def revoke_token(self, *, name: str) -> Token:
        """Revoke a token by name or raise NotFound."""

    @abc.abstractmethod
    def token_by_hash(self, *, secret_hash: str) -> Token | None:
        """Return the live token whose secret has this hash, if any."""

    @abc.abstractmethod
    def is_empty(self) -> bool:
        """Return True when no resource has ever been written."""


class FeedGone(StorageError):
    """Events after the requested position were compacted away: re-snapshot."""

    def __init__(self, first_seq: int):
        self.first_seq = first_seq
        super().__init__(f"events before seq {first_seq} are no longer retained")


class FeedAhead(StorageError):
    """The requested position lies beyond the newest event: the consumer's copy came from
    another (or a restored) feed, and following from there would skip events forever."""

    def __init__(self, last_seq: int):
        self.last_seq = last_seq
        super().__init__(f"the feed ends at seq {last_seq}")


class IdempotencyMismatch(StorageError):
    """The idempotency key was used with another request."""


class Unavailable(StorageError):
    """Storage could not answer in time (locked, unreachable); the request may be retried."""


class ReadOnly(StorageError):
    """The database cannot be written: its file, folder or filesystem is read-only."""


class StorageFull(StorageError):
    """The disk holding the database is full; writes fail until space is freed."""


class Corrupt(StorageError):
    """The database file is damaged, or is not a database: restore it from a backup."""
