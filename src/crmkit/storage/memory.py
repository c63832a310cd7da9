"""The in-memory store: a real implementation with the semantics of the SQL one.

Records are kept in their plain (`to_dict`) form, so reads and writes copy and a read checks the
record again, as loading a SQL row does. A unit of work keeps its writes to itself until it
commits; the commit checks, under a lock, that nothing it read and wrote has changed since
(optimistic concurrency) and then applies every write at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from uuid import UUID

import pendulum

from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._converter import make_converter
from crmkit.customers import Customer, Interaction
from crmkit.errors import (
    ConcurrencyError,
    CorruptRecord,
    CrmkitError,
    DuplicateError,
    NotFound,
    ValidationError,
)
from crmkit.storage._arguments import (
    a_collection,
    a_key,
    a_limit,
    a_page,
    a_phone,
    a_span,
    an_email,
    an_id,
    email_key,
    ids,
)
from crmkit.storage._outbox import MemoryOutbox
from crmkit.storage._unit_of_work import UnitOfWork

__all__ = ["MemoryStore"]

T = TypeVar("T")
Row = dict[str, Any]
# Per table, per tenant, per id: the stored record.
_Tables = dict[str, dict[str, dict[UUID, Row]]]

_CUSTOMERS = "customers"
_INTERACTIONS = "interactions"
_DELETED = None


class MemoryStore:
    """Keeps everything in this process's memory; gone when the process ends.

    For tests, notebooks and examples. Thread-safe: units of work on different threads see only
    committed data and conflict exactly as they would on a SQL store.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: _Tables = {_CUSTOMERS: {}, _INTERACTIONS: {}}
        self.outbox = MemoryOutbox()
        """The events committed units of work recorded, until a relay has delivered them."""

    def unit_of_work(self, *, connection: object = None, **kwargs: Any) -> MemoryUnitOfWork:  # noqa: ANN401
        """Begin a unit of work (see `Store.unit_of_work`); `connection` must be None."""
        if connection is not None:
            raise ValidationError.of("connection", "the memory store takes no connection")
        return MemoryUnitOfWork(self, **kwargs)

    def create_all(self) -> None:
        """Nothing to create: the memory store is always ready."""

    def verify_schema(self) -> None:
        """Nothing to check: the memory store's schema is always the code's."""

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "MemoryStore()"


_load = make_converter(trusted=True)
_dump = make_converter()


def _from_row(table: str, key: UUID, row: Row, cls: type[T]) -> T:
    try:
        return _load.structure(row, cls)
    except ValidationError as e:
        raise CorruptRecord(table, key, str(e)) from e


