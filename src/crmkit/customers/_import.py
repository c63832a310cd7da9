"""Import customers and contacts from CSV or JSON Lines: streamed, in batches, row by row.

Every row is all or nothing: a row that does not make a valid customer (or contact) is
reported with its row number, its column and the problem, and the others are written. The file
is read as a stream, a batch of rows at a time (500 by default), each batch in a unit of work
of its own; a batch is looked up by external id in one query, its known customers updated and
its new ones added. A batch that the store refuses as a whole (a code already taken, say) is
written again one row per unit of work, so its good rows land and its bad row is reported.

The columns and how a CSV cell holds each value are described in `crmkit.customers._files`
and in ``docs/import-export.md``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

import attrs

from crmkit._contact_points import check_region
from crmkit._converter import make_converter
from crmkit._validation import key_text, shown
from crmkit.customers._custom_fields import CustomField, CustomFieldSchema
from crmkit.customers._custom_values import custom_out
from crmkit.customers._files import (
    ADDRESS,
    CONTACT_COLUMNS,
    CUSTOM,
    CUSTOMER_COLUMNS,
    Cell,
    FileFormat,
    csv_rows,
    custom_value_in,
    format_of,
    json_in,
    jsonl_rows,
    list_in,
    quiet_hours_in,
)
from crmkit.customers._model import DEFAULT_TIERS, Contact, Customer, QuietHours
from crmkit.customers._services import register_customers, update_customer
from crmkit.errors import DuplicateError, Issue, NotFound, ValidationError

if TYPE_CHECKING:
    from crmkit._crm import CRM
    from crmkit.storage import UnitOfWork

__all__ = ["ColumnMapping", "ImportReport", "RowError", "import_contacts", "import_customers"]

_ALIASES = {"phone": "phones", "email": "emails", "tag": "tags", "role": "roles"}
# Columns whose values are keys (no surrounding whitespace is allowed): their cells are trimmed.
_KEYS = {
    "id",
    "external_id",
    "code",
    "owner_id",
    "kind",
    "lifecycle",
    "source",
    "timezone",
    "birthday",
    "country",
    "tier",
    "customer_external_id",
    "customer_id",
    "reports_to",
}
# Columns an empty cell leaves as they are (a new record takes the default), since they
# cannot be empty: a customer's, and a contact's.
_KEEP_IF_EMPTY = (
    frozenset({"id", "name", "owner_id", "kind", "lifecycle", "timezone"}),
    frozenset({"id", "name"}),
)
_check_key = key_text(max_length=128)
_MAX_BATCH = 100_000


@attrs.frozen
class RowError:
    """One problem with one row of an imported file.

    Attributes:
        row: the row's number as the file counts it: for CSV the header is row 1 and the first
            customer row 2; for JSON Lines, the line number.
        field: the column, as the file names it (``""`` for the row as a whole).
        message: what is wrong, e.g. ``[1]: not a valid phone number for region CN``.
    """

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, {self.field}" if self.field else f"row {self.row}"
        return f"{where}: {self.message}"


@attrs.frozen(kw_only=True)
class ImportReport:
    """What an import did: how many rows it read, added, updated, left alone and refused.

    Attributes:
        read: the rows read (blank rows and the header not counted).
        added: rows that added a new customer (or contact).
        updated: rows that changed a stored one (or one an earlier row of the file added).
        unchanged: rows that matched a stored one exactly.
        failed: rows refused, each with at least one entry in `errors`.
        errors: the problems found, in file order (at most `max_errors` of an import; a
            problem with the header, such as an unknown column, comes as row 1).
    """

    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: tuple[RowError, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every row was imported (no errors)."""
        return not self.errors

    def summary(self) -> str:
        """One line: the counts, e.g. ``3 rows read: 2 added, 0 updated, 0 unchanged, 1 failed``."""
        return (
            f"{self.read} rows read: {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.failed} failed"
        )


