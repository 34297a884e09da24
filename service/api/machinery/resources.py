"""The versioned-resource write path, written once for checkpoints, rules and closures:
read-only fields, If-Match, merge-patch, and the responses with their ETags."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Response, current_app, url_for
from marshmallow import Schema, ValidationError

from service.storage import Record, Store
from service.storage.times import to_stamp

from . import idempotency
from .bodies import MERGE_PATCH, read_json_object
from .errors import Problem, flatten_errors
from .etags import expected_revision, not_modified
from .history import IMMUTABLE, settled
from .tags import quoted, record_etag


def store() -> Store:
    return current_app.extensions["checkpoints.store"]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _same(schema: Schema, name: str, sent: Any, stored: Any) -> bool:
    field = schema.fields.get(name)
    if field is None or sent is None or stored is None:
        return sent == stored
    try:
        return field.deserialize(sent) == field.deserialize(stored)
    except ValidationError:
        return False


@functools.lru_cache(maxsize=64)
def _dump_only(schema: Schema) -> frozenset[str]:
    """The names of a schema's dump-only fields (each view's schema is built once)."""
    return frozenset(name for name, field in schema.fields.items() if field.dump_only)


def load_fields(
    schema: Schema,
    body: Mapping[str, Any],
    *,
    read_only: Iterable[str],
    stored: Mapping[str, Any] | None = None,
    pinned: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate a body and return the resource's writable fields in their JSON form.

    ``read_only`` fields may be sent only with their stored value (never on create);
    ``pinned`` fields must equal the given value (a body's ``id`` must equal the path's).
    """
    errors: dict[str, list[str]] = {}
    pinned = dict(pinned or {})
    read_only = (set(read_only) | _dump_only(schema)) - pinned.keys()
    writable = dict(body)
    for name, value in pinned.items():
        if name in body and not _same(schema, name, body[name], value):
            errors[name] = [f"Must equal the value in the URL ({value!r})."]
        field = schema.fields.get(name)
        if field is not None and not field.dump_only:
            writable[name] = value
        else:
            writable.pop(name, None)
    for name in read_only & body.keys():
        writable.pop(name)
        if stored is None:
            errors[name] = ["Read-only field: it cannot be set."]
        elif not _same(schema, name, body[name], stored.get(name)):
            errors[name] = ["Read-only field: it may only be sent with its stored value."]
    try:
        loaded = schema.load(writable)
    except ValidationError as exc:
        for path, messages in flatten_errors(exc.messages).items():
            errors.setdefault(path, []).extend(messages)
        loaded = None
    if errors:
        raise Problem(422, "The request is not valid.", kind="validation", errors=errors)
    dumped = schema.dump(loaded)
    kept = {k: v for k, v in dumped.items() if k not in read_only and k not in pinned}
    return {**pinned, **kept}


def item_response(record: Record, status: int = 200, *, location: str | None = None):
    headers = {"ETag": quoted(record_etag(record))}
    if location:
        headers["Location"] = location
    return record.data, status, headers


def get_item(resource_type: str, resource_id: str, *, as_of=None):
    """A resource (as of a time, if given), or a 304 when If-None-Match matches. As of a
    settled time, cached for good."""
    if as_of is not None:
        record = store().get_as_of(
            resource_type=resource_type, resource_id=resource_id, as_of=to_stamp(as_of)
        )
    else:
        record = store().get(resource_type=resource_type, resource_id=resource_id)
    response = not_modified(record_etag(record)) or item_response(record)
    if settled(as_of):
        if isinstance(response, tuple):
            response[2]["Cache-Control"] = IMMUTABLE
        else:
            response.headers["Cache-Control"] = IMMUTABLE
    return response


