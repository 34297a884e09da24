"""Strong ETags of resource revisions: what ``If-Match`` and ``If-None-Match`` compare. Apart
from the conditional-request checks (etags.py), so that the error rendering can name the current
ETag of a 412 without importing them."""

from __future__ import annotations

import hashlib

from service.storage import Record


def etag_for(resource_type: str, resource_id: str, revision: int) -> str:
    """The strong ETag (unquoted) of one revision of one resource."""
    digest = hashlib.blake2s(f"{resource_type}/{resource_id}".encode(), digest_size=4).hexdigest()
    return f"{revision}-{digest}"


def quoted(etag: str) -> str:
    return f'"{etag}"'


def record_etag(record: Record) -> str:
    return etag_for(record.type, record.id, record.revision)
