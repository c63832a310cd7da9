"""Recipe: crmkit in a FastAPI app, sharing each request's database transaction.

The app opens one connection and transaction per request (a dependency); crmkit's unit of
work joins it, so the app's own rows and crmkit's commit or roll back together. crmkit's
events wait in its outbox, written in that transaction; once the transaction has committed,
the same dependency relays them, so they go out only if it did. (Not a middleware: FastAPI
ends a dependency's ``yield`` after the middlewares have returned, so a middleware would relay
before the commit.) crmkit's `NotFound` becomes a 404 and `DuplicateError` a 409.

Run it with ``python examples/fastapi_app.py`` (needs ``pip install fastapi uvicorn``): it
serves on http://127.0.0.1:8000 (try /docs), on the database at ``$CRMKIT_URL``
(``sqlite:///crm_app.db`` by default) and the port ``$PORT``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import crmkit
from crmkit.customers import Customer, register_customer
from crmkit.errors import CrmkitError, DuplicateError, NotFound
from crmkit.storage.sql import SqlStore, configure_sqlite

app_metadata = sa.MetaData()
signups = sa.Table(  # one of the app's own tables
    "app_signups",
    app_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("campaign", sa.String(64), nullable=False),
)


class NewCustomer(BaseModel):
    """What the API accepts."""

    code: str
    name: str
    owner: str
    campaign: str


def transaction(request: Request) -> Iterator[sa.Connection]:
    """One connection and transaction per request; it commits when the request succeeds.

    After the commit, it delivers the events crmkit recorded (a relay worker, ``crmkit
    relay``, takes whatever is left if the app stops in between).
    """
    engine: sa.Engine = request.app.state.engine
    with engine.begin() as connection:
        yield connection
    try:
        request.app.state.crm.relay(limit=100)
    except CrmkitError:
        logging.getLogger(__name__).exception("relaying events failed; the worker will")


Transaction = Annotated[sa.Connection, Depends(transaction)]


def create_app(url: str) -> tuple[FastAPI, crmkit.CRM]:
    """The app, and the CRM it uses (returned too, for tests and background jobs)."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    crm = crmkit.CRM(SqlStore(engine))
    crm.create_all()
    app_metadata.create_all(engine)
    app = FastAPI()
    app.state.engine = engine
    app.state.crm = crm

    @app.exception_handler(NotFound)
    def not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(error)})

    @app.post("/customers", status_code=201)
    def register(new: NewCustomer, connection: Transaction) -> dict[str, str]:
        connection.execute(signups.insert(), {"code": new.code, "campaign": new.campaign})
        customer = Customer(name=new.name, owner_id=new.owner, code=new.code)
        try:
            with crm.unit_of_work(actor=new.owner, connection=connection) as uow:
                register_customer(uow, customer)  # stores it, records CustomerRegistered
        except DuplicateError as e:
            raise HTTPException(status_code=409, detail=str(e)) from e
        return {"id": str(customer.id)}

    @app.get("/customers/{code}")
    def show(code: str, connection: Transaction) -> dict[str, str]:
        with crm.unit_of_work(actor="api", connection=connection, read_only=True) as uow:
            customer = uow.customers.by_code(code)
        return {"name": customer.name, "owner": customer.owner_id}

    return app, crm


if __name__ == "__main__":
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise SystemExit("serving the app needs uvicorn: pip install uvicorn") from None
    app, _ = create_app(os.environ.get("CRMKIT_URL", "sqlite:///crm_app.db"))
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
