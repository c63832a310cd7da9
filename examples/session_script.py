"""Recipe: crmkit with a plain SQLAlchemy ``Session`` (a script, a worker, a notebook).

The unit of work joins the session: ``session.commit()`` makes both durable, and crmkit
delivers its events right after that commit has succeeded (the session's ``after_commit``);
a rollback drops them with the writes.
``python examples/session_script.py [URL]`` imports two customers into ``sqlite:///crm_app.db``
(or the database at URL) and prints what it stored.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import crmkit
from crmkit.customers import Customer, register_customer
from crmkit.storage.sql import SqlStore, configure_sqlite


class Base(DeclarativeBase):
    """The app's own models."""


class ImportBatch(Base):
    """One of the app's own tables: a record of each import."""

    __tablename__ = "app_import_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    rows: Mapped[int]


def open_crm(url: str) -> tuple[crmkit.CRM, sa.Engine]:
    """The app's engine, and a CRM sharing it."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    crm = crmkit.CRM(SqlStore(engine))
    crm.create_all()
    Base.metadata.create_all(engine)
    return crm, engine


def import_customers(
    crm: crmkit.CRM, engine: sa.Engine, names: list[str], *, fail: bool = False
) -> None:
    """Store `names` as customers and the batch record in one transaction."""
    with Session(engine) as session:
        session.add(ImportBatch(rows=len(names)))
        with crm.unit_of_work(actor="importer", connection=session) as uow:
            for name in names:
                register_customer(uow, Customer(name=name, owner_id="importer"))
        if fail:
            session.rollback()  # the batch record and the customers go together
        else:
            session.commit()


if __name__ == "__main__":
    crm, engine = open_crm(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///crm_app.db")
    import_customers(crm, engine, ["上海云杉科技", "Globex"])
    with crm.unit_of_work(actor="importer", read_only=True) as uow:
        print(f"{uow.customers.count()} customers stored")
    engine.dispose()