@attrs.frozen
class ColumnMapping:
    """How the columns of a file (or keys of JSON Lines objects) name crmkit's columns.

    Columns the mapping does not name are taken as crmkit's own names (``name``, ``tags``,
    ``custom.segment``, ...); a column mapped to ``None`` is ignored. A column crmkit does not
    know is an error (reported as row 1 of a CSV file, which then imports nothing; on the line
    of a JSON Lines file) unless `ignore_unknown` is set. Several columns may fill one list
    (``{"Tel": "phones", "Mobile": "phones"}``).

    Examples:
        >>> mapping = ColumnMapping({"Company": "name", "Tel": "phones", "Notes": None})
        >>> mapping.column("Company"), mapping.column("Notes"), mapping.column("city")
        ('name', None, 'city')

    Attributes:
        columns: a file's column name to crmkit's column name (or ``None`` to ignore it).
        ignore_unknown: ignore columns crmkit does not know instead of refusing them.
    """

    columns: Mapping[str, str | None] = attrs.field(factory=dict)
    ignore_unknown: bool = attrs.field(default=False, kw_only=True)

    @columns.validator
    def _check(self, _: object, columns: object) -> None:
        if not isinstance(columns, Mapping):
            raise ValidationError.of("columns", f"must be a dict, not {type(columns).__name__}")
        for name, target in columns.items():
            if not isinstance(name, str) or not (target is None or isinstance(target, str)):
                raise ValidationError.of(
                    f"columns[{shown(name)}]", "must map a column name to a name or None"
                )
        if not isinstance(self.ignore_unknown, bool):
            raise ValidationError.of("ignore_unknown", "must be True or False")

    def column(self, name: str) -> str | None:
        """The crmkit column the file's column `name` fills (``None``: it is ignored)."""
        target = self.columns.get(name, name)
        return None if target is None else _ALIASES.get(target, target)

    def header(self, column: str) -> str:
        """The file's name for crmkit's `column` (for a report)."""
        for name, target in self.columns.items():
            if target is not None and _ALIASES.get(target, target) == column:
                return name
        return column


@attrs.define
class _Row:
    number: int
    values: dict[str, Any]
    text: bool  # values are CSV cells (else JSON values)
    problems: list[RowError] = attrs.Factory(list)
    header: bool = False  # the CSV header, refused: no row of data

    def key(self, column: str) -> str | None:
        """The row's key in `column` (``None`` if it has none, or it is no valid key)."""
        value = self.values.get(column)
        if not isinstance(value, str):
            return None
        value = value.strip()
        return value if value and not _check_key(value) else None

    def uuid(self, column: str) -> UUID | None:
        text = self.key(column)
        with contextlib.suppress(ValueError):
            return UUID(text) if text else None
        return None


@attrs.define
class _Outcome:
    row: int
    status: str  # added, updated, unchanged or failed
    errors: list[RowError] = attrs.Factory(list)


@attrs.define
class _Context:
    """What every row of one import needs."""

    mapping: ColumnMapping
    region: str | None
    schema: CustomFieldSchema | None
    contacts: bool

    @property
    def declared(self) -> dict[str, CustomField]:
        """The declared custom fields, by name."""
        return {f.name: f for f in self.schema.fields} if self.schema else {}

    def failed(self, row: _Row, error: ValidationError | DuplicateError | NotFound) -> _Outcome:
        """The outcome of a row refused with `error`, its issues named by the file's columns."""
        if isinstance(error, DuplicateError):
            column = _column_of(error.field)[0]
            issues = [RowError(row.number, self.mapping.header(column), str(error))]
        elif isinstance(error, NotFound):
            issues = [RowError(row.number, "", str(error))]
        else:
            issues = [self._row_error(row.number, issue) for issue in error.issues]
        return _Outcome(row.number, "failed", issues)

    def _row_error(self, number: int, issue: Issue) -> RowError:
        column, rest = _column_of(issue.path)
        message = f"{rest}: {issue.problem}" if rest else issue.problem
        return RowError(number, self.mapping.header(column) if column else "", message)


