"""One `backend` fixture, parametrised over every storage adapter, for the contract tests.

memory and SQLite always run. PostgreSQL and MariaDB run when ``CRMKIT_TEST_POSTGRES_URL`` and
``CRMKIT_TEST_MYSQL_URL`` are set; without them the tests skip and say why, except under CI
(``CI`` set), where a missing URL fails the run so server tests are never skipped silently.

Each test process (each pytest-xdist worker, each concurrent run) gets tables of its own on a
shared server database, named with its process id, and drops them at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

import crmkit
from crmkit import FixedClock
from crmkit.storage import MemoryStore, Store

SERVERS = {
    "postgres": "CRMKIT_TEST_POSTGRES_URL",
    "mysql": "CRMKIT_TEST_MYSQL_URL",
}
BACKENDS = ["memory", "sqlite", *SERVERS]
NOW = "2026-03-02T09:30:00+08:00"


@attrs.define
class Backend:
    """A storage adapter under test: `fresh()` empties it and opens a CRM on it."""

    name: str
    make_store: Callable[[], Store]
    empty: Callable[[], None]
    stores: list[Store] = attrs.Factory(list)
    cleanup: Callable[[], None] | None = None

    def fresh(self, **crm_options: object) -> crmkit.CRM:
        self.empty()
        return self.crm(**crm_options)

    def crm(self, **crm_options: object) -> crmkit.CRM:
        """Another CRM on the same data (another app process, say)."""
        store = self.make_store()
        self.stores.append(store)
        options: dict[str, object] = {"clock": FixedClock(NOW), **crm_options}
        return crmkit.CRM(store, **options)  # type: ignore[arg-type]

    @property
    def is_sql(self) -> bool:
        return self.name != "memory"

    def close(self) -> None:
        if self.cleanup is not None:
            self.cleanup()
        for store in self.stores:
            store.close()


def server_url(name: str) -> str:
    variable = SERVERS[name]
    url = os.environ.get(variable)
    if not url:
        reason = f"{variable} is not set: the {name} contract tests need a server"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must not skip them")
        pytest.skip(reason)
    return url


#: Names that no other test process on the same server uses.
RUN = str(os.getpid() % 100_000)


def _sql_backend(name: str, url: str) -> Backend:
    import sqlalchemy as sa

    from crmkit.storage.sql import SqlStore, build_tables

    tables = build_tables(prefix=f"crmkit_t{RUN}_")
    probe = SqlStore.from_url(url)
    engine = probe.engine
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as e:
        pytest.fail(f"the {name} server at {url} is unreachable: {e}")
    with engine.begin() as connection:
        tables.metadata.drop_all(connection)
        tables.metadata.create_all(connection)

    def make_store() -> Store:
        return SqlStore(engine, tables=tables)

    def empty() -> None:
        with engine.begin() as connection:
            for table in reversed(tables.metadata.sorted_tables):
                connection.execute(table.delete())

    def drop() -> None:
        with engine.begin() as connection:
            tables.metadata.drop_all(connection)

    return Backend(name, make_store, empty, stores=[probe], cleanup=drop)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    name: str = request.param
    if name == "memory":
        holder: list[MemoryStore] = [MemoryStore()]

        def empty() -> None:
            holder[0] = MemoryStore()

        made = Backend(name, lambda: holder[0], empty)
    elif name == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "contract.db"
        made = _sql_backend(name, f"sqlite:///{path}")
    else:
        made = _sql_backend(name, server_url(name))
    yield made
    made.close()


@pytest.fixture
def crm(backend: Backend) -> crmkit.CRM:
    """A CRM on an emptied store of the adapter under test."""
    return backend.fresh()
