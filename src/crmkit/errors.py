"""Every error crmkit raises, in one hierarchy.

Each public error derives from `CrmkitError` and from the builtin it naturally is, so callers can
catch either::

    CrmkitError
    ├── ValidationError (ValueError)      bad input; `.issues` names every bad field by its path
    ├── CurrencyMismatch (ValueError)     money of two currencies combined
├── MoneyOperationError (TypeError)   money added to a plain number, or divided
    ├── NotFound (LookupError)            no record with that key in this tenant
    ├── Conflict                          the write clashes with what is stored
    │   ├── DuplicateError                a key or unique value is already taken
    │   └── ConcurrencyError              the record changed since it was read (stale version)
    ├── UnitOfWorkClosed (RuntimeError)   a unit of work used after commit or rollback
    ├── ReadOnlyError (RuntimeError)      a write in a unit of work opened read-only
    └── StorageError                      the store failed; nothing was half-written
        ├── CorruptRecord                 a stored row does not load into a valid object
        ├── SchemaVersionError            the database schema is behind or ahead of the code
        └── TransientError                a retryable conflict (deadlock, serialisation, busy)
            └── RetriesExhausted          a unit of work kept failing transiently

No SQLAlchemy, driver or cattrs exception reaches a caller: adapters translate them here and keep
the original as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "ConcurrencyError",
    "Conflict",
    "CorruptRecord",
    "CrmkitError",
    "CurrencyMismatch",
    "DuplicateError",
    "Issue",
    "MissingRate",
    "MoneyOperationError",
    "NotFound",
    "ReadOnlyError",
    "RetriesExhausted",
    "SchemaVersionError",
    "StorageError",
    "TransientError",
    "UnitOfWorkClosed",
    "ValidationError",
]


class CrmkitError(Exception):
    """The root of every error crmkit raises."""


@attrs.frozen
class Issue:
    """One problem with one field of some input.

    Attributes:
        path: where the problem is, e.g. ``contacts[1].phones[0]``; empty for the whole object.
        problem: what is wrong, in words, e.g. ``not a valid phone number for region CN``.
    """

    path: str
    problem: str

    def under(self, prefix: str) -> Issue:
        """Return this issue as seen from the object that holds it at `prefix`."""
        if not prefix:
            return self
        if not self.path:
            return Issue(prefix, self.problem)
        joiner = "" if self.path.startswith("[") else "."
        return Issue(f"{prefix}{joiner}{self.path}", self.problem)

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


class ValidationError(CrmkitError, ValueError):
    """Input that does not make a valid object; nothing was created or written.

    `issues` lists every bad field found, each with its path.

    Examples:
        >>> from crmkit import Money
        >>> Money("1.234", "CNY")
        Traceback (most recent call last):
        ...
        crmkit.errors.ValidationError: amount: 1.234 has more decimal places than CNY allows (2)
    """

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        if len(self.issues) == 1:
            message = str(self.issues[0])
        else:
            lines = "\n".join(f"  {issue}" for issue in self.issues)
            message = f"{len(self.issues)} invalid fields:\n{lines}"
        super().__init__(message)

    @classmethod
    def of(cls, path: str, problem: str) -> ValidationError:
        """Build the error for a single problem at `path`."""
        return cls([Issue(path, problem)])

    def under(self, prefix: str) -> ValidationError:
        """Return the same issues as seen from the object holding the bad input at `prefix`."""
        return ValidationError(issue.under(prefix) for issue in self.issues)


class CurrencyMismatch(CrmkitError, ValueError):
    """Amounts of two different currencies were added, subtracted or compared."""

    def __init__(self, operation: str, left: str, right: str) -> None:
        self.left = left
        self.right = right
        super().__init__(
            f"cannot {operation} {left} and {right} amounts; convert one of them first"
        )


class MissingRate(CrmkitError, LookupError):
    """No exchange rate of a currency pair is in force on a date.

    Attributes:
        base: the currency converted from.
        quote: the currency converted to.
        on: the date the rate was needed for.
    """

    def __init__(self, base: str, quote: str, on: object) -> None:
        self.base = base
        self.quote = quote
        self.on = on
        super().__init__(f"no exchange rate from {base} to {quote} is in force on {on}")


class MoneyOperationError(CrmkitError, TypeError):
    """Money was combined with a plain number, or divided; the message says what to do instead.

    ``Money + 1`` is refused (is the 1 yuan or cents?); so is ``Money / 3``, which cannot be
    exact: `Money.allocate` splits an amount without losing a cent.
    """


class NotFound(CrmkitError, LookupError):
    """No record of that kind with that key exists in this tenant."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key} not found")


class Conflict(CrmkitError):
    """The write clashes with what is already stored; nothing of the unit of work was written."""


class DuplicateError(Conflict):
    """A record with the same key or unique value already exists."""

    def __init__(self, kind: str, field: str, value: object) -> None:
        self.kind = kind
        self.field = field
        self.value = value
        # Without the value (a batch, where the database does not say which record clashed):
        # "a customer with the same code already exists".
        shown = f"the same {field}" if value is None else f"{field} {value!r}"
        super().__init__(f"a {kind} with {shown} already exists")


class ConcurrencyError(Conflict):
    """The record was changed or deleted by someone else since it was read.

    Reload it, apply the change again and retry.
    """

    def __init__(self, kind: str, key: object, expected_version: int | None) -> None:
        self.kind = kind
        self.key = key
        self.expected_version = expected_version
        since = (
            "it was read" if expected_version is None else f"version {expected_version} was read"
        )
        super().__init__(
            f"{kind} {key} was changed or deleted since {since}; reload it and try again"
        )


class UnitOfWorkClosed(CrmkitError, RuntimeError):
    """A unit of work was used after it committed or rolled back."""


class ReadOnlyError(CrmkitError, RuntimeError):
    """A write was attempted in a unit of work opened with ``read_only=True``; nothing changed."""


class StorageError(CrmkitError):
    """The storage backend failed; the unit of work's writes were not applied."""


class CorruptRecord(StorageError):
    """A stored record does not load into a valid domain object."""

    def __init__(self, table: str, key: object, reason: str) -> None:
        self.table = table
        self.key = key
        super().__init__(f"record {key} in {table} is corrupt: {reason}")


class SchemaVersionError(StorageError):
    """The database's crmkit schema is not the version this code expects."""


class TransientError(StorageError):
    """A conflict that may pass if the whole unit of work is run again."""


class RetriesExhausted(TransientError):
    """A unit of work failed with transient errors on every attempt."""
