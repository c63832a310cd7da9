"""Customer aggregates and interactions to table rows and back.

Loading goes through the domain constructors, so a stored row that breaks a rule of the domain
surfaces as `CorruptRecord` instead of an invalid object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._converter import make_converter
from crmkit.customers import (
    Address,
    Anniversary,
    BuyingRole,
    Channel,
    Contact,
    Customer,
    CustomerKind,
    DoNotContact,
    LifecycleStage,
    QuietHours,
    Tier,
)
from crmkit.customers._custom_values import custom_in, custom_out
from crmkit.errors import CorruptRecord, CrmkitError
from crmkit.storage._arguments import email_key

__all__ = [
    "contact_key_values",
    "customer_from_rows",
    "customer_row",
]

Row = dict[str, Any]
T = TypeVar("T")


CUSTOMER_COLUMNS = (
    "tenant_id",
    "id",
    "version",
    "kind",
    "name",
    "code",
    "owner_id",
    "lifecycle",
    "source",
    "tier_code",
    "tier_service_level",
    "timezone",
    "birthday",
    "details",
    "external_id",
)
"""The columns of the ``customers`` table, in table order."""
CONTACT_COLUMNS = (
    "tenant_id",
    "id",
    "customer_id",
    "position",
    "name",
    "title",
    "reports_to",
    "birthday",
    "details",
    "external_id",
)
"""The columns of the ``contacts`` table, in table order."""


def customer_row(tenant_id: str, c: Customer, version: int) -> Row:
    """The ``customers`` row of `c`, at `version`, by column name."""
    return dict(zip(CUSTOMER_COLUMNS, customer_values(tenant_id, c, version), strict=True))


def customer_values(tenant_id: str, c: Customer, version: int) -> tuple[Any, ...]:
    """The ``customers`` row of `c`, at `version`, in `CUSTOMER_COLUMNS` order."""
    details: dict[str, Any] = {}
    if c.tags:
        details["tags"] = sorted(c.tags)
    if c.custom_fields:
        details["custom_fields"] = custom_out(c.custom_fields)
    if c.preferences:
        details["preferences"] = list(c.preferences)
    if c.anniversaries:
        details["anniversaries"] = make_converter().unstructure(
            c.anniversaries, tuple[Anniversary, ...]
        )
    if c.do_not_contact:
        details["do_not_contact"] = make_converter().unstructure(
            c.do_not_contact, tuple[DoNotContact, ...]
        )
    if c.address is not None:
        details["address"] = make_converter().unstructure(c.address, Address)
    tier = c.tier
    return (
        tenant_id,
        c.id,
        version,
        c.kind.value,
        c.name,
        c.code,
        c.owner_id,
        c.lifecycle.value,
        c.source,
        None if tier is None else tier.code,
        None if tier is None else tier.service_level,
        c.timezone,
        c.birthday,
        details,
        c.external_id,
    )


def contact_values(tenant_id: str, c: Customer) -> list[tuple[Any, ...]]:
    """The ``contacts`` rows of `c`'s contacts, in order, each in `CONTACT_COLUMNS` order."""
    rows = []
    for position, p in enumerate(c.contacts):
        details: dict[str, Any] = {}
        if p.roles:
            details["roles"] = sorted(r.value for r in p.roles)
        if p.phones:
            details["phones"] = [n.e164 for n in p.phones]
        if p.emails:
            details["emails"] = [e.address for e in p.emails]
        if p.timezone is not None:
            details["timezone"] = p.timezone
        if p.opt_outs:
            details["opt_outs"] = sorted(ch.value for ch in p.opt_outs)
        if p.quiet_hours is not None:
            details["quiet_hours"] = make_converter().unstructure(p.quiet_hours, QuietHours)
        if p.do_not_contact:
            details["do_not_contact"] = make_converter().unstructure(
                p.do_not_contact, tuple[DoNotContact, ...]
            )
        rows.append(
            (
                tenant_id,
                p.id,
                c.id,
                position,
                p.name,
                p.title,
                p.reports_to,
                p.birthday,
                details,
                p.external_id,
            )
        )
    return rows


def contact_key_values(tenant_id: str, c: Customer) -> list[tuple[Any, ...]]:
    """The ``contact_keys`` rows of `c`: one per phone number and email address of a contact.

    In table order: tenant, kind (``"phone"`` or ``"email"``), value, contact, customer.
    """
    rows: list[tuple[Any, ...]] = []
    for p in c.contacts:
        keys = {("phone", n.e164) for n in p.phones} | {
            ("email", email_key(e.address)) for e in p.emails
        }
        rows.extend((tenant_id, kind, value, p.id, c.id) for kind, value in sorted(keys))
    return rows


def _contact(row: Mapping[Any, Any]) -> Contact:
    details = row["details"]
    return Contact(
        id=row["id"],
        name=row["name"],
        title=row["title"],
        roles=frozenset(BuyingRole(r) for r in details.get("roles", ())),
        reports_to=row["reports_to"],
        phones=tuple(PhoneNumber(n) for n in details.get("phones", ())),
        emails=tuple(EmailAddress(e) for e in details.get("emails", ())),
        birthday=row["birthday"],
        external_id=row["external_id"],
        timezone=details.get("timezone"),
        opt_outs=frozenset(Channel(ch) for ch in details.get("opt_outs", ())),
        quiet_hours=_trusted(details.get("quiet_hours"), QuietHours),
        do_not_contact=make_converter(trusted=True).structure(
            details.get("do_not_contact", []), tuple[DoNotContact, ...]
        ),
    )


def _trusted(value: Any, cls: type[T]) -> T | None:  # noqa: ANN401
    return None if value is None else make_converter(trusted=True).structure(value, cls)


def customer_from_rows(
    table: str, row: Mapping[Any, Any], contacts: Sequence[Mapping[Any, Any]]
) -> Customer:
    """The customer stored in `row` with its `contacts` rows (already in position order).

    Raises:
        CorruptRecord: the rows do not make a valid customer.
    """
    try:
        details = row["details"]
        tier_code = row["tier_code"]
        return Customer(
            id=row["id"],
            version=row["version"],
            kind=CustomerKind(row["kind"]),
            name=row["name"],
            code=row["code"],
            external_id=row["external_id"],
            address=_trusted(details.get("address"), Address),
            owner_id=row["owner_id"],
            lifecycle=LifecycleStage(row["lifecycle"]),
            source=row["source"],
            tier=None
            if tier_code is None
            else Tier(code=tier_code, service_level=row["tier_service_level"] or ""),
            timezone=row["timezone"],
            birthday=row["birthday"],
            tags=frozenset(details.get("tags", ())),
            custom_fields=custom_in(details.get("custom_fields", {}), None),
            preferences=tuple(details.get("preferences", ())),
            anniversaries=make_converter(trusted=True).structure(
                details.get("anniversaries", []), tuple[Anniversary, ...]
            ),
            do_not_contact=make_converter(trusted=True).structure(
                details.get("do_not_contact", []), tuple[DoNotContact, ...]
            ),
            contacts=[_contact(p) for p in contacts],
        )
    except (CrmkitError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorruptRecord(table, _key(row), str(e)) from e


def _key(row: Mapping[Any, Any]) -> UUID | str:
    try:
        key = row["id"]
    except (KeyError, TypeError):
        return "?"
    return key if isinstance(key, UUID) else str(key)