def create_item(
    resource_type: str,
    resource_id: str,
    fields: Mapping[str, Any],
    *,
    actor: str,
    endpoint: str,
    url_arg: str,
):
    """Create a resource: 201 with Location and ETag. With an ``Idempotency-Key``, a retry of
    the same request replays the first response and writes nothing."""
    record = store().create(
        resource_type=resource_type,
        resource_id=resource_id,
        data=fields,
        actor=actor,
        idempotency=idempotency.key_of(actor),
    )
    location = url_for(endpoint, **{url_arg: record.id})
    body, status, headers = item_response(record, 201, location=location)
    if record.replayed:
        headers = {**headers, "Idempotent-Replayed": "true"}
    return body, status, headers


def replace_item(
    resource_type: str,
    resource_id: str,
    schema: Schema,
    *,
    actor: str,
    read_only: Iterable[str],
    patch: bool = False,
    pinned: Mapping[str, Any] | None = None,
):
    """PUT (replace) or PATCH (merge-patch) one resource under If-Match."""
    current = store().get(resource_type=resource_type, resource_id=resource_id)
    expected = expected_revision(current)
    body = read_json_object()
    read_only = set(read_only)
    if patch:
        stored_writable = {k: v for k, v in current.data.items() if k not in read_only}
        sent_read_only = {k: v for k, v in body.items() if k in read_only}
        body = {
            **merge_patch(stored_writable, {k: v for k, v in body.items() if k not in read_only}),
            **sent_read_only,
        }
    fields = load_fields(schema, body, read_only=read_only, stored=current.data, pinned=pinned)
    record = store().update(
        resource_type=resource_type,
        resource_id=resource_id,
        data=fields,
        expected_revision=expected,
        actor=actor,
    )
    return item_response(record)


def delete_item(resource_type: str, resource_id: str, *, actor: str):
    current = store().get(resource_type=resource_type, resource_id=resource_id)
    expected = expected_revision(current)
    store().delete(
        resource_type=resource_type,
        resource_id=resource_id,
        expected_revision=expected,
        actor=actor,
    )
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


def new_id(resource_type: str) -> str:
    """A server-assigned id: the kind and 64 random bits (``rule-3f9a1c2b7d4e5a60``)."""
    return f"{resource_type}-{secrets.token_hex(8)}"


def create_child(
    resource_type: str,
    checkpoint_id: str,
    schema: Schema,
    *,
    actor: str,
    endpoint: str,
    url_arg: str,
):
    """Create a rule or closure of a checkpoint from the request body."""
    fields = load_fields(
        schema,
        read_json_object(),
        read_only=("id", "checkpoint_id"),
        pinned={"checkpoint_id": checkpoint_id},
    )
    resource_id = new_id(resource_type)
    return create_item(
        resource_type,
        resource_id,
        {"id": resource_id, **fields},
        actor=actor,
        endpoint=endpoint,
        url_arg=url_arg,
    )


def replace_child(resource_type: str, resource_id: str, schema: Schema, *, actor: str, patch: bool):
    """PUT or PATCH a rule or closure: its id and checkpoint_id are read-only."""
    current = store().get(resource_type=resource_type, resource_id=resource_id)
    return replace_item(
        resource_type,
        resource_id,
        schema,
        actor=actor,
        read_only=("revision", "created_at", "updated_at"),
        patch=patch,
        pinned={"id": resource_id, "checkpoint_id": current.data["checkpoint_id"]},
    )


def time_key(moment) -> str | None:
    """A parsed query time as a storage timestamp."""
    return None if moment is None else to_stamp(moment)


def body_doc(schema: type[Schema], example: dict, *, patch: bool = False) -> dict:
    """The OpenAPI ``requestBody`` of a create, replace or merge-patch."""
    # A merge patch carries only what changes: the same schema, every field optional.
    if not patch:
        content = {"application/json": {"schema": schema, "example": example}}
        return {"requestBody": {"required": True, "content": content}}
    # One media type: generated clients handle a body of one type (openapi-python-client
    # fails to import an operation whose body has two); the server reads both the same way.
    content = {MERGE_PATCH: {"schema": schema(partial=True), "example": example}}
    description = f"A merge patch, sent as `{MERGE_PATCH}` or as `application/json`."
    return {"requestBody": {"required": True, "description": description, "content": content}}
