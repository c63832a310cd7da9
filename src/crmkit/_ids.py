"""Identifiers: time-ordered UUIDs (RFC 9562 version 7).

Version 7 UUIDs begin with the millisecond they were made, so rows inserted one after another land
next to each other in a primary key index instead of at random places.

The layout follows RFC 9562: 48 bits of Unix milliseconds, the version (7), 12 bits of the
sub-millisecond fraction (the RFC's "increased clock precision", method 3 of its section 6.2),
the variant, and 62 random bits from the operating system's CSPRNG. The 60 time bits never go
backwards within a process: an id made in the same tick as the last one, or after the clock
stepped back, takes the last one's time plus one, so a process's ids sort in the order they
were made.
"""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID, SafeUUID

__all__ = ["new_id"]

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_FRACTION = 4096  # 12 bits of a millisecond

_lock = threading.Lock()
_last = 0  # the time bits of the last id: milliseconds << 12 | fraction
# Random bits are read from the OS in blocks, each id taking the next 8 bytes: one system call
# per 512 ids instead of one per id.
_BLOCK = 4096
_random = b""
_taken = _BLOCK
_new = object.__new__
_set = object.__setattr__


def new_id() -> UUID:
    """A new, time-ordered identifier (UUID version 7).

    Examples:
        >>> new_id().version
        7
    """
    global _last, _random, _taken  # noqa: PLW0603 (the process's state, under the lock)
    milliseconds, nanoseconds = divmod(time.time_ns(), 1_000_000)
    now = milliseconds << 12 | nanoseconds * _FRACTION // 1_000_000
    with _lock:
        if now <= _last:
            now = _last + 1
        _last = now
        if _taken == _BLOCK:
            _random, _taken = os.urandom(_BLOCK), 0
        start = _taken
        _taken += 8
        random = int.from_bytes(_random[start : start + 8])
    value = (now >> 12) << 80 | _VERSION | (now & 0xFFF) << 64 | _VARIANT | random >> 2
    # UUID(int=value) checks the range and sets the fields one by one; the value is in range
    # by construction, so the fields are set directly, as the standard library does inside.
    made: UUID = _new(UUID)
    _set(made, "int", value)
    _set(made, "is_safe", SafeUUID.unknown)
    return made