class MemoryUnitOfWork(UnitOfWork):
    """A unit of work on a `MemoryStore`."""

    def __init__(self, store: MemoryStore, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(**kwargs)
        self._store = store
        # Uncommitted writes per table: id -> record, or _DELETED.
        self._writes: dict[str, dict[UUID, Row | None]] = {_CUSTOMERS: {}, _INTERACTIONS: {}}
        # The committed version each written record had when this unit of work first wrote it.
        self._base: dict[tuple[str, UUID], int | None] = {}
        # Records written so far: a write that fails after this moved may have done a part.
        self._touched = 0
        self.customers = _Customers(self)
        self.interactions = _Interactions(self)

    # --- reads through this unit of work's own writes -------------------------------------------

    def _committed(self, table: str) -> dict[UUID, Row]:
        return self._store._tables[table].get(self.tenant_id, {})

    def _read(self, table: str, key: UUID) -> Row | None:
        writes = self._writes[table]
        if key in writes:
            return writes[key]
        return self._committed(table).get(key)

    def _scan(self, table: str) -> Iterator[tuple[UUID, Row]]:
        writes = self._writes[table]
        with self._store._lock:
            committed = list(self._committed(table).items())
        for key, row in committed:
            if key not in writes:
                yield key, row
        for key, written in writes.items():
            if written is not None:
                yield key, written

    def _write(self, table: str, key: UUID, row: Row | None) -> None:
        if (table, key) not in self._base:
            stored = self._committed(table).get(key)
            self._base[(table, key)] = None if stored is None else stored["version"]
        self._touched += 1
        self._writes[table][key] = row

    def _guard(self, doing: str, action: Callable[[], T]) -> T:
        """Run the write `action`, `doing` what it says, spoiling the unit of work if it fails.

        A crmkit error raised before the write touched anything (bad input, a missing parent)
        leaves the unit of work usable; a conflict, or any failure once a record was written,
        spoils it (see `UnitOfWork._writing`).
        """
        self._check_open()
        touched = self._touched
        try:
            return action()
        except (ConcurrencyError, DuplicateError) as e:
            self._fail(e)
            raise
        except BaseException as e:
            if isinstance(e, CrmkitError) and self._touched == touched:
                raise
            with self._writing(doing):
                raise

    # --- transaction -----------------------------------------------------------------------------

    def _commit(self) -> None:
        store = self._store
        with store._lock:
            for (table, key), base in self._base.items():
                stored = store._tables[table].get(self.tenant_id, {}).get(key)
                now = None if stored is None else stored["version"]
                if now != base:
                    kind = "customer" if table == _CUSTOMERS else "interaction"
                    if base is None:
                        raise DuplicateError(kind, "id", key)
                    raise ConcurrencyError(kind, key, base)
            self._check_codes_at_commit()
            self._check_parents_at_commit()
            add_events = store.outbox.add(self.tenant_id, self._events)
            for table, writes in self._writes.items():
                rows = store._tables[table].setdefault(self.tenant_id, {})
                for key, row in writes.items():
                    if row is None:
                        rows.pop(key, None)
                    else:
                        rows[key] = row
            removed = {k for k, row in self._writes[_CUSTOMERS].items() if row is None}
            if removed:
                timeline = store._tables[_INTERACTIONS].get(self.tenant_id, {})
                for key in [
                    k for k, row in timeline.items() if _uuid(row["customer_id"]) in removed
                ]:
                    del timeline[key]
            add_events()

    def _check_codes_at_commit(self) -> None:
        written = self._writes[_CUSTOMERS]
        mine = {row["code"]: key for key, row in written.items() if row and row["code"]}
        for key, row in self._committed(_CUSTOMERS).items():
            code = row["code"]
            if code in mine and mine[code] != key and key not in written:
                raise DuplicateError("customer", "code", code)

    def _check_parents_at_commit(self) -> None:
        customers = self._committed(_CUSTOMERS)
        written = self._writes[_CUSTOMERS]
        for row in self._writes[_INTERACTIONS].values():
            if row is None:
                continue
            parent = _uuid(row["customer_id"])
            exists = written[parent] is not None if parent in written else parent in customers
            if not exists:
                raise ConcurrencyError("customer", parent, None)

    def _rollback(self) -> None:
        for writes in self._writes.values():
            writes.clear()
        self._base.clear()


def _uuid(value: str) -> UUID:
    return UUID(value)


class _Customers:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _load(self, key: UUID, row: Row) -> Customer:
        return _from_row(_CUSTOMERS, key, row, Customer)

    def _code_taken(self, code: str | None, by_other_than: UUID) -> bool:
        return code is not None and any(
            row["code"] == code and key != by_other_than for key, row in self._uow._scan(_CUSTOMERS)
        )

    def add(self, customer: Customer) -> None:
        self.add_many([customer])

    def add_many(self, customers: Iterable[Customer]) -> None:
        uow = self._uow
        uow._check_writable()
        batch: list[Customer] = a_collection(customers, "customers", "Customers")

        def add() -> None:
            uow._check_new_customers(batch)
            rows = [_dump.unstructure(customer, Customer) for customer in batch]
            ids = [c.id for c in batch]
            codes = [c.code for c in batch if c.code is not None]
            for c in batch:
                if uow._read(_CUSTOMERS, c.id) is not None or ids.count(c.id) > 1:
                    raise DuplicateError("customer", "id", c.id)
            for c in batch:
                if c.code is not None and (
                    codes.count(c.code) > 1 or self._code_taken(c.code, by_other_than=c.id)
                ):
                    raise DuplicateError("customer", "code", c.code)
            for c, row in zip(batch, rows, strict=True):
                row["version"] = 1
                uow._write(_CUSTOMERS, c.id, row)
            for c in batch:
                uow._stamp(c, 1)

        uow._guard("adding customers", add)

    def get(self, customer_id: UUID) -> Customer:
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        row = self._uow._read(_CUSTOMERS, customer_id)
        if row is None:
            raise NotFound("customer", customer_id)
        return self._load(customer_id, row)

    def get_many(self, customer_ids: Iterable[UUID]) -> list[Customer]:
        self._uow._check_open()
        found = []
        for key in ids(customer_ids, "customer_ids"):
            row = self._uow._read(_CUSTOMERS, key)
            if row is not None:
                found.append(self._load(key, row))
        return found

    def by_code(self, code: str) -> Customer:
        self._uow._check_open()
        a_key(code, "code")
        for key, row in self._uow._scan(_CUSTOMERS):
            if row["code"] == code:
                return self._load(key, row)
        raise NotFound("customer with code", code)

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Customer]:
        self._uow._check_open()
        a_key(owner_id, "owner_id")
        a_page(after, limit)
        rows = sorted(
            (k, r)
            for k, r in self._uow._scan(_CUSTOMERS)
            if r["owner_id"] == owner_id and (after is None or k > after)
        )
        return [self._load(k, r) for k, r in rows[:limit]]

    def by_phone(self, phone: PhoneNumber | str) -> list[Customer]:
        self._uow._check_open()
        value = a_phone(phone, "phone")
        return self._having(lambda contact: value in contact["phones"])

    def by_email(self, email: EmailAddress | str) -> list[Customer]:
        self._uow._check_open()
        value = an_email(email, "email")
        return self._having(lambda contact: value in {email_key(e) for e in contact["emails"]})

    def _having(self, test: Callable[[Row], bool]) -> list[Customer]:
        rows = sorted(
            (k, r) for k, r in self._uow._scan(_CUSTOMERS) if any(map(test, r["contacts"]))
        )
        return [self._load(k, r) for k, r in rows]

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[Customer]:
        self._uow._check_open()
        a_limit(limit)
        if after is not None:
            an_id(after, "after")
        keys = sorted(k for k, _ in self._uow._scan(_CUSTOMERS) if after is None or k > after)
        return [self.get(k) for k in keys[:limit]]

    def count(self) -> int:
        self._uow._check_open()
        return sum(1 for _ in self._uow._scan(_CUSTOMERS))

    def update(self, customer: Customer) -> None:
        uow = self._uow
        uow._check_writable()

        def update() -> None:
            uow._check_customer(customer)
            stored = uow._read(_CUSTOMERS, customer.id)
            if stored is None or stored["version"] != customer.version:
                raise ConcurrencyError("customer", customer.id, customer.version)
            if self._code_taken(customer.code, by_other_than=customer.id):
                raise DuplicateError("customer", "code", customer.code)
            row = _dump.unstructure(customer, Customer)
            row["version"] = customer.version + 1
            uow._write(_CUSTOMERS, customer.id, row)
            uow._stamp(customer, customer.version + 1)

        uow._guard("updating a customer", update)

    def remove(self, customer: Customer) -> None:
        uow = self._uow
        uow._check_writable()
        uow._check_removable(customer, Customer)

        def remove() -> None:
            stored = uow._read(_CUSTOMERS, customer.id)
            if stored is None or stored["version"] != customer.version:
                raise ConcurrencyError("customer", customer.id, customer.version)
            uow._write(_CUSTOMERS, customer.id, _DELETED)
            key = str(customer.id)
            for iid, row in list(uow._scan(_INTERACTIONS)):
                if row["customer_id"] == key:
                    uow._write(_INTERACTIONS, iid, _DELETED)

        uow._guard("removing a customer", remove)


