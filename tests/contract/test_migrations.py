"""crmkit's migration history, on every SQL backend: it builds what `create_all` builds, it keeps
out of the host's autogenerate, and opening a database that is behind is refused until upgraded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pendulum
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import crmkit
import crmkit.customers
from crmkit import EmailAddress, PhoneNumber, migrate
from crmkit.customers import (
    Contact,
    Customer,
    CustomerRegistered,
    CustomerUpdated,
    register_customer,
)
from crmkit.errors import SchemaVersionError, ValidationError
from crmkit.storage._outbox import outbox_text
from crmkit.storage.sql import SqlStore, build_tables
from crmkit.storage.sql._customer_rows import (
    CONTACT_COLUMNS,
    CUSTOMER_COLUMNS,
    contact_values,
    customer_values,
)

from .conftest import RUN, Backend


@pytest.fixture
def engine(backend: Backend, tmp_path: Any) -> Iterator[sa.Engine]:
    if not backend.is_sql:
        pytest.skip("the memory store has no schema to migrate")
    store = backend.make_store()
    assert isinstance(store, SqlStore)
    url = store.engine.url
    if backend.name == "sqlite":
        url = url.set(database=str(tmp_path / "migrations.db"))
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def prefix(engine: sa.Engine) -> Iterator[str]:
    """Table names of this test's own, dropped afterwards."""
    name = f"crmkit_m{RUN}_"
    _drop(engine, name)
    yield name
    _drop(engine, name)


def _drop(engine: sa.Engine, prefix: str) -> None:
    with engine.begin() as connection:
        build_tables(prefix=prefix).metadata.drop_all(connection)
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {prefix}alembic_version"))


def _schema(engine: sa.Engine, prefix: str) -> dict[str, Any]:
    inspector = sa.inspect(engine)
    found: dict[str, Any] = {}
    for table in sorted(t for t in inspector.get_table_names() if t.startswith(prefix)):
        if table.endswith("alembic_version"):
            continue
        found[table] = {
            "columns": [
                (c["name"], c["type"].compile(engine.dialect), c["nullable"])
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table),
            "fks": sorted(
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
                if not i.get("duplicates_constraint")
            ),
        }
    return found


def test_upgrading_an_empty_database_builds_what_create_all_builds(
    engine: sa.Engine, prefix: str
) -> None:
    migrate.upgrade(engine, prefix=prefix)
    migrated = _schema(engine, prefix)
    assert migrate.current(engine, prefix=prefix) == migrate.head()
    _drop(engine, prefix)
    SqlStore(engine, tables=build_tables(prefix=prefix)).create_all()
    assert _schema(engine, prefix) == migrated
    assert len(migrated) == 22
    # create_all records the revision, so migrations carry on from there.
    assert migrate.current(engine, prefix=prefix) == migrate.head()


def test_the_hosts_autogenerate_proposes_nothing_for_crmkits_tables(
    engine: sa.Engine, prefix: str
) -> None:
    host = sa.MetaData()
    invoices = f"host{RUN}_invoices"
    sa.Table(invoices, host, sa.Column("id", sa.Integer, primary_key=True))
    with engine.begin() as connection:
        host.create_all(connection)
    try:
        migrate.upgrade(engine, prefix=prefix)
        with engine.connect() as connection:
            # The database is shared with other test processes, whose tables come and go:
            # look only at this test's own (the host's table, and crmkit's with its prefix).
            def ours(name: str | None, type_: str, parents: Any) -> bool:
                if type_ == "schema":
                    return True
                table = name if type_ == "table" else parents.get("table_name")
                return table == invoices or (table or "").startswith(prefix)

            def with_helper(name: str | None, type_: str, parents: Any) -> bool:
                return ours(name, type_, parents) and migrate.include_name(name, type_, parents)

            unfiltered = compare_metadata(
                MigrationContext.configure(connection, opts={"include_name": ours}), host
            )
            filtered = compare_metadata(
                MigrationContext.configure(connection, opts={"include_name": with_helper}), host
            )
        # Without the filter autogenerate would drop crmkit's tables; with it, nothing.
        assert any(diff[0] == "remove_table" for diff in unfiltered)
        assert filtered == []
    finally:
        with engine.begin() as connection:
            host.drop_all(connection)


