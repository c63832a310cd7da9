"""Records of a fixed width kept flat in one list, for what a bulk write holds until its commit.

A unit of work that writes 100,000 records keeps a change-log entry and an outbox record for
each until it commits. As tuples, those are 100,000 containers alive for the whole write: the
garbage collector walks them, promotes them to its oldest generation, and walks the whole heap
once enough have been promoted. Kept flat, the values of all the records sit in one list, and
the collector has one container to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Flat"]

R = TypeVar("R", bound=tuple[Any, ...])


class Flat(Generic[R]):
    """Records (tuples of `width` values) kept as one flat list; iterating gives the tuples."""

    __slots__ = ("_values", "_width")

    def __init__(self, width: int) -> None:
        self._width = width
        self._values: list[Any] = []

    def append(self, record: R) -> None:
        """Add `record` (a tuple of `width` values) after the others."""
        if len(record) != self._width:
            raise ValueError(f"a record of {len(record)} values, not {self._width}")
        self._values.extend(record)

    def clear(self) -> None:
        """Forget every record."""
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values) // self._width

    def __iter__(self) -> Iterator[R]:
        values = iter(self._values)
        return zip(*[values] * self._width, strict=True)  # type: ignore[return-value]

    def __contains__(self, record: object) -> bool:
        return any(r == record for r in self)