def _column_of(path: str) -> tuple[str, str]:
    """The column a field's `path` comes from, and the rest of the path."""
    cut = min((i for i in (path.find("."), path.find("[")) if i >= 0), default=len(path))
    head, rest = path[:cut], path[cut:].lstrip(".")
    if head == "address" and rest:
        part, _, rest = rest.partition(".")
        return part, rest
    if head == "custom_fields" and rest:
        name = rest[1:-1] if rest.startswith("[") else rest
        return f"{CUSTOM}{name.strip(chr(39))}", ""
    if head == "tier" and rest.startswith("service_level"):
        return "tier_service_level", ""
    return head, rest


# --- reading: rows of the file as crmkit's columns -----------------------------------------------


def _open(file: object) -> tuple[IO[str], bool]:
    """A text stream for `file` and whether it was opened here (and must be closed)."""
    if isinstance(file, str | os.PathLike):
        try:
            return Path(file).open(encoding="utf-8-sig", newline=""), True
        except OSError as e:
            raise ValidationError.of("file", f"cannot open {str(file)!r}: {e.strerror}") from e
    if not callable(getattr(file, "read", None)):
        raise ValidationError.of(
            "file", f"must be a path or a text stream (open(..., newline='')), not {shown(file)}"
        )
    return file, False  # type: ignore[return-value]


def _known(column: str, contacts: bool) -> bool:
    if contacts:
        return column in CONTACT_COLUMNS
    return column in CUSTOMER_COLUMNS or (
        column.startswith(CUSTOM) and bool(column.removeprefix(CUSTOM))
    )


def _rows(stream: IO[str], fmt: FileFormat, context: _Context) -> Iterator[_Row]:
    if fmt is FileFormat.JSONL:
        for number, value in jsonl_rows(stream):
            if isinstance(value, str):
                yield _Row(number, {}, text=False, problems=[RowError(number, "", value)])
            else:
                yield _json_row(number, value, context)
        return
    rows = csv_rows(stream)
    first = next(rows, None)
    if first is None:
        return
    header = first[1]
    assert isinstance(header, list)  # noqa: S101 (csv_rows yields the header first)
    columns, problems = _header(header, context)
    if problems:
        yield _Row(1, {}, text=True, problems=problems, header=True)
        return
    for number, cells in rows:
        assert isinstance(cells, dict)  # noqa: S101 (then the rows)
        if "" in cells and len(cells) == 1:
            yield _Row(number, {}, text=True, problems=[RowError(number, "", cells[""])])
            continue
        values: dict[str, Any] = {}
        for name, column in columns:
            cell = cells[name]
            if _cell(column, context) is Cell.LIST and column in values:
                values[column] = [*list_in(values[column]), *list_in(cell)]  # type: ignore[misc]
            else:
                values[column] = cell
        yield _Row(number, values, text=True)


def _cell(column: str, context: _Context) -> Cell:
    table = CONTACT_COLUMNS if context.contacts else CUSTOMER_COLUMNS
    return table.get(column, Cell.TEXT)


def _header(header: list[str], context: _Context) -> tuple[list[tuple[str, str]], list[RowError]]:
    """The file's columns with crmkit's names, and the header's problems (as row 1)."""
    columns: list[tuple[str, str]] = []
    problems: list[RowError] = []
    seen: set[str] = set()
    for name in header:
        column = context.mapping.column(name)
        if column is None:
            continue
        if not _known(column, context.contacts):
            if not context.mapping.ignore_unknown:
                problems.append(RowError(1, name, _unknown(name, column, context.contacts)))
            continue
        if column in seen and _cell(column, context) is not Cell.LIST:
            problems.append(RowError(1, name, f"is a second column for {column}"))
            continue
        seen.add(column)
        columns.append((name, column))
    return columns, problems


def _unknown(name: str, column: str, contacts: bool) -> str:
    what = "contacts" if contacts else "customers"
    if name != column:
        return f"is mapped to {column!r}, which is not a column of a {what} file"
    return f"is not a column of a {what} file (map it, or ignore it with ignore_unknown)"


