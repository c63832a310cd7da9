"""The composition root: where crmkit's capabilities are wired into the storage core.

The storage core (`crmkit.storage`, `crmkit._converter`, `crmkit._crm`) names no capability.
Each capability declares its aggregates and repositories in its own storage modules, and this
module, imported once by ``crmkit``, registers them; adding a capability edits this module and
nothing else of the core.
"""

from __future__ import annotations

from crmkit.storage._customers import (
    CUSTOMERS,
    INTERACTIONS,
    MemoryCustomers,
    MemoryInteractions,
)
from crmkit.storage._registry import register

__all__: list[str] = []

register(
    CUSTOMERS,
    attribute="customers",
    memory=MemoryCustomers,
    sql="crmkit.storage.sql._customers:SqlCustomers",
)
register(
    INTERACTIONS,
    attribute="interactions",
    memory=MemoryInteractions,
    sql="crmkit.storage.sql._customers:SqlInteractions",
)
