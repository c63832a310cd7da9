"""Handing a departing salesperson's customers to others, by a rule, with a record of it.

A rule (`ToOne`, `EvenSplit`, `ByRegion`) places each customer with a new owner; it places
every customer or refuses before anything is written, so no customer is ever left without an
owner. `transfer_ownership` applies it in one unit of work, with the open leads, open
opportunities and open complaints that go with the customers, and keeps an `OwnershipTransfer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

import attrs
import pendulum

from crmkit._ids import new_id
from crmkit._validation import ON_SETATTR, Validated, as_tuple, check, optional, text
from crmkit.customers._model import Customer, _instant, _key, _uuid, version_check
from crmkit.errors import Issue, ValidationError

__all__ = [
    "ByRegion",
    "EvenSplit",
    "OwnershipTransfer",
    "ToOne",
    "TransferRule",
]


class TransferRule(Protocol):
    """Where a departing salesperson's customers go: `ToOne`, `EvenSplit`, `ByRegion`."""

    kind: str

    @property
    def owners(self) -> tuple[str, ...]:
        """Everyone the rule may hand a customer to, in its order."""
        ...

    def place(self, customers: Sequence[Customer]) -> dict[UUID, str]:
        """The new owner of each customer (by id).

        Raises:
            ValidationError: a customer cannot be placed (nothing is handed over then).
        """
        ...

    def place_keys(self, keys: Sequence[tuple[UUID, str | None]]) -> dict[UUID, str]:
        """The new owner of each record given as ``(id, region)`` (a lead and its territory)."""
        ...


def _owners(value: object) -> str | list[Issue] | None:
    if not isinstance(value, tuple) or not value:
        return "must name at least one salesperson"
    found: list[Issue] = []
    seen: set[object] = set()
    for i, who in enumerate(value):
        problem = _key(who)
        if problem is not None:
            found.append(Issue(f"[{i}]", problem))
        elif who in seen:
            found.append(Issue(f"[{i}]", f"{who!r} appears twice"))
        seen.add(who)
    return found or None


@attrs.frozen
class ToOne(Validated):
    """Hand every customer to one salesperson.

    Examples:
        >>> from crmkit.customers import Customer, ToOne
        >>> a = Customer(name="Acme", owner_id="li")
        >>> ToOne("wang").place([a]) == {a.id: "wang"}
        True
    """

    owner: str = attrs.field(metadata=check(_key))
    kind = "to_one"

    @property
    def owners(self) -> tuple[str, ...]:
        """Just `owner`."""
        return (self.owner,)

    def place(self, customers: Sequence[Customer]) -> dict[UUID, str]:
        """Every customer with `owner`."""
        return {c.id: self.owner for c in customers}

    def place_keys(self, keys: Sequence[tuple[UUID, str | None]]) -> dict[UUID, str]:
        """Every record with `owner`."""
        return {k: self.owner for k, _ in keys}


@attrs.frozen
class EvenSplit(Validated):
    """Share the customers out evenly: each owner gets as many as the next, give or take one.

    Deterministic: the customers are taken in id order and dealt round the owners in the order
    given, so the same customers always go to the same people.

    Examples:
        >>> from crmkit.customers import Customer, EvenSplit
        >>> cs = [Customer(name=f"C{i}", owner_id="li") for i in range(5)]
        >>> placed = EvenSplit(("wang", "zhao")).place(cs)
        >>> sorted(list(placed.values()).count(o) for o in ("wang", "zhao"))
        [2, 3]
    """

    owners: tuple[str, ...] = attrs.field(converter=as_tuple, metadata=check(_owners))
    kind = "even_split"

    def place(self, customers: Sequence[Customer]) -> dict[UUID, str]:
        """Each customer with the next owner in turn, in customer id order."""
        return self.place_keys([(c.id, None) for c in customers])

    def place_keys(self, keys: Sequence[tuple[UUID, str | None]]) -> dict[UUID, str]:
        """Each record with the next owner in turn, in id order."""
        ordered = sorted(k for k, _ in keys)
        return {k: self.owners[i % len(self.owners)] for i, k in enumerate(ordered)}


def _regions(value: object) -> str | list[Issue] | None:
    if not isinstance(value, Mapping) or not value:
        return "must map at least one region or city to a salesperson"
    found: list[Issue] = []
    for name, who in value.items():
        problem = text(max_length=100)(name)
        if problem is not None:
            found.append(Issue(f"[{name!r}]", f"region {problem}"))
            continue
        problem = _key(who)
        if problem is not None:
            found.append(Issue(f"[{name!r}]", problem))
    return found or None


