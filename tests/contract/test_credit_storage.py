"""The credit ledger's aggregates on the repository core: the contract, and their own queries,
on every store."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import pendulum
import pytest

import crmkit
from crmkit import Money
from crmkit.credit import (
    Allocation,
    CreditAccount,
    CreditNote,
    CreditOperation,
    DocumentKind,
    EntryKind,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    Order,
    Payment,
)
from crmkit.customers import Customer
from crmkit.errors import DuplicateError, NotFound, ValidationError
from crmkit.storage import MemoryStore, Store, UnitOfWork
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._credit import (
    CREDIT_ACCOUNTS,
    CREDIT_NOTES,
    CREDIT_OPERATIONS,
    INVOICES,
    LEDGER_ENTRIES,
    ORDERS,
    PAYMENTS,
)
from crmkit.storage._customers import CUSTOMERS
from crmkit.testing.contract import AggregateContract, SqlContract

from .conftest import Backend

T0 = pendulum.datetime(2026, 3, 2, 1, 30)


def cny(amount: str | int) -> Money:
    return Money(amount, "CNY")


def some_money() -> Money:
    return cny(f"{random.randint(1, 10**9)}.{random.randint(0, 99):02d}")


def an_account(uow: UnitOfWork, **changes: Any) -> CreditAccount:
    customer = Customer(name="Acme", owner_id="li")
    uow.repository(CUSTOMERS).add(customer)
    fields: dict[str, Any] = {
        "customer_id": customer.id,
        "base_limit": cny("50000"),
        "opened_at": T0,
        **changes,
    }
    account = CreditAccount(**fields)
    uow.repository(CREDIT_ACCOUNTS).add(account)
    return account


def an_entry(account_id: Any, **changes: Any) -> LedgerEntry:
    amount = some_money()
    fields: dict[str, Any] = {
        "account_id": account_id,
        "sequence": random.randint(1, 10**6),
        "kind": EntryKind.RESERVE,
        "document": DocumentKind.ORDER,
        "document_id": crmkit.new_id(),
        "amount": amount,
        "orders": amount,
        "invoices": cny(0),
        "credit": cny(0),
        "at": T0,
        "key": f"PO-{crmkit.new_id()}",
        "original": Money("1.00", "USD"),
        "rate": Decimal("7.1234"),
        "rate_date": dt.date(2026, 3, 1),
        **changes,
    }
    return LedgerEntry(**fields)


# --- the contract -------------------------------------------------------------------------------


class _LedgerContract(AggregateContract[Any]):
    """A contract whose immutable fields may only change together with others (see `variant`)."""

    parent: ClassVar[Aggregate[Any] | None] = CREDIT_ACCOUNTS
    machine_examples: ClassVar[int] = 10

    @classmethod
    def aggregates(cls) -> list[Aggregate[Any]]:
        return [CUSTOMERS, CREDIT_ACCOUNTS, cls.aggregate]

    def variant(self, obj: Any, other: Any, field: str) -> Any:
        """`obj` with `field` changed (to `other`'s), and whatever must change with it."""
        return attrs.evolve(obj, **{field: getattr(other, field)})

    def test_fields_that_cannot_change_are_refused(self, crm: crmkit.CRM) -> None:
        """Fields that cannot change are refused."""
        self._skip_if_append_only()
        for field, problem in self.aggregate.immutable.items():
            obj, other = self._add(crm), self._add(crm)
            changed = self.variant(obj, other, field)
            assert getattr(changed, field) != getattr(obj, field), field
            with crm.unit_of_work(actor="li", tenant="acme") as uow:
                with pytest.raises(ValidationError, match=problem):
                    uow.repository(self.aggregate).update(changed)
                assert uow.is_open
            assert self._get(crm, obj.id) == obj


class AccountContract(_LedgerContract):
    aggregate = CREDIT_ACCOUNTS
    parent = CUSTOMERS

    @classmethod
    def aggregates(cls) -> list[Aggregate[Any]]:
        return [CUSTOMERS, CREDIT_ACCOUNTS]

    def new(self, uow: UnitOfWork) -> CreditAccount:
        customer = Customer(name="Acme", owner_id="li")
        uow.repository(CUSTOMERS).add(customer)
        return CreditAccount(
            customer_id=customer.id,
            base_limit=some_money(),
            opened_at=T0,
            open_orders=cny("120.50"),
            unpaid_invoices=cny("99.99"),
            unallocated=cny("0.01"),
            sequence=7,
        )

    def change(self, obj: CreditAccount) -> None:
        obj.hold_reason = "three invoices 60 days late"
        obj.on_hold = True

    def test_unique_keys_clash_within_a_tenant_only(self, crm: crmkit.CRM) -> None:
        """One account per customer; another tenant's customer of the same id has its own."""
        account = self._add(crm)
        with crm.unit_of_work(actor="li", tenant="globex") as uow:
            uow.customers.add(Customer(id=account.customer_id, name="Acme", owner_id="li"))
            uow.credit_accounts.add(
                CreditAccount(customer_id=account.customer_id, base_limit=cny(1), opened_at=T0)
            )
        uow = crm.unit_of_work(actor="li", tenant="acme")
        with pytest.raises(DuplicateError) as caught:
            uow.credit_accounts.add(
                CreditAccount(customer_id=account.customer_id, base_limit=cny(1), opened_at=T0)
            )
            uow.commit()
        uow.rollback()
        assert (caught.value.kind, caught.value.field) == ("credit_account", "customer_id")

    def variant(self, obj: Any, other: Any, field: str) -> Any:
        if field == "currency":  # every amount with it
            return attrs.evolve(
                obj,
                currency="USD",
                base_limit=Money(obj.base_limit.amount, "USD"),
                open_orders=Money(obj.open_orders.amount, "USD"),
                unpaid_invoices=Money(obj.unpaid_invoices.amount, "USD"),
                unallocated=Money(obj.unallocated.amount, "USD"),
            )
        return super().variant(obj, other, field)


class OrderContract(_LedgerContract):
    aggregate = ORDERS

    def new(self, uow: UnitOfWork) -> Order:
        order = Order(
            account_id=an_account(uow).id, amount=some_money(), placed_at=T0, reference="PO-7"
        )
        order.invoice(cny("0.01"))
        return order

    def change(self, obj: Order) -> None:
        obj.reference = "PO-8"


class InvoiceContract(_LedgerContract):
    aggregate = INVOICES

    def new(self, uow: UnitOfWork) -> Invoice:
        invoice = Invoice(
            account_id=an_account(uow).id,
            amount=some_money(),
            issued_at=T0,
            due=dt.date(2026, 4, 1),
            order_id=crmkit.new_id(),
            reference="INV-1",
        )
        invoice.settle(cny("0.01"))
        return invoice

    def change(self, obj: Invoice) -> None:
        obj.reference = "INV-2"


class PaymentContract(_LedgerContract):
    aggregate = PAYMENTS

    def new(self, uow: UnitOfWork) -> Payment:
        return Payment(
            account_id=an_account(uow).id,
            amount=some_money() + cny(1),
            received_at=T0,
            reference="BANK-1",
            allocations=[Allocation(invoice_id=crmkit.new_id(), amount=cny("0.50"))],
        )

    def change(self, obj: Payment) -> None:
        obj.reference = "BANK-2"

    def variant(self, obj: Any, other: Any, field: str) -> Any:
        if field == "amount":  # its rest with it
            more = obj.amount + cny(1)
            return attrs.evolve(obj, amount=more, unallocated=obj.unallocated + cny(1))
        return super().variant(obj, other, field)


class CreditNoteContract(_LedgerContract):
    aggregate = CREDIT_NOTES

    def new(self, uow: UnitOfWork) -> CreditNote:
        return CreditNote(
            account_id=an_account(uow).id,
            amount=some_money(),
            reason="damaged in transit",
            issued_at=T0,
            invoice_id=crmkit.new_id(),
        )

    def change(self, obj: CreditNote) -> None:
        obj.reason = "returned"


class LedgerEntryContract(_LedgerContract):
    aggregate = LEDGER_ENTRIES

    def new(self, uow: UnitOfWork) -> LedgerEntry:
        return an_entry(an_account(uow).id)

    def change(self, obj: LedgerEntry) -> None:
        obj.at = obj.at.add(seconds=1)

    def variant(self, obj: Any, other: Any, field: str) -> Any:
        a = obj.amount
        changes: dict[str, dict[str, Any]] = {
            "kind": {"kind": EntryKind.VOID, "orders": -a},
            "document": {"document": DocumentKind.INVOICE},
            "amount": {"amount": a + cny(1), "orders": a + cny(1)},
            "orders": {"kind": EntryKind.POST, "orders": -a, "invoices": a},
            "invoices": {"kind": EntryKind.POST, "orders": -a, "invoices": a},
            "credit": {"kind": EntryKind.SETTLE, "orders": cny(0), "credit": a},
            "invoice_id": {"invoice_id": crmkit.new_id()},
            "original": {"original": Money("2.00", "USD")},
            "rate": {"rate": Decimal("7.2")},
            "rate_date": {"rate_date": dt.date(2026, 3, 2)},
        }
        if field in changes:
            return attrs.evolve(obj, **changes[field])
        return super().variant(obj, other, field)


class OperationContract(_LedgerContract):
    aggregate = CREDIT_OPERATIONS

    def new(self, uow: UnitOfWork) -> CreditOperation:
        return CreditOperation(
            account_id=an_account(uow).id,
            key=f"PO-{crmkit.new_id()}",
            service="place_order",
            request="0" * 64,
            at=T0,
            document=DocumentKind.ORDER,
            document_id=crmkit.new_id(),
            first=3,
            entries=1,
        )

    def change(self, obj: CreditOperation) -> None:
        obj.at = obj.at.add(seconds=1)


def _stores(contract: type[_LedgerContract], name: str) -> None:
    """Define the contract's test classes, one per store, in this module."""

    class InMemory(contract):  # type: ignore[valid-type,misc]
        def make_store(self) -> Store:
            return MemoryStore()

    class OnSqlite(SqlContract, contract):  # type: ignore[valid-type,misc]
        url = "sqlite://"

    class OnPostgres(SqlContract, contract):  # type: ignore[valid-type,misc]
        url = "env:CRMKIT_TEST_POSTGRES_URL"
        machine_examples = 5

    class OnMariaDB(SqlContract, contract):  # type: ignore[valid-type,misc]
        url = "env:CRMKIT_TEST_MYSQL_URL"
        machine_examples = 5

    for cls, store in (
        (InMemory, "InMemory"),
        (OnSqlite, "OnSqlite"),
        (OnPostgres, "OnPostgres"),
        (OnMariaDB, "OnMariaDB"),
    ):
        cls.__name__ = cls.__qualname__ = f"Test{name}{store}"
        globals()[cls.__name__] = cls


for _contract, _name in (
    (AccountContract, "Accounts"),
    (OrderContract, "Orders"),
    (InvoiceContract, "Invoices"),
    (PaymentContract, "Payments"),
    (CreditNoteContract, "CreditNotes"),
    (LedgerEntryContract, "LedgerEntries"),
    (OperationContract, "Operations"),
):
    _stores(_contract, _name)


# --- their own queries --------------------------------------------------------------------------


def test_an_account_is_found_by_its_customer_and_a_customer_has_one(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        account = an_account(uow)
        other = Customer(name="Globex", owner_id="li")
        uow.customers.add(other)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.credit_accounts.for_customer(account.customer_id) == account
        assert uow.credit_accounts.for_customer(other.id) is None
        with pytest.raises(ValidationError, match="customer_id"):
            uow.credit_accounts.for_customer("nope")  # type: ignore[arg-type]
    with crm.unit_of_work(actor="li", tenant="globex", read_only=True) as uow:
        assert uow.credit_accounts.for_customer(account.customer_id) is None
    uow = crm.unit_of_work(actor="li")
    with pytest.raises(DuplicateError) as caught:
        uow.credit_accounts.add(
            CreditAccount(customer_id=account.customer_id, base_limit=cny(1), opened_at=T0)
        )
        uow.commit()
    uow.rollback()
    assert (caught.value.kind, caught.value.field) == ("credit_account", "customer_id")


def test_an_accounts_entries_come_in_sequence_after_a_number(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        account, other = an_account(uow), an_account(uow)
        entries = [an_entry(account.id, sequence=n) for n in (3, 1, 2, 5, 4)]
        uow.ledger_entries.add_many([*entries, an_entry(other.id, sequence=1)])
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        found = uow.ledger_entries.of_account(account.id)
        assert [e.sequence for e in found] == [1, 2, 3, 4, 5]
        assert found == sorted(entries, key=lambda e: e.sequence)
        assert [e.sequence for e in uow.ledger_entries.of_account(account.id, after=2)] == [3, 4, 5]
        assert [e.sequence for e in uow.ledger_entries.of_account(account.id, limit=2)] == [1, 2]
        with pytest.raises(ValidationError, match="after"):
            uow.ledger_entries.of_account(account.id, after=-1)
    with crm.unit_of_work(actor="li", tenant="globex", read_only=True) as uow:
        assert uow.ledger_entries.of_account(account.id) == []


def test_unpaid_invoices_and_invoices_due_are_found_by_status_and_date(backend: Backend) -> None:
    crm = backend.fresh()

    def invoice(account: CreditAccount, due: dt.date) -> Invoice:
        return Invoice(account_id=account.id, amount=cny(100), issued_at=T0, due=due)

    with crm.unit_of_work(actor="li") as uow:
        account, other = an_account(uow), an_account(uow)
        late = invoice(account, dt.date(2026, 3, 1))
        later = invoice(account, dt.date(2026, 3, 5))
        paid = invoice(account, dt.date(2026, 2, 1))
        paid.settle(cny(100))
        marked = invoice(account, dt.date(2026, 2, 2))
        marked.mark_overdue()
        partly = invoice(other, dt.date(2026, 2, 20))
        partly.settle(cny(1))
        gone = invoice(other, dt.date(2026, 2, 3))
        gone.write_off()
        uow.invoices.add_many([late, later, paid, marked, partly, gone])
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.invoices.unpaid(account.id) == [marked, late, later]
        assert uow.invoices.unpaid(other.id) == [partly]
        assert [i.status for i in uow.invoices.unpaid(account.id)] == [
            InvoiceStatus.OVERDUE,
            InvoiceStatus.OPEN,
            InvoiceStatus.OPEN,
        ]
        assert uow.invoices.due_before(dt.date(2026, 3, 5)) == [partly, late]
        assert uow.invoices.due_before(dt.date(2026, 3, 5), limit=1) == [partly]
        assert uow.invoices.due_before(dt.date(2026, 2, 20)) == []
        with pytest.raises(ValidationError, match="day"):
            uow.invoices.due_before(T0)
    with crm.unit_of_work(actor="li", tenant="globex", read_only=True) as uow:
        assert uow.invoices.unpaid(account.id) == []
        assert uow.invoices.due_before(dt.date(2027, 1, 1)) == []


def test_an_operation_is_found_by_its_key_within_its_tenant(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        account = an_account(uow)
        done = CreditOperation(
            account_id=account.id,
            key="PO-7 / 订单",
            service="place_order",
            request="f" * 64,
            at=T0,
            document=DocumentKind.ORDER,
            document_id=crmkit.new_id(),
        )
        uow.credit_operations.add(done)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.credit_operations.by_key("PO-7 / 订单") == done
        assert uow.credit_operations.by_key("PO-7") is None
        with pytest.raises(ValidationError, match="key"):
            uow.credit_operations.by_key("")
    with crm.unit_of_work(actor="li", tenant="globex", read_only=True) as uow:
        assert uow.credit_operations.by_key("PO-7 / 订单") is None
    uow = crm.unit_of_work(actor="li")
    with pytest.raises(DuplicateError) as caught:
        uow.credit_operations.add(attrs.evolve(done, id=crmkit.new_id(), version=0))
        uow.commit()
    uow.rollback()
    assert (caught.value.kind, caught.value.field) == ("credit_operation", "key")


def test_removing_a_customer_removes_its_account_and_ledger(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        account = an_account(uow)
        uow.ledger_entries.add_many([an_entry(account.id, sequence=1)])
        uow.orders.add(Order(account_id=account.id, amount=cny(5), placed_at=T0))
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.remove(uow.customers.get(account.customer_id))
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        with pytest.raises(NotFound):
            uow.credit_accounts.get(account.id)
        assert uow.ledger_entries.count() == 0
        assert uow.orders.count() == 0
