"""The answered form of a schema: the fields it dumps, each documented as always present
(``required``), so that a generated client reads a response without optional wrappers.

A response is dumped from a plain value that carries every field (null where nothing is
known), so every field of an answer is present. A schema that is both read in a request and
answered has two forms in the spec: the answered one under its own name (``Checkpoint``) and
the request one as ``CheckpointInput`` (its merge-patch form is ``CheckpointPatch``)."""

from __future__ import annotations

import copy
from typing import TypeVar

from apispec.ext.marshmallow.common import get_fields
from marshmallow import Schema, fields

S = TypeVar("S", bound=type[Schema])

#: The answered form of each schema class that has one.
_FORMS: dict[type[Schema], type[Schema]] = {}


def is_answered(schema: Schema | type[Schema]) -> bool:
    return getattr(schema, "ANSWERED", False)


def has_answered_form(schema: Schema | type[Schema]) -> bool:
    return (schema if isinstance(schema, type) else type(schema)) in _FORMS


def answered(schema):
    """The answered form of a schema class (or of an instance's class); anything else (a
    plain JSON schema dict, None) as it is."""
    if isinstance(schema, Schema):
        return _answered_class(type(schema))(
            many=schema.many, only=schema.only, exclude=schema.exclude
        )
    if isinstance(schema, type) and issubclass(schema, Schema):
        return _answered_class(schema)
    return schema


def _answered_class(cls: S) -> S:
    if is_answered(cls):
        return cls
    if cls not in _FORMS:
        overrides = {}
        for name, field in cls._declared_fields.items():
            changed = _answered_field(field)
            if changed is not field:
                overrides[name] = changed
        # The same class name: the spec names it as the plain schema would be named.
        _FORMS[cls] = type(cls.__name__, (cls,), {**overrides, "ANSWERED": True})
    return _FORMS[cls]


def _answered_field(field: fields.Field) -> fields.Field:
    """The field with every schema it nests in its answered form (itself when none)."""
    if isinstance(field, fields.Nested) and not isinstance(field.nested, str | type(lambda: 0)):
        changed = copy.copy(field)
        changed.nested = answered(field.nested)
        return changed
    if isinstance(field, fields.List):
        inner = _answered_field(field.inner)
        if inner is not field.inner:
            changed = copy.copy(field)
            changed.inner = inner
            return changed
    if isinstance(field, fields.Dict) and field.value_field is not None:
        value = _answered_field(field.value_field)
        if value is not field.value_field:
            changed = copy.copy(field)
            changed.value_field = value
            return changed
    return field


def required_names(schema: Schema | type[Schema]) -> list[str]:
    """The names an answer of ``schema`` always carries: every field it dumps but those it
    names in ``OPTIONAL_IN_ANSWERS`` (a problem's extension members)."""
    optional = getattr(schema, "OPTIONAL_IN_ANSWERS", ())
    return [
        field.data_key or name
        for name, field in get_fields(schema, exclude_dump_only=False).items()
        if not field.load_only and name not in optional
    ]