def _frozen_mapping(value: Any) -> Any:  # noqa: ANN401 (whatever the caller passed)
    return dict(value) if isinstance(value, Mapping) else value


@attrs.frozen
class ByRegion(Validated):
    """Hand each customer to whoever covers its region (or, failing that, its city).

    A customer's region and city come from `Customer.address`; a lead's from its
    `territory`. One with neither matching goes to `default`; without a default, the rule
    refuses, naming the customers it cannot place.

    Examples:
        >>> from crmkit.customers import Address, ByRegion, Customer
        >>> gd = Customer(name="A", owner_id="li", address=Address(region="广东省"))
        >>> sh = Customer(name="B", owner_id="li", address=Address(city="上海市"))
        >>> rule = ByRegion({"广东省": "wang", "上海市": "zhao"})
        >>> sorted(rule.place([gd, sh]).values())
        ['wang', 'zhao']
    """

    regions: dict[str, str] = attrs.field(
        converter=_frozen_mapping, metadata=check(_regions), hash=False
    )
    default: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    kind = "by_region"

    @property
    def owners(self) -> tuple[str, ...]:
        """The owners of the regions, then the default, each once."""
        named = [*self.regions.values(), *([self.default] if self.default else [])]
        return tuple(dict.fromkeys(named))

    def _owner(self, *names: str | None) -> str | None:
        for name in names:
            if name and name in self.regions:
                return self.regions[name]
        return self.default

    def place(self, customers: Sequence[Customer]) -> dict[UUID, str]:
        """Each customer with the owner of its region, else its city, else the default.

        Raises:
            ValidationError: a customer matches no region and there is no default.
        """
        found: dict[UUID, str] = {}
        missing: list[UUID] = []
        for c in customers:
            a = c.address
            owner = self._owner(a.region, a.city) if a is not None else self.default
            if owner is None:
                missing.append(c.id)
            else:
                found[c.id] = owner
        _refuse(missing, "customer")
        return found

    def place_keys(self, keys: Sequence[tuple[UUID, str | None]]) -> dict[UUID, str]:
        """Each record with the owner of its region, else the default."""
        found: dict[UUID, str] = {}
        missing: list[UUID] = []
        for key, region in keys:
            owner = self._owner(region)
            if owner is None:
                missing.append(key)
            else:
                found[key] = owner
        _refuse(missing, "lead")
        return found


def _refuse(missing: list[UUID], what: str) -> None:
    if missing:
        shown_ids = ", ".join(str(k) for k in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""  # noqa: PLR2004
        raise ValidationError.of(
            "rule",
            f"places no {what} {shown_ids}{more}: no region matches and there is no default",
        )


def _counts(value: object) -> str | None:
    if not isinstance(value, dict):
        return f"must be a dict of salesperson to count, not {type(value).__name__}"
    for who, n in value.items():
        problem = _key(who)
        if problem is not None:
            return f"key {problem}"
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            return f"{who!r}: {n!r} is not a count"
    return None


def _count(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        return f"{value!r} is not a count"
    return None


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class OwnershipTransfer(Validated):
    """The record of one handing-over of a departing salesperson's book: never changed.

    Attributes:
        from_owner: who left.
        to_owners: who could receive, in the rule's order.
        rule: the kind of rule (``"to_one"``, ``"even_split"``, ``"by_region"``).
        at: when (UTC).
        by: who did it (the unit of work's actor).
        reason: why, in words.
        customers: how many customers each new owner received.
        leads: how many open leads each new owner received.
        opportunities: how many open opportunities moved (with their customers).
        complaints: how many open complaints moved (with their customers).
        id: the record's identifier; a new UUIDv7 by default.
        version: how many times it was stored; 0 until it is first added.
    """

    from_owner: str = attrs.field(metadata=check(_key))
    to_owners: tuple[str, ...] = attrs.field(converter=as_tuple, metadata=check(_owners))
    rule: str = attrs.field(metadata=check(_key))
    at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    by: str = attrs.field(metadata=check(_key))
    reason: str = attrs.field(metadata=check(text(max_length=500)))
    customers: dict[str, int] = attrs.field(factory=dict, metadata=check(_counts))
    leads: dict[str, int] = attrs.field(factory=dict, metadata=check(_counts))
    opportunities: int = attrs.field(default=0, metadata=check(_count))
    complaints: int = attrs.field(default=0, metadata=check(_count))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    version: int = attrs.field(default=0, metadata=check(version_check))

    def _invariants(self) -> list[Issue]:
        if isinstance(self.to_owners, tuple) and self.from_owner in self.to_owners:
            return [Issue("to_owners", f"include the departing {self.from_owner!r}")]
        return []
