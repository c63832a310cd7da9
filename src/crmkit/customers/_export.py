"""Export customers and contacts to CSV or JSON Lines, a page of customers at a time.

The files have the columns `import_customers` and `import_contacts` read, written so that
importing them into an empty store gives the same customers back (see `crmkit.customers._files`
for how a CSV cell holds a list, a custom value or quiet hours).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from crmkit._converter import plain_data
from crmkit._validation import shown
from crmkit.customers._files import (
    ADDRESS,
    CONTACT_COLUMNS,
    CUSTOM,
    CUSTOMER_COLUMNS,
    FileFormat,
    custom_value_out,
    format_of,
    list_out,
    quiet_hours_out,
)
from crmkit.customers._model import Contact, Customer
from crmkit.errors import ValidationError

if TYPE_CHECKING:
    from crmkit._crm import CRM
    from crmkit.storage import UnitOfWork

__all__ = ["export_contacts", "export_customers"]

_MAX_PAGE = 100_000
_ACTOR = "crmkit.export"


def _pages(uow: UnitOfWork, size: int) -> Iterator[list[Customer]]:
    after = None
    while page := uow.customers.page(after=after, limit=size):
        yield page
        after = page[-1].id


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _json_cell(items: list[Any]) -> str:
    return json.dumps(items, ensure_ascii=False) if items else ""


def _customer_cells(customer: Customer, custom: list[str]) -> list[str]:
    c = customer
    address = c.address
    tier = c.tier
    plain = plain_data(c, Customer)
    cells = {
        "id": str(c.id),
        "external_id": _text(c.external_id),
        "name": c.name,
        "kind": c.kind.value,
        "code": _text(c.code),
        "owner_id": c.owner_id,
        "lifecycle": c.lifecycle.value,
        "source": _text(c.source),
        "tags": list_out(sorted(c.tags)),
        "timezone": c.timezone,
        "birthday": _text(c.birthday and c.birthday.isoformat()),
        **{p: _text(getattr(address, p)) if address else "" for p in ADDRESS},
        "tier": tier.code if tier else "",
        "tier_service_level": tier.service_level if tier else "",
        "preferences": list_out(list(c.preferences)),
        "anniversaries": _json_cell(plain["anniversaries"]),
        "do_not_contact": _json_cell(plain["do_not_contact"]),
    }
    values = c.custom_fields
    return [cells[k] for k in CUSTOMER_COLUMNS] + [
        custom_value_out(values[name]) if name in values else "" for name in custom
    ]


def _customer_object(customer: Customer) -> dict[str, Any]:
    plain = plain_data(customer, Customer)
    tier = plain.pop("tier")
    custom = plain.pop("custom_fields")
    row = {k: plain[k] for k in CUSTOMER_COLUMNS if k in plain}
    row["address"] = plain["address"]
    row["tier"] = tier["code"] if tier else None
    row["tier_service_level"] = tier["service_level"] if tier else None
    row["custom"] = custom
    return row


def _in_reporting_order(customer: Customer) -> list[Contact]:
    """The contacts, each after the one they report to (as an import must add them)."""
    placed: set[object] = set()
    ordered: list[Contact] = []
    waiting = list(customer.contacts)
    while waiting:
        rest = []
        for c in waiting:  # contacts keep their order where it is one an import can follow
            if c.reports_to is None or c.reports_to in placed:
                ordered.append(c)
                placed.add(c.id)
            else:
                rest.append(c)
        if len(rest) == len(waiting):  # a cycle cannot be stored; keep the rest as they are
            ordered.extend(rest)
            break
        waiting = rest
    return ordered


def _contact_object(customer: Customer, contact: Contact) -> dict[str, Any]:
    plain = plain_data(contact, Contact)
    plain["quiet_hours"] = (
        quiet_hours_out(contact.quiet_hours.start, contact.quiet_hours.end)
        if contact.quiet_hours
        else None
    )
    row: dict[str, Any] = {
        "customer_external_id": customer.external_id,
        "customer_id": str(customer.id),
    }
    row.update((k, plain[k]) for k in CONTACT_COLUMNS if k in plain)
    return row


def _contact_cells(customer: Customer, contact: Contact) -> list[str]:
    row = _contact_object(customer, contact)
    cells = {
        k: list_out(v) if isinstance(v, list) and k != "do_not_contact" else _text(v)
        for k, v in row.items()
    }
    cells["do_not_contact"] = _json_cell(row["do_not_contact"])
    return [cells[k] for k in CONTACT_COLUMNS]


def _open(file: object) -> tuple[IO[str], bool]:
    if isinstance(file, str | os.PathLike):
        try:
            return Path(file).open("w", encoding="utf-8", newline=""), True
        except OSError as e:
            raise ValidationError.of("file", f"cannot write {str(file)!r}: {e.strerror}") from e
    if not callable(getattr(file, "write", None)):
        raise ValidationError.of("file", f"must be a path or a text stream, not {shown(file)}")
    return file, False  # type: ignore[return-value]


def _export(
    crm: CRM,
    file: object,
    *,
    contacts: bool,
    fmt: str | None,
    tenant: str | None,
    page_size: int,
    progress: Callable[[int], object] | None,
) -> int:
    kind = format_of(file, fmt)
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValidationError.of("page_size", f"must be an integer, not {shown(page_size)}")
    if not 1 <= page_size <= _MAX_PAGE:
        raise ValidationError.of("page_size", f"must be from 1 to {_MAX_PAGE}, not {page_size}")
    if progress is not None and not callable(progress):
        raise ValidationError.of("progress", f"must be a function, not {shown(progress)}")
    stream, opened = _open(file)
    written = 0
    try:
        with crm.unit_of_work(actor=_ACTOR, tenant=tenant, read_only=True) as uow:
            write = _writer(stream, kind, contacts, _custom_names(crm, uow, page_size, kind))
            for page in _pages(uow, page_size):
                for customer in page:
                    written += write(customer)
                if progress is not None:
                    progress(written)
    finally:
        if opened:
            stream.close()
    return written


def _custom_names(crm: CRM, uow: UnitOfWork, size: int, kind: FileFormat) -> list[str]:
    """The custom fields a CSV file needs a column for: declared, or held by some customer."""
    if kind is FileFormat.JSONL:
        return []
    names = {f.name for f in crm.custom_fields.fields} if crm.custom_fields else set()
    for page in _pages(uow, size):
        for customer in page:
            names.update(customer.custom_fields)
    return sorted(names)


def _writer(
    stream: IO[str], kind: FileFormat, contacts: bool, custom: list[str]
) -> Callable[[Customer], int]:
    """A function writing a customer's row (or its contacts' rows), and the header now."""
    if kind is FileFormat.JSONL:

        def write_json(customer: Customer) -> int:
            rows = (
                [_contact_object(customer, c) for c in _in_reporting_order(customer)]
                if contacts
                else [_customer_object(customer)]
            )
            for row in rows:
                stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            return len(rows)

        return write_json
    out = csv.writer(stream, lineterminator="\n")
    if contacts:
        out.writerow(list(CONTACT_COLUMNS))
    else:
        out.writerow([*CUSTOMER_COLUMNS, *(f"{CUSTOM}{n}" for n in custom)])

    def write_csv(customer: Customer) -> int:
        if not contacts:
            out.writerow(_customer_cells(customer, custom))
            return 1
        people = _in_reporting_order(customer)
        out.writerows(_contact_cells(customer, c) for c in people)
        return len(people)

    return write_csv


def export_customers(
    crm: CRM,
    file: IO[str] | str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002 (the word a reader expects, as in the CLI)
    tenant: str | None = None,
    page_size: int = 500,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write a tenant's customers to a CSV or JSON Lines file, in id order, page by page.

    The columns are those `import_customers` reads, with a ``custom.<name>`` column for every
    custom field declared or in use (CSV) or a ``custom`` object (JSON Lines); contacts go in a
    file of their own (`export_contacts`). Only a page of customers is in memory at a time, and
    everything is read in one read-only unit of work, so the file is one consistent picture.

    Examples:
        >>> import io
        >>> import crmkit
        >>> from crmkit.customers import Customer, export_customers
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(Customer(name="Acme", owner_id="li", external_id="ERP-1",
        ...                                tags={"vip", "north"}))
        >>> out = io.StringIO()
        >>> export_customers(crm, out, format="jsonl")
        1
        >>> '"tags": ["north", "vip"]' in out.getvalue()
        True

    Args:
        crm: the CRM to export from.
        file: a path (written as UTF-8) or a text stream.
        format: ``"csv"`` or ``"jsonl"``; by default from the file's name, else CSV.
        tenant: the tenant to export (the CRM's default if not given).
        page_size: customers read at a time (1 to 100,000).
        progress: called after each page with the number of rows written so far.

    Returns:
        The number of rows written (the header not counted).
    """
    return _export(
        crm,
        file,
        contacts=False,
        fmt=format,
        tenant=tenant,
        page_size=page_size,
        progress=progress,
    )


def export_contacts(
    crm: CRM,
    file: IO[str] | str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002 (as in export_customers)
    tenant: str | None = None,
    page_size: int = 500,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write every contact of a tenant's customers to a file `import_contacts` reads.

    Each row names its customer by ``customer_external_id`` and ``customer_id``; a customer's
    contacts come each after the one they report to, so an import can add them in file order.
    Otherwise as `export_customers`.

    Returns:
        The number of rows (contacts) written.
    """
    return _export(
        crm,
        file,
        contacts=True,
        fmt=format,
        tenant=tenant,
        page_size=page_size,
        progress=progress,
    )
