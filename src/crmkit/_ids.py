"""Identifiers: time-ordered UUIDs (RFC 9562 version 7).

Version 7 UUIDs begin with the millisecond they were made, so rows inserted one after another land
next to each other in a primary key index instead of at random places.
"""

from __future__ import annotations

from uuid import UUID

from uuid6 import uuid7

__all__ = ["new_id"]


def new_id() -> UUID:
    """A new, time-ordered identifier (UUID version 7).

    Examples:
        >>> new_id().version
        7
    """
    return uuid7()
