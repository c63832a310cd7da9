"""The opportunities' tables: the table derived from their declaration, and the stage projection.

An opportunity's stage history is a JSON document in its row. For reports computed inside the
database (the funnel, the channel report), ``opportunity_stages`` keeps one row per history
entry, written with the opportunity by `SqlOpportunities` (never by anyone else): the entry's
stage and time, the stage before it, how long the stay lasted (in whole microseconds, null for
the stage the deal is in now), and the deal's pipeline, owner and creation time (its first
entry), so that a report filters and groups these rows without reading a JSON document.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

from crmkit.storage._pipeline import OPPORTUNITIES
from crmkit.storage.sql._records import record_table
from crmkit.storage.sql._tables import MYSQL_OPTIONS, TENANT_LENGTH
from crmkit.storage.sql._types import Id, Instant

__all__ = ["opportunity_tables", "stage_table"]


def opportunity_tables(metadata: MetaData, *, prefix: str, schema: str | None) -> dict[str, Any]:
    """Define the ``opportunities`` and ``opportunity_stages`` tables on `metadata`."""
    customers = f"{prefix}customers"
    parent = metadata.tables[f"{schema}.{customers}" if schema else customers]
    opportunities = record_table(OPPORTUNITIES, metadata, prefix=prefix, parent=parent)
    return {
        "opportunities": opportunities,
        "opportunity_stages": stage_table(metadata, prefix=prefix, schema=schema),
    }


def stage_table(metadata: MetaData, *, prefix: str, schema: str | None) -> Table:
    """Define ``opportunity_stages``: one row per entry of an opportunity's stage history."""
    name = f"{prefix}opportunity_stages"
    opportunities = f"{prefix}opportunities"
    parent = f"{schema}.{opportunities}" if schema else opportunities
    return Table(
        name,
        metadata,
        Column("tenant_id", String(TENANT_LENGTH), nullable=False),
        Column("opportunity_id", Id(), nullable=False),
        # The entry's position in the history, from 0.
        Column("position", Integer, nullable=False),
        # The deal's, repeated on each of its rows: what reports filter on.
        Column("pipeline", String(64), nullable=False),
        Column("owner_id", String(64), nullable=False),
        Column("created_at", Instant(), nullable=False),
        # The entry's own.
        Column("stage", String(64), nullable=False),
        Column("previous", String(64)),
        Column("entered_at", Instant(), nullable=False),
        # Microseconds until the next entry; null for the last (the deal's current stage).
        Column("stay", BigInteger),
        PrimaryKeyConstraint("tenant_id", "opportunity_id", "position"),
        # Named here: the naming convention's name would outgrow PostgreSQL's 63 characters.
        ForeignKeyConstraint(
            ["tenant_id", "opportunity_id"],
            [f"{parent}.tenant_id", f"{parent}.id"],
            ondelete="CASCADE",
            name=f"fk_{name}",
        ),
        Index(f"ix_{name}_pipeline", "tenant_id", "pipeline", "created_at"),
        **MYSQL_OPTIONS,
    )
