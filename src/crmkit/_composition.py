"""The composition root: where crmkit's capabilities are wired into the storage core.

The storage core (`crmkit.storage`, `crmkit._converter`, `crmkit._crm`) names no capability.
Each capability declares its aggregates and repositories in its own storage modules, and this
module, imported once by ``crmkit``, registers them; adding a capability edits this module and
nothing else of the core.
"""

from __future__ import annotations

from crmkit._converter import register_hooks
from crmkit.credit import CreditNote, CreditOverride, Order, Payment
from crmkit.customers import CustomFieldSchema, OwnershipTransfer
from crmkit.customers._custom_values import configure_converter
from crmkit.pipeline import AssignmentBook
from crmkit.storage._credit import (
    CREDIT_ACCOUNTS,
    CREDIT_NOTES,
    CREDIT_OPERATIONS,
    CREDIT_OVERRIDES,
    INVOICES,
    LEDGER_ENTRIES,
    ORDERS,
    PAYMENTS,
    CreditAccountRepository,
    CreditOperationRepository,
    InvoiceRepository,
    LedgerEntryRepository,
    MemoryCreditAccounts,
    MemoryCreditOperations,
    MemoryInvoices,
    MemoryLedgerEntries,
)
from crmkit.storage._credit_merge import CreditAccountMerge
from crmkit.storage._customer_care import (
    COMPLAINTS,
    LIFECYCLE_CHANGES,
    OWNERSHIP_TRANSFERS,
    ComplaintRepository,
    LifecycleChangeRepository,
    MemoryComplaints,
    MemoryLifecycleChanges,
)
from crmkit.storage._customer_merge import CustomerMerge
from crmkit.storage._customers import (
    CUSTOMERS,
    INTERACTIONS,
    CustomerRepository,
    InteractionRepository,
    MemoryCustomers,
    MemoryInteractions,
)
from crmkit.storage._merge import Repoint
from crmkit.storage._pipeline import (
    ASSIGNMENT_BOOKS,
    LEADS,
    OPPORTUNITIES,
    LeadRepository,
    MemoryLeads,
    MemoryOpportunities,
    OpportunityRepository,
)
from crmkit.storage._registry import register
from crmkit.storage._repository import Repository

__all__ = [
    "ComplaintRepository",
    "CreditAccountRepository",
    "CreditOperationRepository",
    "CustomFieldSchema",
    "CustomerRepository",
    "InteractionRepository",
    "InvoiceRepository",
    "LeadRepository",
    "LedgerEntryRepository",
    "LifecycleChangeRepository",
    "OpportunityRepository",
    "Repositories",
]


class Repositories:
    """The repositories of a unit of work, typed: one attribute per registered aggregate.

    `UnitOfWork` inherits these annotations for type checkers and IDEs; at run time each unit
    of work gets the repositories registered below.
    """

    customers: CustomerRepository
    interactions: InteractionRepository
    leads: LeadRepository
    assignment_books: Repository[AssignmentBook]
    opportunities: OpportunityRepository
    credit_accounts: CreditAccountRepository
    orders: Repository[Order]
    invoices: InvoiceRepository
    payments: Repository[Payment]
    credit_notes: Repository[CreditNote]
    ledger_entries: LedgerEntryRepository
    credit_operations: CreditOperationRepository
    credit_overrides: Repository[CreditOverride]
    lifecycle_changes: LifecycleChangeRepository
    complaints: ComplaintRepository
    ownership_transfers: Repository[OwnershipTransfer]


register_hooks(configure_converter)
register(
    CUSTOMERS,
    attribute="customers",
    memory=MemoryCustomers,
    sql="crmkit.storage.sql._customers:SqlCustomers",
    sql_tables="crmkit.storage.sql._customer_tables:customer_tables",
    merge=CustomerMerge(),
)
register(
    INTERACTIONS,
    attribute="interactions",
    memory=MemoryInteractions,
    sql="crmkit.storage.sql._customers:SqlInteractions",
    merge=Repoint("customer_id"),
)
register(
    LEADS,
    attribute="leads",
    memory=MemoryLeads,
    sql="crmkit.storage.sql._pipeline:SqlLeads",
    merge=Repoint("customer_id"),
)
register(ASSIGNMENT_BOOKS, attribute="assignment_books")
register(
    OPPORTUNITIES,
    attribute="opportunities",
    memory=MemoryOpportunities,
    sql="crmkit.storage.sql._pipeline:SqlOpportunities",
    sql_tables="crmkit.storage.sql._pipeline_tables:opportunity_tables",
    merge=Repoint("customer_id"),
)
register(
    CREDIT_ACCOUNTS,
    attribute="credit_accounts",
    memory=MemoryCreditAccounts,
    sql="crmkit.storage.sql._credit:SqlCreditAccounts",
    merge=CreditAccountMerge(),
)
register(ORDERS, attribute="orders")
register(
    INVOICES,
    attribute="invoices",
    memory=MemoryInvoices,
    sql="crmkit.storage.sql._credit:SqlInvoices",
)
register(PAYMENTS, attribute="payments")
register(CREDIT_NOTES, attribute="credit_notes")
register(
    LEDGER_ENTRIES,
    attribute="ledger_entries",
    memory=MemoryLedgerEntries,
    sql="crmkit.storage.sql._credit:SqlLedgerEntries",
)
register(
    CREDIT_OPERATIONS,
    attribute="credit_operations",
    memory=MemoryCreditOperations,
    sql="crmkit.storage.sql._credit:SqlCreditOperations",
)
register(CREDIT_OVERRIDES, attribute="credit_overrides")
register(
    LIFECYCLE_CHANGES,
    attribute="lifecycle_changes",
    memory=MemoryLifecycleChanges,
    sql="crmkit.storage.sql._customer_care:SqlLifecycleChanges",
    # The merged customer's moves join the survivor's history, kept as they were.
    merge=Repoint("customer_id"),
)
register(
    COMPLAINTS,
    attribute="complaints",
    memory=MemoryComplaints,
    sql="crmkit.storage.sql._customer_care:SqlComplaints",
    merge=Repoint("customer_id"),
)
register(OWNERSHIP_TRANSFERS, attribute="ownership_transfers")
