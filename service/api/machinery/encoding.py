"""The one JSON encoder of the service: orjson behind Flask's JSON provider, so that every
``flask.json.dumps``, ``jsonify`` and flask-smorest response goes through it."""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Values orjson would encode its own way (datetimes as RFC 3339, dataclasses, subclasses of
# str and int) go to Flask's ``default`` as they did before; keys stay in insertion order.
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_NON_STR_KEYS
)


class JSONProvider(DefaultJSONProvider):
    """Compact UTF-8 JSON from orjson; ``sort_keys=True`` sorts the keys (content ETags).
    Anything else asked of it (``indent``), or a value orjson refuses (an integer beyond
    64 bits), is encoded by the standard library as before."""

    sort_keys = False
    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        sort_keys = kwargs.pop("sort_keys", self.sort_keys)
        kwargs.pop("separators", None)
        if not kwargs:
            option = _OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _OPTIONS
            try:
                return orjson.dumps(obj, default=self.default, option=option).decode()
            except TypeError:
                pass
        return super().dumps(obj, sort_keys=sort_keys, **kwargs)