def test_a_database_from_before_contact_keys_is_refused_then_upgraded_keeping_its_data(
    engine: sa.Engine, prefix: str
) -> None:
    script = ScriptDirectory.from_config(migrate._config(prefix, None))
    previous = str(script.get_revision("0002").down_revision)
    migrate.upgrade(engine, prefix=prefix, revision=previous)
    # Data written by the crmkit of the previous revision: customers and their contacts.
    boss = Contact(
        name="李明",
        phones=(PhoneNumber("+8613912345678"),),
        emails=(EmailAddress("Li.Ming@yunshan.example.cn"),),
    )
    customer = Customer(name="上海云杉", owner_id="li", contacts=[boss])
    tables = build_tables(prefix=prefix)
    store = SqlStore(engine, tables=tables)
    # Without the columns later revisions added (external ids, 0009).
    old = {"external_id"}
    with engine.begin() as connection:
        for table, columns, rows in (
            (tables.customers, CUSTOMER_COLUMNS, [customer_values("default", customer, 1)]),
            (tables.contacts, CONTACT_COLUMNS, contact_values("default", customer)),
        ):
            connection.execute(
                table.insert(),
                [{k: v for k, v in zip(columns, r, strict=True) if k not in old} for r in rows],
            )

    with pytest.raises(SchemaVersionError, match=f"revision {previous}.*crmkit migrate"):
        SqlStore(engine, tables=tables).verify_schema()
    migrate.upgrade(engine, prefix=prefix)
    store.verify_schema()
    crm = crmkit.CRM(store)
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 1
        # The upgrade indexed the phone numbers and emails already stored.
        assert [c.id for c in uow.customers.by_phone("+8613912345678")] == [customer.id]
        assert [c.id for c in uow.customers.by_email("li.ming@yunshan.example.cn")] == [customer.id]

    # Down and up again: nothing is lost, nothing is indexed twice.
    migrate.downgrade(engine, prefix=prefix, revision=previous)
    assert migrate.current(engine, prefix=prefix) == previous
    migrate.upgrade(engine, prefix=prefix)
    with crm.unit_of_work(actor="li") as uow:
        assert [c.id for c in uow.customers.by_phone("+8613912345678")] == [customer.id]
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(tables.contact_keys)) == 2


def test_a_database_ahead_of_this_crmkit_is_refused(engine: sa.Engine, prefix: str) -> None:
    """A newer crmkit migrated it: this one must not write to a schema it does not know."""
    migrate.upgrade(engine, prefix=prefix)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {prefix}alembic_version SET version_num = '9001'"))
    with pytest.raises(
        SchemaVersionError, match="9001, newer than this crmkit.*upgrade the crmkit"
    ):
        SqlStore(engine, tables=build_tables(prefix=prefix)).verify_schema()
    with pytest.raises(SchemaVersionError, match="no crmkit tables.*crmkit migrate"):
        SqlStore(engine, tables=build_tables(prefix=f"{prefix}x_")).verify_schema()


def test_crmkit_can_live_in_a_schema_of_its_own(backend: Backend, engine: sa.Engine) -> None:
    if backend.name != "postgres":
        pytest.skip("schemas are a PostgreSQL feature (on MariaDB a schema is a database)")
    schema = f"crmkit_s{RUN}"
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        migrate.upgrade(engine, schema=schema)
        assert migrate.current(engine, schema=schema) == migrate.head()
        assert migrate.current(engine, prefix="crmkit_nowhere_") is None
        store = SqlStore(engine, tables=build_tables(schema=schema))
        store.verify_schema()
        crm = crmkit.CRM(store)
        with crm.unit_of_work(actor="li") as uow:
            uow.customers.add(crmkit.customers.Customer(name="Acme", owner_id="li"))
        with engine.connect() as connection:
            stored = connection.scalar(sa.text(f"SELECT count(*) FROM {schema}.crmkit_customers"))
        assert stored == 1
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


