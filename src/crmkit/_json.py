"""JSON text for what crmkit stores: compact, keys in order or sorted, non-ASCII text kept.

Every write puts JSON text on its hot path: a customer's details, the change log's before and
after, an event's body in the outbox. orjson writes it several times faster than the standard
library. Where orjson refuses a value that the standard library takes (an integer beyond 64
bits, a key that is not text), the standard library writes it, so for crmkit's plain data
(text, whole numbers, booleans, ``None``, lists and dicts) the text is always what
``json.dumps(data, ensure_ascii=False, separators=(",", ":"))`` gives.

Reading stays with the standard library's ``json.loads``: orjson reads an integer beyond 64
bits as a float, which would not read back equal.

Floats: crmkit's plain data holds none (the converter refuses a float that is not finite, which
orjson would write as ``null``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "dumps_sorted"]

_SORTED = orjson.OPT_SORT_KEYS
_std = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_std_sorted = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True
).encode


def dumps(data: Any) -> str:  # noqa: ANN401 (any JSON value)
    """`data` as compact JSON text, keys in the order the dicts hold them.

    Raises:
        TypeError: `data` holds a value that JSON cannot represent (a set, an object), or text
            with a lone surrogate.
        ValueError: `data` holds a float that is not finite (from the standard library's path).
    """
    try:
        return orjson.dumps(data).decode()
    except TypeError:
        # Integers beyond 64 bits and keys that are not text: the standard library writes
        # them, and raises as it would for anything that is not JSON at all.
        return _std(data)


def dumps_sorted(data: Any) -> str:  # noqa: ANN401 (any JSON value)
    """`dumps`, with the keys of every dict sorted: one text for one document.

    Raises:
        TypeError, ValueError: as `dumps`.
    """
    try:
        return orjson.dumps(data, option=_SORTED).decode()
    except TypeError:
        return _std_sorted(data)