class _Interactions:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def add(self, interaction: Interaction) -> None:
        uow = self._uow
        uow._check_writable()

        def add() -> None:
            uow._check_interaction(interaction)
            if interaction.version != 0:
                raise ValidationError.of(
                    "version", f"is {interaction.version}: the interaction is already stored"
                )
            if uow._read(_CUSTOMERS, interaction.customer_id) is None:
                raise NotFound("customer", interaction.customer_id)
            if uow._read(_INTERACTIONS, interaction.id) is not None:
                raise DuplicateError("interaction", "id", interaction.id)
            row = _dump.unstructure(interaction, Interaction)
            row["version"] = 1
            uow._write(_INTERACTIONS, interaction.id, row)
            uow._stamp(interaction, 1)

        uow._guard("adding an interaction", add)

    def get(self, interaction_id: UUID) -> Interaction:
        self._uow._check_open()
        an_id(interaction_id, "interaction_id")
        row = self._uow._read(_INTERACTIONS, interaction_id)
        if row is None:
            raise NotFound("interaction", interaction_id)
        return _from_row(_INTERACTIONS, interaction_id, row, Interaction)

    def for_customer(
        self,
        customer_id: UUID,
        *,
        since: pendulum.DateTime | None = None,
        until: pendulum.DateTime | None = None,
    ) -> list[Interaction]:
        self._uow._check_open()
        key = str(an_id(customer_id, "customer_id"))
        span = a_span(since, until)
        if span is None:
            return []
        since, until = span
        found = [
            _from_row(_INTERACTIONS, iid, row, Interaction)
            for iid, row in self._uow._scan(_INTERACTIONS)
            if row["customer_id"] == key
        ]
        found = [
            i
            for i in found
            if (since is None or i.occurred_at >= since)
            and (until is None or i.occurred_at < until)
        ]
        return sorted(found, key=lambda i: (i.occurred_at, i.id))

    def update(self, interaction: Interaction) -> None:
        uow = self._uow
        uow._check_writable()

        def update() -> None:
            uow._check_interaction(interaction)
            stored = uow._read(_INTERACTIONS, interaction.id)
            if stored is None or stored["version"] != interaction.version:
                raise ConcurrencyError("interaction", interaction.id, interaction.version)
            if stored["customer_id"] != str(interaction.customer_id):
                raise ValidationError.of(
                    "customer_id", "an interaction cannot move to another customer"
                )
            row = _dump.unstructure(interaction, Interaction)
            row["version"] = interaction.version + 1
            uow._write(_INTERACTIONS, interaction.id, row)
            uow._stamp(interaction, interaction.version + 1)

        uow._guard("updating an interaction", update)

    def remove(self, interaction: Interaction) -> None:
        uow = self._uow
        uow._check_writable()
        uow._check_removable(interaction, Interaction)

        def remove() -> None:
            stored = uow._read(_INTERACTIONS, interaction.id)
            if stored is None or stored["version"] != interaction.version:
                raise ConcurrencyError("interaction", interaction.id, interaction.version)
            uow._write(_INTERACTIONS, interaction.id, _DELETED)

        uow._guard("removing an interaction", remove)