def test_a_migration_the_host_rolls_back_leaves_nothing(
    backend: Backend, engine: sa.Engine, prefix: str
) -> None:
    """On a plain engine, as a host makes it (pysqlite runs DDL outside its transactions)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        migrate.upgrade(connection, prefix=prefix)
        assert migrate.current(connection, prefix=prefix) == migrate.head()
        transaction.rollback()
    left = [t for t in sa.inspect(engine).get_table_names() if t.startswith(prefix)]
    if backend.name == "mysql":
        # MariaDB commits each DDL statement at once, so a rollback cannot undo them; the
        # next upgrade carries on from where the last commit got to (migrations run again).
        assert left
    else:
        assert left == []
        assert migrate.current(engine, prefix=prefix) is None
    migrate.upgrade(engine, prefix=prefix)
    assert migrate.current(engine, prefix=prefix) == migrate.head()


def test_a_migration_on_a_connection_outside_a_transaction_is_committed(
    engine: sa.Engine, prefix: str
) -> None:
    with engine.connect() as connection:
        migrate.upgrade(connection, prefix=prefix)
        assert not connection.in_transaction()
    assert migrate.current(engine, prefix=prefix) == migrate.head()
    assert len(_schema(engine, prefix)) == 22


def test_tables_made_without_migrations_are_recognised_and_adopted_by_stamping(
    engine: sa.Engine, prefix: str
) -> None:
    tables = build_tables(prefix=prefix)
    with engine.begin() as connection:
        tables.metadata.create_all(connection)
    adopt = f"no revision recorded in {prefix}alembic_version.*`crmkit stamp .* --prefix {prefix}`"
    with pytest.raises(SchemaVersionError, match=adopt):
        SqlStore(engine, tables=tables).verify_schema()
    with pytest.raises(SchemaVersionError, match=adopt):
        migrate.upgrade(engine, prefix=prefix)
    migrate.stamp(engine, prefix=prefix)
    SqlStore(engine, tables=tables).verify_schema()
    migrate.upgrade(engine, prefix=prefix)  # nothing left to do
    assert migrate.current(engine, prefix=prefix) == migrate.head()


def test_stamping_a_database_without_crmkits_tables_is_refused(
    engine: sa.Engine, prefix: str
) -> None:
    with pytest.raises(SchemaVersionError, match="none of crmkit's tables.*crmkit migrate"):
        migrate.stamp(engine, prefix=prefix)
    assert migrate.current(engine, prefix=prefix) is None


def test_migrating_a_database_ahead_of_this_crmkit_says_so(engine: sa.Engine, prefix: str) -> None:
    migrate.upgrade(engine, prefix=prefix)
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE {prefix}alembic_version SET version_num = '9999'"))
    newer = "revision 9999, newer than this crmkit knows.*upgrade the crmkit package"
    with pytest.raises(SchemaVersionError, match=newer):
        migrate.upgrade(engine, prefix=prefix)
    with pytest.raises(SchemaVersionError, match=newer):
        migrate.downgrade(engine, prefix=prefix, revision="0001")
    with pytest.raises(SchemaVersionError, match=newer):
        migrate.stamp(engine, prefix=prefix)
    assert migrate.current(engine, prefix=prefix) == "9999"


def test_upgrade_never_goes_back_nor_downgrade_forward(engine: sa.Engine, prefix: str) -> None:
    migrate.upgrade(engine, prefix=prefix)
    for older in ("0001", "base"):
        with pytest.raises(
            ValidationError, match=f"revision: .* are at revision 0010, past {older}"
        ):
            migrate.upgrade(engine, prefix=prefix, revision=older)
    assert migrate.current(engine, prefix=prefix) == "0010"
    migrate.downgrade(engine, prefix=prefix, revision="0001")
    with pytest.raises(ValidationError, match="at revision 0001, before 0002.*crmkit migrate"):
        migrate.downgrade(engine, prefix=prefix, revision="0002")
    assert migrate.current(engine, prefix=prefix) == "0001"
    migrate.upgrade(engine, prefix=prefix, revision="+1")  # relative revisions are Alembic's
    migrate.downgrade(engine, prefix=prefix, revision="-1")
    assert migrate.current(engine, prefix=prefix) == "0001"
    migrate.downgrade(engine, prefix=prefix, revision="base")
    assert migrate.current(engine, prefix=prefix) is None
    assert _schema(engine, prefix) == {}
    with pytest.raises(ValidationError, match="no crmkit revision recorded"):
        migrate.downgrade(engine, prefix=prefix, revision="0001")


def test_a_database_from_before_the_outbox_is_upgraded_and_then_delivers_events(
    engine: sa.Engine, prefix: str
) -> None:
    migrate.upgrade(engine, prefix=prefix, revision="0002")
    store = SqlStore(engine, tables=build_tables(prefix=prefix))
    with pytest.raises(SchemaVersionError, match="revision 0002.*crmkit migrate"):
        store.verify_schema()
    migrate.upgrade(engine, prefix=prefix)
    crm = crmkit.CRM(store, relay_on_commit=False)
    seen: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, seen.append)
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, Customer(name="Acme", owner_id="li"))
    assert crm.relay().delivered == 1
    assert len(seen) == 1
    # Down (the outbox goes, with what it held) and up again.
    migrate.downgrade(engine, prefix=prefix, revision="0002")
    assert not sa.inspect(engine).has_table(f"{prefix}outbox")
    migrate.upgrade(engine, prefix=prefix)
    store.verify_schema()


def test_events_written_after_the_event_counter_upgrade_follow_every_older_one_of_their_stream(
    engine: sa.Engine, prefix: str
) -> None:
    """Revision 0005 numbers events per tenant: it starts above every per-stream number."""
    migrate.upgrade(engine, prefix=prefix, revision="0004")
    tables = build_tables(prefix=prefix)
    outbox = tables.metadata.tables[f"{prefix}outbox"]
    counters = tables.metadata.tables[f"{prefix}change_counters"]
    streams = sa.Table(
        f"{prefix}outbox_streams",
        sa.MetaData(),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("stream", sa.String(64)),
        sa.Column("seq", sa.BigInteger),
    )
    a, b = crmkit.new_id(), crmkit.new_id()
    now = pendulum.now("UTC")
    # What 0004's crmkit left: pending events in several streams of two tenants, each stream
    # numbered on its own (stream b's 8 and 9 were delivered and purged, its 7 retried).
    old = [("default", a, 1), ("default", a, 2), ("default", b, 7), ("other", a, 1)]
    rows = []
    for tenant, subject, seq in old:
        event = CustomerUpdated(
            tenant_id=tenant, actor_id="li", occurred_at=now, id=crmkit.new_id(),
            customer_id=subject, version=seq,
        )  # fmt: skip
        stream, kind, data, _ = outbox_text(event)
        rows.append(
            {"tenant_id": tenant, "id": event.id, "stream": stream, "seq": seq, "kind": kind,
             "body": data, "status": "pending", "attempts": 0, "due_at": now}
        )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(outbox.insert(), rows)
        connection.execute(
            streams.insert(),
            [
                {"tenant_id": "default", "stream": str(a), "seq": 2},
                {"tenant_id": "default", "stream": str(b), "seq": 9},
                {"tenant_id": "other", "stream": str(a), "seq": 1},
            ],
        )
        # The tenant "default" has changes logged; "other" has none, so no counter row.
        connection.execute(sa.text(f"INSERT INTO {prefix}change_counters VALUES ('default', 3)"))

    migrate.upgrade(engine, prefix=prefix)
    assert not sa.inspect(engine).has_table(f"{prefix}outbox_streams")
    with engine.connect() as connection:
        found = connection.execute(sa.select(counters).order_by(counters.c.tenant_id)).all()
    assert [tuple(r) for r in found] == [("default", 3, 9), ("other", 0, 1)]

    crm = crmkit.CRM(SqlStore(engine, tables=tables), relay_on_commit=False)
    seen: list[tuple[str, UUID, int]] = []
    crm.subscribe(CustomerUpdated, lambda e: seen.append((e.tenant_id, e.customer_id, e.version)))
    new = [("default", b, 10), ("default", a, 3), ("other", a, 2), ("default", a, 4)]
    for tenant, subject, version in new:
        with crm.unit_of_work(actor="li", tenant=tenant) as uow:
            uow.record(CustomerUpdated, customer_id=subject, version=version)
    with engine.connect() as connection:
        numbers = connection.execute(
            sa.select(outbox.c.tenant_id, outbox.c.stream, outbox.c.seq).order_by(outbox.c.seq)
        ).all()
    by_stream: dict[tuple[str, str], list[int]] = {}
    for tenant, stream, seq in numbers:
        by_stream.setdefault((tenant, stream), []).append(seq)
    # Per tenant from where its highest stream had got to, in commit order.
    assert by_stream == {
        ("default", str(a)): [1, 2, 11, 12],
        ("default", str(b)): [7, 10],
        ("other", str(a)): [1, 2],
    }
    assert crm.relay().delivered == 8
    for key, seqs in by_stream.items():
        # Each stream's events went out in the order of their numbers: old ones first.
        versions = [v for t, s, v in seen if (t, str(s)) == key]
        assert versions == sorted(versions)
        assert len(versions) == len(seqs)

    # Down: each stream's counter is back, from the outbox's numbers; up again.
    migrate.downgrade(engine, prefix=prefix, revision="0004")
    with engine.connect() as connection:
        back = connection.execute(sa.select(streams).order_by(streams.c.tenant_id)).all()
    assert sorted(tuple(r) for r in back) == sorted(
        [("default", str(a), 12), ("default", str(b), 10), ("other", str(a), 2)]
    )
    assert "events" not in {c["name"] for c in sa.inspect(engine).get_columns(counters.name)}
    migrate.upgrade(engine, prefix=prefix)
    with engine.connect() as connection:
        found = connection.execute(sa.select(counters).order_by(counters.c.tenant_id)).all()
    assert [tuple(r) for r in found] == [("default", 3, 12), ("other", 0, 2)]


def test_0007_fills_the_stage_rows_from_the_histories_already_stored(
    engine: sa.Engine, prefix: str
) -> None:
    from crmkit.pipeline import funnel, lose, move, open_opportunity, transactional_pipeline

    quick = transactional_pipeline()
    at = pendulum.datetime(2026, 3, 2, 9)
    store = SqlStore(engine, tables=build_tables(prefix=prefix))
    store.create_all()
    acme = Customer(name="Acme", owner_id="li")
    deals = []
    for n in range(3):
        deal, _ = open_opportunity(
            quick,
            at=at.add(minutes=n),
            name=f"deal {n}",
            customer_id=acme.id,
            owner_id="li",
            amount=crmkit.Money("100", "CNY"),
            expected_close=pendulum.date(2026, 6, 30),
            quote="Q-1",
        )
        deals.append(deal)
    move(deals[0], quick, "quoted", at=at.add(days=1, microseconds=7))
    lose(deals[1], quick, at=at.add(days=2), reason="price")
    crm = crmkit.CRM(store)
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(acme)
        uow.opportunities.add_many(deals)
    migrate.downgrade(engine, prefix=prefix, revision="0006")
    assert f"{prefix}opportunity_stages" not in sa.inspect(engine).get_table_names()
    migrate.upgrade(engine, prefix=prefix)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.opportunities.funnel(quick) == funnel(deals, quick)
        assert uow.opportunities.funnel(quick).stages[0].reached == 3