def _json_row(number: int, value: dict[str, Any], context: _Context) -> _Row:
    row = _Row(number, {}, text=False)
    flat: list[tuple[str, str, Any]] = []
    for key, item in value.items():
        column = context.mapping.column(key)
        if column is None:
            continue
        if column == "address" and not context.contacts and isinstance(item, dict | type(None)):
            flat.extend((f"address.{k}", k, v) for k, v in (item or {}).items())
            if item is None:
                flat.extend((f"address.{k}", k, None) for k in ADDRESS)
        elif column == "custom" and not context.contacts and isinstance(item, dict):
            flat.extend((f"custom.{k}", f"{CUSTOM}{k}", v) for k, v in item.items())
        else:
            flat.append((key, column, item))
    for key, column, item in flat:
        given = column if key.startswith("address.") else key  # a part of the address object
        if not _known(column, context.contacts):
            if not context.mapping.ignore_unknown:
                problem = _unknown(given, column, context.contacts)
                row.problems.append(RowError(number, key, problem))
            continue
        if column in row.values and _cell(column, context) is Cell.LIST:
            row.values[column] = [*list_in(row.values[column]), *list_in(item)]  # type: ignore[misc]
        else:
            row.values[column] = item
    return row


# --- rows to customers and contacts --------------------------------------------------------------


_UNSET = object()


def _value(column: str, raw: Any, row: _Row, cell: Cell, contacts: bool) -> Any:  # noqa: ANN401 (plain data)
    """A column's plain value from a row (`_UNSET`: the row leaves it as it is)."""
    if row.text and isinstance(raw, str) and column in _KEYS:
        raw = raw.strip()
    if cell is Cell.LIST:
        return [] if raw is None or raw == "" else list_in(raw)
    if cell is Cell.JSON:
        value = json_in(raw, [])
        return [] if value is None else value
    if raw is None or raw == "":
        return _UNSET if column in _KEEP_IF_EMPTY[contacts] else None
    return raw


def _overlay(
    row: _Row, data: dict[str, Any], columns: Iterable[str], context: _Context
) -> list[Issue]:
    """Put the row's `columns` into `data`; the problems found with cells."""
    found: list[Issue] = []
    for column in columns:
        if column not in row.values:
            continue
        try:
            value = _value(
                column, row.values[column], row, _cell(column, context), context.contacts
            )
        except ValidationError as e:
            found.extend(e.under(column).issues)
            continue
        if value is not _UNSET:
            data[column] = value
    return found


def _customer(row: _Row, base: Customer | None, context: _Context) -> Customer:
    """The customer `row` makes of `base` (a new one if ``None``).

    Raises:
        ValidationError: naming the bad fields.
    """
    data: dict[str, Any] = {}
    simple = [c for c in CUSTOMER_COLUMNS if c not in ADDRESS and not c.startswith("tier")]
    found = _overlay(row, data, simple, context)
    _address(row, data, base)
    found.extend(_tier(row, data, base))
    found.extend(_custom(row, data, base, context))
    customer: Customer = _build(Customer, data, base, context, found)
    if context.schema is not None:
        found = context.schema.issues(customer.custom_fields, path="custom_fields")
        if found:
            raise ValidationError(found)
    return customer


