"""Customer care at once, each worker on its own connection: every move and hand-over happens once.

Workers run the services through `crmkit.CRM.run`, which runs a unit of work again when it loses
a race; the locks the services take are what make the outcome the same as one after another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pendulum

import crmkit
from crmkit import Money
from crmkit.credit import open_account, place_order
from crmkit.customers import (
    Complaint,
    ComplaintResolved,
    Customer,
    EvenSplit,
    LifecyclePolicy,
    LifecycleStage,
    OwnershipTransfer,
    ToOne,
    TransferRule,
    apply_lifecycle_policy,
    open_complaint,
    resolve_complaint,
    transfer_ownership,
)
from crmkit.errors import ValidationError
from crmkit.storage import UnitOfWork

from .conftest import NOW, Backend

WORKERS = 4
T0 = pendulum.parse(NOW).in_timezone("UTC")  # type: ignore[union-attr]


def _at_once(backend: Backend, work: Callable[[crmkit.CRM, int], None]) -> list[BaseException]:
    """Run `work(crm, n)` for `WORKERS` workers at once, each with a CRM of its own.

    Returns:
        What the workers raised, if anything.
    """
    crms = [backend.crm() for _ in range(WORKERS)]
    ready = threading.Barrier(WORKERS)

    def one(n: int) -> BaseException | None:
        ready.wait(timeout=30)
        try:
            work(crms[n], n)
        except Exception as e:
            return e
        return None

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(one, range(WORKERS), timeout=120))
    return [e for e in outcomes if e is not None]


def _run(crm: crmkit.CRM, work: Callable[[UnitOfWork], Any], actor: str) -> Any:
    return crm.run(work, actor=actor, attempts=200, backoff=0.002, max_backoff=0.02)


def test_policy_runs_at_once_move_each_customer_once(backend: Backend) -> None:
    crm = backend.fresh()
    customers = [Customer(name=f"C{i}", owner_id="li") for i in range(6)]
    with crm.unit_of_work(actor="setup") as uow:
        uow.customers.add_many(customers)
        for c in customers:
            account = open_account(uow, c.id, Money("1000", "CNY"), key=f"a{c.id}")
            for k in range(2):
                place_order(uow, account.id, Money("10", "CNY"), key=f"o{c.id}{k}")
    rules = LifecyclePolicy()

    def nightly(worker: crmkit.CRM, n: int) -> None:
        _run(
            worker,
            lambda uow: apply_lifecycle_policy(uow, now=T0.add(days=1), policy=rules),
            f"scheduler{n}",
        )

    assert _at_once(backend, nightly) == []
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        for c in customers:
            history = uow.lifecycle_changes.for_customer(c.id)
            assert [h.stage for h in history] == [
                LifecycleStage.CUSTOMER,
                LifecycleStage.REPEAT_CUSTOMER,
            ]
            assert uow.customers.get(c.id).lifecycle is LifecycleStage.REPEAT_CUSTOMER


def test_transfers_at_once_hand_each_customer_over_once(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="setup") as uow:
        uow.customers.add_many(Customer(name=f"C{i}", owner_id="li") for i in range(8))
    done: list[OwnershipTransfer] = []
    rules: list[TransferRule] = [EvenSplit(("wang", "zhao")), ToOne("chen")]

    def hand_over(worker: crmkit.CRM, n: int) -> None:
        done.append(
            _run(
                worker,
                lambda uow: transfer_ownership(
                    uow, from_owner="li", rule=rules[n % 2], reason="left"
                ),
                f"boss{n}",
            )
        )

    assert _at_once(backend, hand_over) == []
    assert sorted(sum(t.customers.values()) for t in done) == [0, 0, 0, 8]
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        assert uow.customers.by_owner("li") == []
        assert uow.customers.count() == 8
        assert uow.ownership_transfers.count() == WORKERS


def test_one_of_two_closing_a_complaint_at_once_wins(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="setup") as uow:
        uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
        complaint = open_complaint(
            uow, Complaint(customer_id=acme.id, subject="late", opened_at=T0)
        )
    resolved: list[Any] = []

    def close(worker: crmkit.CRM, n: int) -> None:
        worker.subscribe(ComplaintResolved, resolved.append)
        _run(
            worker,
            lambda uow: resolve_complaint(uow, complaint.id, resolution=f"by worker {n}"),
            f"agent{n}",
        )

    failures = _at_once(backend, close)
    assert len(failures) == WORKERS - 1
    assert all(isinstance(f, ValidationError) and "status" in str(f) for f in failures)
    assert len(resolved) == 1
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        assert uow.complaints.get(complaint.id).resolution == resolved[0].resolution
