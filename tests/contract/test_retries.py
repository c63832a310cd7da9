"""Concurrent writers: transient conflicts are retried, and no update is ever lost."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pymysql.err
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import exc

import crmkit
from crmkit.customers import Customer
from crmkit.errors import RetriesExhausted, TransientError
from crmkit.storage import UnitOfWork
from crmkit.storage.sql import is_transient

from .conftest import Backend

WORKERS = 8
ROUNDS = 6


def test_eight_workers_updating_the_same_customers_all_finish_and_lose_no_update(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    customers = [
        Customer(name=f"Shared {i}", owner_id="li", custom_fields={"updates": 0}) for i in range(2)
    ]
    with crm.unit_of_work(actor="setup") as uow:
        uow.customers.add_many(customers)
    done: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def worker(n: int) -> None:
        other = backend.crm()  # each worker like a process of its own
        start.wait(timeout=30)
        for round_ in range(ROUNDS):
            target = customers[(n + round_) % len(customers)].id

            def bump(uow: UnitOfWork, target: object = target) -> None:
                customer = uow.customers.get(target)  # type: ignore[arg-type]
                count = customer.custom_fields["updates"]
                assert isinstance(count, int)
                customer.custom_fields["updates"] = count + 1
                uow.customers.update(customer)

            try:
                other.run(bump, actor=f"worker{n}", attempts=200, backoff=0.005, max_backoff=0.05)
                done.append(n)
            except BaseException as e:
                failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert len(done) == WORKERS * ROUNDS
    with crm.unit_of_work(actor="check") as uow:
        stored = uow.customers.get_many([c.id for c in customers])
    assert sum(c.custom_fields["updates"] for c in stored) == WORKERS * ROUNDS  # type: ignore[misc]
    assert sum(c.version for c in stored) == len(stored) + WORKERS * ROUNDS


def test_retries_give_up_after_the_last_attempt_with_a_clear_error(crm: crmkit.CRM) -> None:
    calls: list[int] = []

    def always_busy(uow: UnitOfWork) -> None:
        calls.append(1)
        raise TransientError("database is locked")

    with pytest.raises(RetriesExhausted, match="3 times") as caught:
        crm.run(always_busy, actor="li", attempts=3, backoff=0)
    assert len(calls) == 3
    assert isinstance(caught.value.__cause__, TransientError)


def test_work_that_fails_otherwise_is_not_retried(crm: crmkit.CRM) -> None:
    calls: list[int] = []

    def broken(uow: UnitOfWork) -> None:
        calls.append(1)
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        crm.run(broken, actor="li", attempts=5)
    assert len(calls) == 1


class _Driver(Exception):
    def __init__(self, *args: object, sqlstate: str | None = None, code: int | None = None):
        super().__init__(*args)
        self.sqlstate = sqlstate
        if code is not None:
            self.sqlite_errorcode = code


@pytest.mark.parametrize(
    ("make", "dialect", "transient"),
    [
        (lambda: _Driver("serialization failure", sqlstate="40001"), "postgresql", True),
        (lambda: _Driver("deadlock detected", sqlstate="40P01"), "postgresql", True),
        (lambda: _Driver("unique violation", sqlstate="23505"), "postgresql", False),
        (lambda: _Driver(1213, "Deadlock found"), "mysql", True),
        (lambda: _Driver(1205, "Lock wait timeout exceeded", sqlstate="HY000"), "mysql", True),
        (lambda: _Driver(1062, "Duplicate entry"), "mysql", False),
        (lambda: _Driver("database is locked", code=5), "sqlite", True),
        (lambda: _Driver("database is locked", code=517), "sqlite", True),  # SQLITE_BUSY_SNAPSHOT
        (lambda: _Driver("disk I/O error", code=10), "sqlite", False),
    ],
)
def test_retryable_errors_are_classified_per_dialect(
    make: Callable[[], BaseException], dialect: str, transient: bool
) -> None:
    error = exc.OperationalError("statement", {}, make())
    assert is_transient(error, dialect) is transient


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        # PyMySQL reports a lock wait timeout with the catch-all SQLSTATE HY000.
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded", sqlstate="HY000"), True),
        (pymysql.err.OperationalError(1213, "Deadlock found", sqlstate="40001"), True),
        (pymysql.err.OperationalError(1020, "Record has changed", sqlstate="HY000"), True),
        (pymysql.err.IntegrityError(1062, "Duplicate entry", sqlstate="23000"), False),
        (pymysql.err.OperationalError(2013, "Lost connection", sqlstate=None), False),
        (pg_errors.SerializationFailure("could not serialize"), True),
        (pg_errors.DeadlockDetected("deadlock detected"), True),
        (pg_errors.LockNotAvailable("canceling statement due to lock timeout"), True),
        (pg_errors.UniqueViolation("duplicate key"), False),
        (pg_errors.AdminShutdown("terminating connection"), False),
        (_Driver(1205, "Lock wait timeout exceeded"), False),  # a driver crmkit does not know
    ],
)
def test_a_drivers_errors_are_classified_by_the_code_of_the_backend_it_talks_to(
    error: BaseException, transient: bool
) -> None:
    assert is_transient(error) is transient
    assert is_transient(exc.OperationalError("statement", {}, error)) is transient