def _build(
    cls: Any,  # noqa: ANN401 (Customer or Contact)
    data: dict[str, Any],
    base: Any,  # noqa: ANN401
    context: _Context,
    found: list[Issue],
) -> Any:  # noqa: ANN401
    """`base` with the fields in `data` (plain data) changed, or a new `cls` of them.

    Only the fields a row gives are converted (strictly, as `crmkit.from_dict` does); the
    object then checks itself whole, once.

    Raises:
        ValidationError: `found`, and every problem with a field.
    """
    conv = make_converter(phone_region=context.region)
    hints = _field_types(cls)
    changes: dict[str, Any] = {}
    for name, value in data.items():
        try:
            changes[name] = conv.structure(value, hints[name])
        except ValidationError as e:
            found.extend(e.under(name).issues)
    if base is None:
        found.extend(
            Issue(a.name, "is required")
            for a in attrs.fields(cls)
            if a.default is attrs.NOTHING and a.name not in changes
        )
    if found:
        raise ValidationError(found)
    return cls(**changes) if base is None else attrs.evolve(base, **changes)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _address(row: _Row, data: dict[str, Any], base: Customer | None) -> None:
    given = [c for c in ADDRESS if c in row.values]
    if not given:
        return
    before = base.address if base is not None else None
    address: dict[str, Any] = attrs.asdict(before) if before is not None else {}
    for column in given:
        raw = row.values[column]
        if row.text and isinstance(raw, str) and column in _KEYS:
            raw = raw.strip()
        if column == "country":
            address[column] = None if raw == "" else raw
        else:
            address[column] = "" if raw is None else raw
    empty = not any(address.get(c) for c in ADDRESS)
    data["address"] = None if empty else address


def _tier(row: _Row, data: dict[str, Any], base: Customer | None) -> list[Issue]:
    if "tier" not in row.values and "tier_service_level" not in row.values:
        return []
    before = base.tier if base is not None else None
    code = row.values.get("tier", before.code if before else None)
    if isinstance(code, str):
        code = code.strip()
    if code is None or code == "":
        if row.values.get("tier_service_level"):
            return [Issue("tier_service_level", "needs a tier")]
        data["tier"] = None
        return []
    if "tier_service_level" in row.values:
        service = row.values["tier_service_level"]
    elif before and before.code == code:
        service = before.service_level
    else:
        known = DEFAULT_TIERS.get(code) if isinstance(code, str) else None
        service = known.service_level if known else ""
    data["tier"] = {"code": code, "service_level": "" if service is None else service}
    return []


def _custom(
    row: _Row, data: dict[str, Any], base: Customer | None, context: _Context
) -> list[Issue]:
    given = [c for c in row.values if c.startswith(CUSTOM)]
    if not given:
        return []
    values = custom_out(base.custom_fields) if base is not None else {}
    found: list[Issue] = []
    for column in given:
        name, raw = column.removeprefix(CUSTOM), row.values[column]
        if raw is None or (row.text and raw == ""):  # JSON Lines' "" is the text ""
            values.pop(name, None)
            continue
        try:
            value = custom_value_in(raw, from_text=row.text, declared=context.declared.get(name))
        except ValidationError as e:
            found.extend(e.under(f"custom_fields.{name}").issues)
            continue
        values[name] = custom_out({name: value})[name]
    data["custom_fields"] = values
    return found


def _contact(row: _Row, base: Contact | None, context: _Context) -> Contact:
    """The contact `row` makes of `base` (a new one if ``None``).

    Raises:
        ValidationError: naming the bad fields.
    """
    data: dict[str, Any] = {}
    columns = [c for c in CONTACT_COLUMNS if not c.startswith("customer_") and c != "quiet_hours"]
    found = _overlay(row, data, columns, context)
    contact: Contact = _build(Contact, data, base, context, found)
    if "quiet_hours" in row.values:
        try:
            span = quiet_hours_in(row.values["quiet_hours"])
            contact.quiet_hours = None if span is None else QuietHours(start=span[0], end=span[1])
        except ValidationError as e:
            raise e.under("quiet_hours") from None
    return contact


# --- writing, a batch at a time ------------------------------------------------------------------


def _by_external_id(uow: UnitOfWork, keys: Iterable[str]) -> dict[str, Customer]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found: dict[str, Customer] = uow.customers.by_external_ids(wanted)
    return found


def _by_id(uow: UnitOfWork, keys: Iterable[UUID]) -> dict[UUID, Customer]:
    wanted = sorted(set(keys))
    return {c.id: c for c in uow.customers.get_many(wanted)} if wanted else {}


