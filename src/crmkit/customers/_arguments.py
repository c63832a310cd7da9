"""Checks of the services' arguments that the customers capability's services share."""

from __future__ import annotations

from uuid import UUID

from crmkit.customers._model import _uuid
from crmkit.errors import ValidationError

__all__ = ["an_id"]


def an_id(value: object, name: str) -> UUID:
    """`value` as a UUID, or `ValidationError` naming `name`."""
    problem = _uuid(value)
    if problem is not None:
        raise ValidationError.of(name, problem)
    assert isinstance(value, UUID)  # noqa: S101 (checked above)
    return value
