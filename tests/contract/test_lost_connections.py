"""The error a caller sees is the one that happened, even when the rollback after it fails too."""

from __future__ import annotations

import contextlib
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

import crmkit
from crmkit.customers import Customer
from crmkit.errors import DuplicateError, StorageError, UnitOfWorkClosed
from crmkit.storage import UnitOfWork

from .conftest import Backend

ROLLBACK_NOTE = "rolling back the unit of work afterwards failed too: StorageError: rolling back"


def _kill(victim: sa.Connection, engine: sa.Engine) -> None:
    """End `victim`'s session on the server from another session, and wait until it is gone."""
    postgres = engine.dialect.name == "postgresql"
    own_id = "SELECT pg_backend_pid()" if postgres else "SELECT CONNECTION_ID()"
    session = victim.exec_driver_sql(own_id).scalar()
    alive = (
        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        if postgres
        else "SELECT count(*) FROM information_schema.processlist WHERE id = %s"
    )
    # Autocommit: PostgreSQL shows pg_stat_activity as it was when a transaction first read
    # it, so polling inside one transaction would never see the session go.
    killer = sa.create_engine(engine.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with killer.connect() as connection:
            kill = f"SELECT pg_terminate_backend({session})" if postgres else f"KILL {session}"
            connection.exec_driver_sql(kill)
            deadline = time.monotonic() + 10
            while connection.exec_driver_sql(alive, (session,)).scalar():
                assert time.monotonic() < deadline, "the killed session lives on"
                time.sleep(0.05)
    finally:
        killer.dispose()


@pytest.fixture
def server(backend: Backend) -> Backend:
    if backend.name not in ("postgres", "mysql"):
        pytest.skip("only a database server has sessions to kill")
    return backend


def test_a_lookup_on_a_killed_connection_raises_its_own_error_not_the_failed_rollback(
    server: Backend,
) -> None:
    crm = server.fresh()
    customer = Customer(name="Acme", owner_id="li")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    with pytest.raises(StorageError) as caught, crm.unit_of_work(actor="li") as uow:
        uow.customers.get(customer.id)
        _kill(uow.connection, crm.store.engine)  # type: ignore[attr-defined]
        uow.customers.get(customer.id)
    error = caught.value
    assert str(error).startswith("loading a customer failed: ")
    assert isinstance(error.__cause__, exc.OperationalError)  # the lookup's own driver error
    assert any(note.startswith(ROLLBACK_NOTE) for note in error.__notes__)
    with crm.unit_of_work(actor="li") as uow:  # the pool hands out a live connection again
        assert uow.customers.get(customer.id).name == "Acme"


def test_a_commit_on_a_killed_connection_raises_its_own_error_not_the_failed_rollback(
    server: Backend,
) -> None:
    crm = server.fresh()
    customer = Customer(name="Acme", owner_id="li")
    with pytest.raises(StorageError) as caught, crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        _kill(uow.connection, crm.store.engine)  # type: ignore[attr-defined]
    error = caught.value
    assert str(error).startswith("committing failed: ")
    assert isinstance(error.__cause__, exc.DBAPIError)
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 0


class _RollbackFails(StorageError):
    pass


def _spoil_rollback(uow: UnitOfWork) -> None:
    """Make the rollback of `uow` report a failure (after really rolling back)."""
    real = uow._rollback

    def rollback() -> None:
        real()
        raise _RollbackFails("rolling back failed: the server is gone")

    uow._rollback = rollback  # type: ignore[method-assign]


def test_an_error_in_the_block_reaches_the_caller_when_the_rollback_fails_too(
    crm: crmkit.CRM,
) -> None:
    with pytest.raises(KeyError) as caught, crm.unit_of_work(actor="li") as uow:
        _spoil_rollback(uow)
        raise KeyError("a bug in the block")
    note = (
        "rolling back the unit of work afterwards failed too: "
        "_RollbackFails: rolling back failed: the server is gone"
    )
    assert caught.value.__notes__ == [note]
    assert not uow.is_open


def test_a_spoilt_unit_of_work_still_says_why_when_the_rollback_fails_too(
    crm: crmkit.CRM,
) -> None:
    customer = Customer(name="Acme", owner_id="li", code="C-1")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    with pytest.raises(UnitOfWorkClosed) as caught, crm.unit_of_work(actor="li") as uow:
        _spoil_rollback(uow)
        with contextlib.suppress(DuplicateError):  # caught: leaving the block then commits
            uow.customers.add(Customer(name="Acme again", owner_id="li", code="C-1"))
    assert isinstance(caught.value.__cause__, DuplicateError)
    assert any("_RollbackFails" in note for note in caught.value.__notes__)