def _write_customers(uow: UnitOfWork, rows: list[_Row], context: _Context) -> list[_Outcome]:
    by_external = _by_external_id(uow, (k for r in rows if (k := r.key("external_id"))))
    by_id = _by_id(uow, (u for r in rows if (u := r.uuid("id"))))
    outcomes: list[_Outcome] = []
    latest: dict[object, Customer] = {}  # this batch's customers, by external id or id
    for row in rows:
        external, given_id = row.key("external_id"), row.uuid("id")
        key: object = ("x", external) if external else ("i", given_id) if given_id else row.number
        base = latest.get(key)
        if base is None:
            base = by_external.get(external) if external else None
            if base is None and given_id is not None:
                base = by_id.get(given_id)
        if base is not None and given_id is not None and base.id != given_id:
            problem = f"is not the id of the customer with external_id {external!r} ({base.id})"
            outcomes.append(context.failed(row, ValidationError.of("id", problem)))
            continue
        try:
            customer = _customer(row, base, context)
        except ValidationError as e:
            outcomes.append(context.failed(row, e))
            continue
        if base is not None and customer == base:
            outcomes.append(_Outcome(row.number, "unchanged"))
            continue
        latest[key] = customer
        outcomes.append(_Outcome(row.number, "added" if base is None else "updated"))
    changed = [c for c in latest.values() if c.version]
    register_customers(uow, [c for c in latest.values() if not c.version])
    for customer in changed:
        update_customer(uow, customer)
    return outcomes


def _write_contacts(uow: UnitOfWork, rows: list[_Row], context: _Context) -> list[_Outcome]:
    by_external = _by_external_id(uow, (k for r in rows if (k := r.key("customer_external_id"))))
    by_id = _by_id(uow, (u for r in rows if (u := r.uuid("customer_id"))))
    contacts = sorted({k for r in rows if (k := r.key("external_id"))})
    holders = uow.customers.by_contact_external_ids(contacts) if contacts else {}
    outcomes: list[_Outcome] = []
    changed: dict[UUID, Customer] = {}
    for row in rows:
        customer, problem = _owner(row, by_external, by_id)
        external = row.key("external_id")
        holder = holders.get(external) if external else None
        if customer is not None and holder is not None and holder.id != customer.id:
            problem = ValidationError.of(
                "external_id",
                f"{external!r} is the external id of a contact of another customer "
                f"({holder.external_id or holder.id}); a contact does not move by import",
            )
            customer = None
        if customer is None:
            outcomes.append(context.failed(row, problem))  # type: ignore[arg-type]
            continue
        customer = changed.get(customer.id, customer)
        outcome = _place_contact(row, customer, context)
        if outcome.status in ("added", "updated"):
            changed[customer.id] = customer
        outcomes.append(outcome)
    for customer in changed.values():
        update_customer(uow, customer)
    return outcomes


def _owner(
    row: _Row, by_external: dict[str, Customer], by_id: dict[UUID, Customer]
) -> tuple[Customer | None, ValidationError | None]:
    external, given_id = row.key("customer_external_id"), row.uuid("customer_id")
    if external:
        found = by_external.get(external)
        if found is None:
            return None, ValidationError.of(
                "customer_external_id", f"no customer has the external id {external!r}"
            )
        return found, None
    if given_id:
        found = by_id.get(given_id)
        if found is None:
            return None, ValidationError.of("customer_id", f"no customer has the id {given_id}")
        return found, None
    return None, ValidationError.of(
        "customer_external_id", "is required (or customer_id): whose contact is it?"
    )


def _place_contact(row: _Row, customer: Customer, context: _Context) -> _Outcome:
    external, given_id = row.key("external_id"), row.uuid("id")
    at = next(
        (
            i
            for i, c in enumerate(customer.contacts)
            if (external and c.external_id == external) or (given_id and c.id == given_id)
        ),
        None,
    )
    base = None if at is None else customer.contacts[at]
    try:
        contact = _contact(row, base, context)
    except ValidationError as e:
        return context.failed(row, e)
    if base is not None and contact == base:
        return _Outcome(row.number, "unchanged")
    if at is None:
        customer.contacts.append(contact)
    else:
        customer.contacts[at] = contact
    problems = customer._invariants()  # noqa: SLF001 (the aggregate's own rules, checked per row)
    if problems:
        if at is None:
            customer.contacts.pop()
        else:
            customer.contacts[at] = base  # type: ignore[assignment]
        issues = [Issue(p.path.partition(".")[2] or "", p.problem) for p in problems]
        return context.failed(row, ValidationError(issues))
    return _Outcome(row.number, "added" if base is None else "updated")


