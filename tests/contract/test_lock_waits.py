"""Lock waits are bounded by one setting, and every backend's own retryable errors are transient.

The errors here are real: a unit of work really waits for another's lock until the lock timeout,
two units of work really deadlock, and SQLite really reports SQLITE_BUSY.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

import crmkit
from crmkit import FixedClock
from crmkit.customers import Customer
from crmkit.errors import CrmkitError, TransientError, ValidationError
from crmkit.storage import UnitOfWork
from crmkit.storage.sql import (
    DEFAULT_LOCK_TIMEOUT,
    SqlStore,
    configure_lock_timeout,
    configure_sqlite,
)

from .conftest import NOW, Backend

#: The lock timeout of the stores under test, in seconds (a whole second: MariaDB rounds up).
BOUND = 1.0
#: How much longer than the bound a wait may take on a busy test machine.
SLACK = 3.0


@pytest.fixture
def sql_backend(backend: Backend) -> Backend:
    if not backend.is_sql:
        pytest.skip("the memory store never waits for a lock: it fails at commit at once")
    return backend


@pytest.fixture
def bounded(sql_backend: Backend) -> Iterator[crmkit.CRM]:
    """A CRM on the backend's emptied tables, through an engine whose lock waits end at BOUND."""
    sql_backend.empty()
    like = sql_backend.make_store()
    assert isinstance(like, SqlStore)
    engine = sa.create_engine(like.engine.url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    configure_lock_timeout(engine, BOUND)
    yield crmkit.CRM(SqlStore(engine, tables=like.tables), clock=FixedClock(NOW))
    engine.dispose()


def _code(error: BaseException, dialect: str) -> object:
    """The backend's own code for the driver error behind a crmkit error."""
    cause = error.__cause__
    assert isinstance(cause, exc.DBAPIError), repr(cause)
    orig = cause.orig
    if dialect == "postgresql":
        return getattr(orig, "sqlstate", None)
    if dialect == "sqlite":
        return getattr(orig, "sqlite_errorcode", None)
    assert orig is not None
    return orig.args[0]  # MariaDB's error number


_LOCK_WAIT_ENDED = {"postgresql": "55P03", "mysql": 1205, "sqlite": 5}  # SQLITE_BUSY
_DEADLOCK = {"postgresql": "40P01", "mysql": 1213}


def _rename(uow: UnitOfWork, customer: Customer, name: str) -> None:
    stored = uow.customers.get(customer.id)
    stored.name = name
    uow.customers.update(stored)


def test_a_unit_of_work_waiting_for_another_ends_in_a_transient_error_within_the_bound(
    bounded: crmkit.CRM,
) -> None:
    customer = Customer(name="Acme", owner_id="li")
    with bounded.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    started = time.monotonic()
    with (
        pytest.raises(TransientError, match="retry the unit of work") as caught,
        bounded.unit_of_work(actor="li") as outer,
    ):
        _rename(outer, customer, "outer")
        # By mistake, a second unit of work in the same thread wants the same row.
        with bounded.unit_of_work(actor="li") as inner:
            _rename(inner, customer, "inner")
    waited = time.monotonic() - started
    assert BOUND * 0.9 <= waited < BOUND + SLACK
    dialect = bounded.store.engine.dialect.name  # type: ignore[attr-defined]
    assert _code(caught.value, dialect) == _LOCK_WAIT_ENDED[dialect]
    with bounded.unit_of_work(actor="li") as uow:
        assert uow.customers.get(customer.id).name == "Acme"  # neither wrote anything


def test_two_units_of_work_in_a_deadlock_one_ends_in_a_transient_error_and_one_commits(
    sql_backend: Backend,
) -> None:
    crm = sql_backend.fresh()
    if crm.store.engine.dialect.name == "sqlite":  # type: ignore[attr-defined]
        pytest.skip("SQLite cannot deadlock: a writer takes the database's lock when it begins")
    a, b = Customer(name="A", owner_id="li"), Customer(name="B", owner_id="li")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([a, b])
    both_hold_one = threading.Barrier(2, timeout=30)
    failures: list[CrmkitError] = []

    def worker(first: Customer, second: Customer, name: str) -> None:
        try:
            with crm.unit_of_work(actor=name) as uow:
                _rename(uow, first, name)
                both_hold_one.wait()
                _rename(uow, second, name)
        except CrmkitError as e:
            failures.append(e)

    threads = [
        threading.Thread(target=worker, args=(a, b, "one")),
        threading.Thread(target=worker, args=(b, a, "two")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(failures) == 1, failures
    assert isinstance(failures[0], TransientError)
    dialect = crm.store.engine.dialect.name  # type: ignore[attr-defined]
    assert _code(failures[0], dialect) == _DEADLOCK[dialect]
    with crm.unit_of_work(actor="li") as uow:
        names = {uow.customers.get(a.id).name, uow.customers.get(b.id).name}
    assert len(names) == 1  # the survivor renamed both
    assert names < {"one", "two"}


def _session_lock_timeout(crm: crmkit.CRM) -> float:
    """The lock timeout, in seconds, of the connection a unit of work of `crm` gets."""
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        connection = uow.connection  # type: ignore[attr-defined]
        dialect = connection.dialect.name
        if dialect == "postgresql":
            text = connection.exec_driver_sql("SELECT current_setting('lock_timeout')").scalar()
            value, unit = (text[:-2], 1000) if text.endswith("ms") else (text[:-1], 1)
            return float(value) / unit
        if dialect == "sqlite":
            return float(connection.exec_driver_sql("PRAGMA busy_timeout").scalar()) / 1000
        return float(
            connection.exec_driver_sql("SELECT @@SESSION.innodb_lock_wait_timeout").scalar()
        )


@pytest.mark.parametrize("seconds", [None, 0.25, 2])
def test_crmkit_open_bounds_the_lock_wait_of_every_connection_it_makes(
    sql_backend: Backend, seconds: float | None
) -> None:
    like = sql_backend.make_store()
    assert isinstance(like, SqlStore)
    crm = crmkit.open(like.engine.url, lock_timeout=seconds, verify_schema=False)
    try:
        wanted = DEFAULT_LOCK_TIMEOUT if seconds is None else seconds
        if crm.store.engine.dialect.name == "mysql":  # type: ignore[attr-defined]
            wanted = math.ceil(wanted)  # whole seconds there
        # Twice: a connection back from the pool keeps it.
        assert [_session_lock_timeout(crm), _session_lock_timeout(crm)] == [wanted, wanted]
    finally:
        crm.close()


@pytest.mark.parametrize("seconds", [0, -1, 86_401, math.nan, math.inf, True, "5"])
def test_a_lock_timeout_that_is_not_a_sensible_number_of_seconds_is_refused(
    seconds: object, tmp_path: object
) -> None:
    for url in ("memory://", f"sqlite:///{tmp_path}/c.db"):
        with pytest.raises(ValidationError, match="^lock_timeout: must be"):
            crmkit.open(url, lock_timeout=seconds, create=True)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^lock_timeout: must be"):
        configure_lock_timeout(sa.create_engine("sqlite://"), seconds)  # type: ignore[arg-type]


def test_a_lock_timeout_for_an_engine_of_the_hosts_points_to_configure_lock_timeout() -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(ValidationError, match=r"^lock_timeout: .*configure_lock_timeout"):
        crmkit.open(engine, lock_timeout=1)


def test_configure_lock_timeout_refuses_what_is_not_an_engine_of_a_known_database() -> None:
    with pytest.raises(ValidationError, match="^engine: must be a SQLAlchemy Engine, not str"):
        configure_lock_timeout("sqlite://", 1)  # type: ignore[arg-type]
    engine = sa.create_engine("sqlite://")
    engine.dialect.name = "oracle"
    with pytest.raises(ValidationError, match="^engine: is on oracle; crmkit bounds lock waits"):
        configure_lock_timeout(engine, 1)
