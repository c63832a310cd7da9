"""Recipe: a worker that delivers crmkit's events, apart from the app that records them.

The app opens its CRM with ``relay_on_commit=False``, so its units of work only write their
events to crmkit's outbox, in their own transactions. This worker delivers them::

    cd examples && crmkit relay sqlite:///crm_app.db --subscribe relay_worker:subscribe

It calls `subscribe` with its CRM, then delivers every committed event to the handlers
subscribed there, retrying failures with a growing pause, and waits for more (``--once``
delivers what is due and stops). Delivery is at least once: the handler below does its work
once per event id, so an event delivered again (after a crash) sends no second mail.
"""

from __future__ import annotations

import sqlalchemy as sa

import crmkit
from crmkit.customers import CustomerRegistered
from crmkit.storage.sql import SqlStore

app_metadata = sa.MetaData()
welcome_mails = sa.Table(  # one of the app's own tables: the mails sent, by event id
    "app_welcome_mails",
    app_metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
)


def subscribe(crm: crmkit.CRM) -> None:
    """Subscribe the app's handlers to `crm` (the worker calls this once, at start)."""
    assert isinstance(crm.store, SqlStore)  # noqa: S101 (the worker runs on a SQL store)
    engine = crm.store.engine
    app_metadata.create_all(engine)

    def send_welcome(event: CustomerRegistered) -> None:
        with engine.begin() as connection:
            sent = connection.scalar(
                sa.select(sa.func.count())
                .select_from(welcome_mails)
                .where(welcome_mails.c.event_id == str(event.id))
            )
            if sent:
                return  # delivered before: the mail went out then
            # ... send the mail here ...
            connection.execute(
                welcome_mails.insert(),
                {"event_id": str(event.id), "customer_id": str(event.customer_id)},
            )

    crm.subscribe(CustomerRegistered, send_welcome)