# --- the import ----------------------------------------------------------------------------------


def _batches(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


@attrs.define
class _Tally:
    max_errors: int
    counts: dict[str, int] = attrs.Factory(
        lambda: dict.fromkeys(("read", "added", "updated", "unchanged", "failed"), 0)
    )
    errors: list[RowError] = attrs.Factory(list)

    def add(self, outcome: _Outcome) -> None:
        self.counts[outcome.status] += 1
        room = self.max_errors - len(self.errors)
        self.errors.extend(outcome.errors[: max(room, 0)])

    def report(self) -> ImportReport:
        return ImportReport(**self.counts, errors=tuple(sorted(self.errors, key=_order)))


def _order(error: RowError) -> int:
    return error.row


Writer = Callable[["UnitOfWork", list[_Row], _Context], list[_Outcome]]


def _import(
    crm: CRM,
    file: object,
    *,
    write: Writer,
    contacts: bool,
    options: dict[str, Any],
) -> ImportReport:
    fmt = format_of(file, options["format"])
    mapping = _checked(options)
    context = _Context(mapping, options["region"], crm.custom_fields, contacts)
    tally = _Tally(options["max_errors"])
    actor, tenant, size = options["actor"], options["tenant"], options["batch_size"]
    progress = options["progress"]
    stream, opened = _open(file)
    try:
        for batch in _batches(_rows(stream, fmt, context), size):
            good: list[_Row] = []
            for row in batch:
                if row.header:
                    tally.errors.extend(row.problems)
                    continue
                tally.counts["read"] += 1
                if row.problems:
                    tally.add(_Outcome(row.number, "failed", row.problems))
                else:
                    good.append(row)
            for outcome in _write(crm, good, write, context, actor=actor, tenant=tenant):
                tally.add(outcome)
            if progress is not None:
                progress(tally.counts["read"])
    finally:
        if opened:
            stream.close()
    return tally.report()


def _checked(options: dict[str, Any]) -> ColumnMapping:
    """Check the import's options; the column mapping they give."""
    mapping = options["mapping"]
    if mapping is None:
        mapping = ColumnMapping()
    elif not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping(mapping)
    check_region(options["region"], "region")
    size = options["batch_size"]
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= _MAX_BATCH:
        raise ValidationError.of("batch_size", f"must be from 1 to {_MAX_BATCH}, not {shown(size)}")
    progress = options["progress"]
    if progress is not None and not callable(progress):
        raise ValidationError.of("progress", f"must be a function, not {shown(progress)}")
    errors = options["max_errors"]
    if isinstance(errors, bool) or not isinstance(errors, int) or errors < 0:
        raise ValidationError.of("max_errors", f"must be a whole number, not {shown(errors)}")
    return mapping


def _write(
    crm: CRM, rows: list[_Row], write: Writer, context: _Context, *, actor: str, tenant: str | None
) -> list[_Outcome]:
    if not rows:
        return []
    try:
        return crm.run(lambda uow: write(uow, rows, context), actor=actor, tenant=tenant)
    except (DuplicateError, ValidationError, NotFound) as e:
        if len(rows) == 1:
            return [context.failed(rows[0], e)]
    outcomes: list[_Outcome] = []
    for row in rows:  # the store refused the batch: one row at a time finds the bad ones
        outcomes.extend(_write(crm, [row], write, context, actor=actor, tenant=tenant))
    return outcomes


def import_customers(
    crm: CRM,
    file: IO[str] | str | os.PathLike[str],
    *,
    actor: str,
    format: str | None = None,  # noqa: A002 (the word a reader expects, as in the CLI)
    mapping: ColumnMapping | Mapping[str, str | None] | None = None,
    tenant: str | None = None,
    region: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], object] | None = None,
    max_errors: int = 1000,
) -> ImportReport:
    r"""Import customers from a CSV or JSON Lines file: add new ones, update known ones.

    A row with an ``external_id`` updates the customer with that external id, if there is one
    (else one with its ``id``); a row without either adds a customer. Columns a row has set
    the fields they name (an empty cell empties an optional field); fields without a column
    stay as they are. A later row with the same external id as an earlier one updates what the
    earlier one wrote. Each row is written whole or not at all; the report lists the rows
    refused, with the column and the problem.

    Examples:
        >>> import io
        >>> import crmkit
        >>> from crmkit.customers import import_customers
        >>> crm = crmkit.open("memory://")
        >>> file = io.StringIO(
        ...     "external_id,name,owner_id,tags\n"
        ...     "ERP-1,Acme,li.na,vip|north\n"
        ...     "ERP-2,,li.na,\n"
        ... )
        >>> report = import_customers(crm, file, actor="li.na")
        >>> report.summary()
        '2 rows read: 1 added, 0 updated, 0 unchanged, 1 failed'
        >>> [str(e) for e in report.errors]
        ['row 3, name: is required']

    Args:
        crm: the CRM to import into.
        file: a path (read as UTF-8, with or without a byte order mark) or a text stream.
        actor: who imports, recorded on the changes and events.
        format: ``"csv"`` or ``"jsonl"``; by default from the file's name (``.jsonl``,
            ``.ndjson``), else CSV.
        mapping: the file's column names to crmkit's (see `ColumnMapping`).
        tenant: the tenant to import into (the CRM's default if not given).
        region: the country (``"CN"``) of phone numbers written without a country code.
        batch_size: rows per unit of work (1 to 100,000).
        progress: called after each batch with the number of rows read so far.
        max_errors: keep at most this many errors in the report (all rows are still counted).

    Returns:
        The counts and the errors.

    Raises:
        ValidationError: a bad argument (nothing is read).
        StorageError: the store failed; the batches before this one stay written.
    """
    options = dict(locals())
    del options["crm"], options["file"]
    return _import(crm, file, write=_write_customers, contacts=False, options=options)


