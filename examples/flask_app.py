"""Recipe: crmkit in a Flask-SQLAlchemy app, inside ``db.session``'s transaction.

crmkit's unit of work joins ``db.session``: it works in a savepoint of the session's
transaction and never commits it; ``db.session.commit()`` commits the app's rows and crmkit's
together, and crmkit delivers its events right after that commit has succeeded (the session's
``after_commit``).

Run it with ``python examples/flask_app.py``: Flask's development server serves it on
http://127.0.0.1:8000, on the database at ``$CRMKIT_URL`` (``sqlite:///crm_app.db`` by default)
and the port ``$PORT``.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import crmkit
from crmkit.customers import Customer, register_customer
from crmkit.storage.sql import SqlStore, configure_sqlite


class Base(DeclarativeBase):
    """The app's own models."""


db = SQLAlchemy(model_class=Base)


class Signup(db.Model):  # type: ignore[name-defined,misc]
    """One of the app's own tables."""

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    campaign: Mapped[str] = mapped_column(sa.String(64))


def create_app(url: str) -> tuple[Flask, crmkit.CRM]:
    """The app, and the CRM it uses."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        crm = crmkit.CRM(SqlStore(db.engine))
        crm.create_all()
        db.create_all()

    @app.post("/customers")
    def register() -> ResponseReturnValue:
        body = request.get_json()
        db.session.add(Signup(code=body["code"], campaign=body["campaign"]))
        customer = Customer(name=body["name"], owner_id=body["owner"], code=body["code"])
        with crm.unit_of_work(actor=body["owner"], connection=db.session) as uow:
            register_customer(uow, customer)  # stores it, records CustomerRegistered
        if body.get("dry_run"):
            db.session.rollback()
            return jsonify(saved=False), 200
        db.session.commit()
        return jsonify(id=str(customer.id)), 201

    return app, crm


if __name__ == "__main__":
    app, _ = create_app(os.environ.get("CRMKIT_URL", "sqlite:///crm_app.db"))
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
