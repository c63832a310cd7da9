"""Events of work done in a host's transaction go out only once the host's commit has succeeded.

SQLAlchemy's connection ``commit`` event fires before the database commits, so crmkit no
longer delivers on it: the events wait in the outbox, written in the host's transaction, and
go out by the relay, or right after a host ``Session``'s commit (its ``after_commit``). A
commit that fails, or a host savepoint rolled back around crmkit's work, delivers nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pendulum
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import crmkit
from crmkit import FixedClock
from crmkit.customers import Customer, CustomerRegistered, register_customer
from crmkit.storage.sql import SqlStore

from .conftest import RUN, Backend
from .test_outbox import Noted

ROOT = Path(__file__).parents[2]


def _not_on_mariadb(
    ddl: object,
    target: object,
    bind: object,
    tables: object = None,
    state: object = None,
    *,
    dialect: sa.Dialect,
    compiler: object = None,
    checkfirst: bool = False,
) -> bool:
    return dialect.name != "mysql"


host_metadata = sa.MetaData()
parents = sa.Table(
    f"host_parents_h{RUN}",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
)
children = sa.Table(
    f"host_children_h{RUN}",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("parent_id", sa.Integer, nullable=False),
    # Checked at COMMIT (SQLite, PostgreSQL; MariaDB has no deferred constraints).
    sa.ForeignKeyConstraint(
        ["parent_id"], [parents.c.id], deferrable=True, initially="DEFERRED"
    ).ddl_if(callable_=_not_on_mariadb),
)


@pytest.fixture
def sql(backend: Backend) -> Iterator[tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]]]:
    if not backend.is_sql:
        pytest.skip("only SQL stores join a host's connection")
    crm = backend.fresh()
    assert isinstance(crm.store, SqlStore)
    engine = crm.store.engine
    with engine.begin() as connection:
        host_metadata.drop_all(connection)
        host_metadata.create_all(connection)
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    yield crm, engine, published
    with engine.begin() as connection:
        host_metadata.drop_all(connection)


def register(uow: crmkit.storage.UnitOfWork) -> None:
    register_customer(uow, Customer(name="Acme", owner_id="li"))


def customers(crm: crmkit.CRM) -> int:
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        return uow.customers.count()


def test_a_host_commit_that_fails_on_a_deferred_key_delivers_nothing(
    backend: Backend, sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]]
) -> None:
    if backend.name == "mysql":
        pytest.skip("MariaDB checks foreign keys at once: the killed connection test covers it")
    crm, engine, published = sql
    with engine.connect() as connection:
        connection.begin()
        connection.execute(children.insert(), {"id": 1, "parent_id": 404})  # no such parent
        with crm.unit_of_work(actor="li", connection=connection) as uow:
            register(uow)
        with pytest.raises(sa.exc.IntegrityError):
            connection.commit()
        connection.rollback()
    assert crm.relay().delivered == 0
    assert published == []
    assert customers(crm) == 0


def test_a_host_commit_on_a_killed_connection_delivers_nothing(
    backend: Backend, sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]]
) -> None:
    if backend.name == "sqlite":
        pytest.skip("only a database server has sessions to kill")
    crm, engine, published = sql
    own_id, kill = (
        ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})")
        if backend.name == "postgres"
        else ("SELECT CONNECTION_ID()", "KILL CONNECTION {}")
    )
    with engine.connect() as connection:
        connection.begin()
        victim = connection.exec_driver_sql(own_id).scalar()
        with crm.unit_of_work(actor="li", connection=connection) as uow:
            register(uow)
        with engine.connect() as other:
            other.exec_driver_sql(kill.format(int(str(victim))))
        with pytest.raises(sa.exc.DBAPIError):
            connection.commit()
    assert crm.relay().delivered == 0
    assert published == []
    assert customers(crm) == 0


def test_a_host_savepoint_rolled_back_around_crmkits_work_delivers_nothing(
    sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]],
) -> None:
    crm, engine, published = sql
    with engine.connect() as connection:
        connection.begin()
        savepoint = connection.begin_nested()
        with crm.unit_of_work(actor="li", connection=connection) as uow:
            register(uow)
        savepoint.rollback()
        connection.execute(parents.insert(), {"id": 1})
        connection.commit()
    assert crm.relay().delivered == 0
    assert published == []
    assert customers(crm) == 0


def test_a_session_delivers_right_after_its_commit_and_the_handler_sees_the_rows(
    sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]],
) -> None:
    crm, engine, published = sql
    seen: list[int] = []
    crm.subscribe(CustomerRegistered, lambda _: seen.append(customers(crm)))
    with Session(engine) as session:
        session.execute(parents.insert(), {"id": 1})
        with crm.unit_of_work(actor="li", connection=session) as uow:
            register(uow)
        session.flush()
        assert published == []
        session.commit()
        assert len(published) == 1
    assert seen == [1]  # after the commit: the handler finds the customer
    assert crm.relay().delivered == 0  # delivered once, and marked so


def test_a_session_savepoint_released_waits_for_the_real_commit(
    sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]],
) -> None:
    crm, engine, published = sql
    with Session(engine) as session:
        savepoint = session.begin_nested()
        with crm.unit_of_work(actor="li", connection=session) as uow:
            register(uow)
        savepoint.commit()  # SQLAlchemy fires after_commit for a savepoint too
        assert published == []
        session.commit()
    assert len(published) == 1


def test_a_session_delivers_nothing_if_its_commit_fails_or_a_savepoint_rolls_back(
    backend: Backend, sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]]
) -> None:
    crm, engine, published = sql
    with Session(engine) as session:
        savepoint = session.begin_nested()
        with crm.unit_of_work(actor="li", connection=session) as uow:
            register(uow)
        savepoint.rollback()
        session.execute(parents.insert(), {"id": 1})
        session.commit()
    assert published == []
    if backend.name != "mysql":
        with Session(engine) as session:
            session.execute(children.insert(), {"id": 1, "parent_id": 404})
            with crm.unit_of_work(actor="li", connection=session) as uow:
                register(uow)
            with pytest.raises(sa.exc.IntegrityError):
                session.commit()
    assert crm.relay().delivered == 0
    assert published == []
    assert customers(crm) == 0


def test_events_of_one_aggregate_go_out_in_commit_order_when_transactions_overlap(
    backend: Backend,
) -> None:
    """The later transaction took its event's id first, but commits second: it goes second.

    Numbers within an aggregate are taken under a lock on the aggregate's stream, held to the
    end of the transaction, so they follow the commits, not the ids. SQLite has a single
    writer, so there a transaction that begins later commits later anyway.
    """
    crm = backend.fresh(relay_on_commit=False)
    seen: list[str] = []
    crm.subscribe(Noted, lambda e: seen.append(e.text))
    subject = crmkit.new_id()
    if backend.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: a second transaction cannot overlap")
    if backend.name == "memory":
        late = crm.unit_of_work(actor="li")
        first_id = late.record(Noted, subject_id=subject, text="committed second").id
        with crm.unit_of_work(actor="li") as uow:
            second_id = uow.record(Noted, subject_id=subject, text="committed first").id
        late.commit()
    else:
        assert isinstance(crm.store, SqlStore)
        engine = crm.store.engine
        late_connection, early_connection = engine.connect(), engine.connect()
        try:
            late_connection.begin()
            late = crm.unit_of_work(actor="li", connection=late_connection)
            first_id = late.record(Noted, subject_id=subject, text="committed second").id
            early_connection.begin()
            with crm.unit_of_work(actor="li", connection=early_connection) as uow:
                second_id = uow.record(Noted, subject_id=subject, text="committed first").id
            failures: list[BaseException] = []

            def commit_late() -> None:
                try:
                    late.commit()  # waits for the stream's lock until the other commits
                    late_connection.commit()
                except BaseException as e:  # reported below
                    failures.append(e)

            thread = threading.Thread(target=commit_late)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive()  # it waits for the early transaction's stream lock
            early_connection.commit()
            thread.join()
            assert failures == []
        finally:
            late_connection.close()
            early_connection.close()
    assert first_id < second_id
    assert crm.relay().delivered == 2
    assert seen == ["committed first", "committed second"]


_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    import crmkit
    from crmkit.customers import Customer, CustomerRegistered, register_customer
    from crmkit.storage.sql import SqlStore, build_tables

    url, prefix, moment = sys.argv[1:4]
    made = SqlStore.from_url(url)
    crm = crmkit.CRM(SqlStore(made.engine, tables=build_tables(prefix=prefix)))

    def die(event):
        print(event.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    crm.subscribe(CustomerRegistered, die)
    crm.relay_on_commit = moment == "while delivering"
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, Customer(name="Acme", owner_id="li"))
        event_id = uow.events[0].id
    print(event_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("moment", ["after the commit", "while delivering"])
def test_a_process_killed_between_commit_and_delivery_leaves_the_event_to_the_next_relay(
    backend: Backend, moment: str
) -> None:
    if not backend.is_sql:
        pytest.skip("the memory store dies with its process")
    crm = backend.fresh()
    assert isinstance(crm.store, SqlStore)
    url = crm.store.engine.url.render_as_string(hide_password=False)
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, url, crm.store.tables.prefix, moment],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    event_id = UUID(killed.stdout.split()[0])
    assert customers(crm) == 1

    # A dead relay's claim (a lease, 300 s by default) holds the event until it runs out.
    later = 301 if moment == "while delivering" else 0
    relay = backend.crm(clock=FixedClock(pendulum.now("UTC").add(seconds=later)))
    delivered: list[UUID] = []
    relay.subscribe(CustomerRegistered, lambda e: delivered.append(e.id))
    if later:
        early = backend.crm(clock=FixedClock(pendulum.now("UTC")))
        early.subscribe(CustomerRegistered, lambda e: delivered.append(e.id))
        assert early.relay().delivered == 0
    assert relay.relay().delivered == 1
    assert relay.relay().delivered == 0
    assert delivered == [event_id]
