"""The customers capability's tables: customers, their contacts, and the contacts' keys.

Interactions, on the repository core, get theirs from their declaration.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from crmkit.storage.sql._tables import MYSQL_OPTIONS, TENANT_LENGTH
from crmkit.storage.sql._types import Document, Id

__all__ = ["EXTERNAL_LENGTH", "KEY_LENGTH", "customer_tables"]

# An email address has at most 254 characters; lower-casing a few letters (U+0130) doubles
# them. 512 utf8mb4 characters keep the primary key within InnoDB's 3072 bytes.
KEY_LENGTH = 512
EXTERNAL_LENGTH = 128
"""The longest external id (a customer's or a contact's id in another system)."""


def customer_tables(metadata: MetaData, *, prefix: str, schema: str | None) -> dict[str, Any]:
    """Define the ``customers``, ``contacts`` and ``contact_keys`` tables on `metadata`."""

    def tenant() -> Column[str]:
        return Column("tenant_id", String(TENANT_LENGTH), nullable=False)

    customers_name = f"{prefix}customers"
    customers = Table(
        customers_name,
        metadata,
        tenant(),
        Column("id", Id(), nullable=False),
        Column("version", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("name", String(200), nullable=False),
        Column("code", String(64)),
        Column("owner_id", String(64), nullable=False),
        Column("lifecycle", String(32), nullable=False),
        Column("source", String(64)),
        Column("tier_code", String(16)),
        Column("tier_service_level", String(200)),
        Column("timezone", String(64), nullable=False),
        Column("birthday", Date),
        # Tags, custom fields, preferences, anniversaries and do-not-contact windows: read and
        # written with the customer, never queried alone (yet).
        Column("details", Document(), nullable=False),
        # Added by migration 0009, so last.
        Column("external_id", String(EXTERNAL_LENGTH)),
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "code"),
        Index(f"ix_{customers_name}_owner", "tenant_id", "owner_id", "id"),
        Index(f"ix_{customers_name}_external", "tenant_id", "external_id", unique=True),
        **MYSQL_OPTIONS,
    )
    parent = f"{schema}.{customers_name}" if schema else customers_name

    contacts = Table(
        f"{prefix}contacts",
        metadata,
        tenant(),
        Column("id", Id(), nullable=False),
        Column("customer_id", Id(), nullable=False),
        Column("position", Integer, nullable=False),
        Column("name", String(200), nullable=False),
        Column("title", String(200)),
        Column("reports_to", Id()),
        Column("birthday", Date),
        # Roles, phone numbers, email addresses, time zone, opt-outs, quiet hours and windows.
        Column("details", Document(), nullable=False),
        Column("external_id", String(EXTERNAL_LENGTH)),  # added by migration 0009
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            [f"{parent}.tenant_id", f"{parent}.id"],
            ondelete="CASCADE",
        ),
        Index(f"ix_{prefix}contacts_customer", "tenant_id", "customer_id", "position"),
        Index(f"ix_{prefix}contacts_external", "tenant_id", "external_id", unique=True),
        **MYSQL_OPTIONS,
    )

    contact_keys = Table(
        f"{prefix}contact_keys",
        metadata,
        tenant(),
        Column("kind", String(8), nullable=False),
        # E.164 for a phone, the address in lower case for an email.
        Column("value", String(KEY_LENGTH), nullable=False),
        Column("contact_id", Id(), nullable=False),
        Column("customer_id", Id(), nullable=False),
        # The primary key is the lookup index: tenant, kind and value first.
        PrimaryKeyConstraint("tenant_id", "kind", "value", "contact_id"),
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            [f"{parent}.tenant_id", f"{parent}.id"],
            ondelete="CASCADE",
        ),
        Index(f"ix_{prefix}contact_keys_customer", "tenant_id", "customer_id"),
        **MYSQL_OPTIONS,
    )
    return {"customers": customers, "contacts": contacts, "contact_keys": contact_keys}
