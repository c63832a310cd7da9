"""Customers: the customer aggregate, custom fields, the timeline, and the services.

The aggregate is a customer with its contacts; the services change customers and timelines
through a unit of work and record what happened (domain events).

Examples:
    >>> from crmkit.customers import Customer
    >>> Customer(name="Acme", owner_id="li.na").lifecycle
    <LifecycleStage.LEAD: 'lead'>
"""

from crmkit.customers._care_events import (
    ComplaintOpened,
    ComplaintReassigned,
    ComplaintRejected,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintStarted,
    LifecycleChanged,
    OwnershipTransferred,
)
from crmkit.customers._complaint_services import (
    open_complaint,
    reassign_complaint,
    reject_complaint,
    reopen_complaint,
    resolve_complaint,
    start_complaint,
)
from crmkit.customers._complaints import CauseCount, Complaint, ComplaintKind, ComplaintStatus
from crmkit.customers._custom_fields import CustomField, CustomFieldSchema, FieldType
from crmkit.customers._dedupe import (
    BlockingKey,
    ContactPair,
    DuplicatePair,
    DuplicateRules,
    Weight,
)
from crmkit.customers._dedupe_find import (
    compare_all_pairs,
    find_contact_duplicates,
    find_duplicates,
)
from crmkit.customers._dedupe_normal import (
    ALIAS_PROVIDERS,
    COMPANY_SUFFIXES,
    REGIONS,
    company_key,
    email_key,
    person_key,
)
from crmkit.customers._dedupe_services import find_duplicate_contacts, find_duplicate_customers
from crmkit.customers._events import (
    CustomerRegistered,
    CustomerRemoved,
    CustomersMerged,
    CustomerUpdated,
    InteractionLogged,
    OwnerChanged,
)
from crmkit.customers._export import export_contacts, export_customers
from crmkit.customers._files import FileFormat
from crmkit.customers._import import (
    ColumnMapping,
    ImportReport,
    RowError,
    import_contacts,
    import_customers,
)
from crmkit.customers._interactions import Interaction, InteractionKind
from crmkit.customers._lifecycle import (
    MOVES,
    POLICY_ACTOR,
    LifecycleChange,
    LifecycleDecision,
    LifecycleMove,
    LifecyclePolicy,
    PurchaseSummary,
    check_move,
)
from crmkit.customers._lifecycle_services import apply_lifecycle_policy, move_lifecycle
from crmkit.customers._merge import (
    ConflictRule,
    MergePlan,
    MergePolicy,
    MergeResult,
    merge_customers,
    plan_merge,
)
from crmkit.customers._model import (
    DEFAULT_TIERS,
    Address,
    Anniversary,
    BuyingRole,
    Channel,
    Contact,
    Customer,
    CustomerKind,
    CustomValue,
    DoNotContact,
    LifecycleStage,
    QuietHours,
    Tier,
)
from crmkit.customers._ownership import (
    ByRegion,
    EvenSplit,
    OwnershipTransfer,
    ToOne,
    TransferRule,
)
from crmkit.customers._ownership_services import transfer_ownership
from crmkit.customers._permission import (
    ContactPermission,
    Refusal,
    RefusalKind,
    check_contact,
    may_contact,
)
from crmkit.customers._services import (
    change_owner,
    log_interaction,
    register_customer,
    register_customers,
    remove_customer,
    update_customer,
)

__all__ = [
    "ALIAS_PROVIDERS",
    "COMPANY_SUFFIXES",
    "DEFAULT_TIERS",
    "MOVES",
    "POLICY_ACTOR",
    "REGIONS",
    "Address",
    "Anniversary",
    "BlockingKey",
    "BuyingRole",
    "ByRegion",
    "CauseCount",
    "Channel",
    "ColumnMapping",
    "Complaint",
    "ComplaintKind",
    "ComplaintOpened",
    "ComplaintReassigned",
    "ComplaintRejected",
    "ComplaintReopened",
    "ComplaintResolved",
    "ComplaintStarted",
    "ComplaintStatus",
    "ConflictRule",
    "Contact",
    "ContactPair",
    "ContactPermission",
    "CustomField",
    "CustomFieldSchema",
    "CustomValue",
    "Customer",
    "CustomerKind",
    "CustomerRegistered",
    "CustomerRemoved",
    "CustomerUpdated",
    "CustomersMerged",
    "DoNotContact",
    "DuplicatePair",
    "DuplicateRules",
    "EvenSplit",
    "FieldType",
    "FileFormat",
    "ImportReport",
    "Interaction",
    "InteractionKind",
    "InteractionLogged",
    "LifecycleChange",
    "LifecycleChanged",
    "LifecycleDecision",
    "LifecycleMove",
    "LifecyclePolicy",
    "LifecycleStage",
    "MergePlan",
    "MergePolicy",
    "MergeResult",
    "OwnerChanged",
    "OwnershipTransfer",
    "OwnershipTransferred",
    "PurchaseSummary",
    "QuietHours",
    "Refusal",
    "RefusalKind",
    "RowError",
    "Tier",
    "ToOne",
    "TransferRule",
    "Weight",
    "apply_lifecycle_policy",
    "change_owner",
    "check_contact",
    "check_move",
    "company_key",
    "compare_all_pairs",
    "email_key",
    "export_contacts",
    "export_customers",
    "find_contact_duplicates",
    "find_duplicate_contacts",
    "find_duplicate_customers",
    "find_duplicates",
    "import_contacts",
    "import_customers",
    "log_interaction",
    "may_contact",
    "merge_customers",
    "move_lifecycle",
    "open_complaint",
    "person_key",
    "plan_merge",
    "reassign_complaint",
    "register_customer",
    "register_customers",
    "reject_complaint",
    "remove_customer",
    "reopen_complaint",
    "resolve_complaint",
    "start_complaint",
    "transfer_ownership",
    "update_customer",
]