def import_contacts(
    crm: CRM,
    file: IO[str] | str | os.PathLike[str],
    *,
    actor: str,
    format: str | None = None,  # noqa: A002 (as in import_customers)
    mapping: ColumnMapping | Mapping[str, str | None] | None = None,
    tenant: str | None = None,
    region: str | None = None,
    batch_size: int = 500,
    progress: Callable[[int], object] | None = None,
    max_errors: int = 1000,
) -> ImportReport:
    r"""Import contacts from a CSV or JSON Lines file, each into the customer a row names.

    A row names its customer by ``customer_external_id`` (or ``customer_id``); a contact with
    the row's ``external_id`` (else ``id``) at that customer is updated, otherwise the row adds
    one. Everything else is as `import_customers`; a row that names a customer that is not
    stored is refused.

    Examples:
        >>> import io
        >>> import crmkit
        >>> from crmkit.customers import import_contacts, import_customers
        >>> crm = crmkit.open("memory://")
        >>> _ = import_customers(crm, io.StringIO("external_id,name,owner_id\nERP-1,Acme,li\n"),
        ...                      actor="li")
        >>> file = io.StringIO(
        ...     "customer_external_id,external_id,name,phones\n"
        ...     "ERP-1,P-1,Wang Wei,138 0013 8000\n"
        ...     "ERP-1,P-2,Li Ming,12345\n"
        ... )
        >>> report = import_contacts(crm, file, actor="li", region="CN")
        >>> report.summary()
        '2 rows read: 1 added, 0 updated, 0 unchanged, 1 failed'
        >>> [str(e) for e in report.errors]
        ['row 3, phones: [0]: not a valid phone number for region CN']
    """
    options = dict(locals())
    del options["crm"], options["file"]
    return _import(crm, file, write=_write_contacts, contacts=True, options=options)
