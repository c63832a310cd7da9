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
from crmkit.customers._events import (
    CustomerRegistered,
    CustomerRemoved,
    CustomersMerged,
    CustomerUpdated,
    InteractionLogged,
    OwnerChanged,
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
from crmkit.customers._services import (
    change_owner,
    log_interaction,
    register_customer,
    register_customers,
    remove_customer,
    update_customer,
)

__all__ = [
    "DEFAULT_TIERS",
    "MOVES",
    "POLICY_ACTOR",
    "Address",
    "Anniversary",
    "BuyingRole",
    "ByRegion",
    "CauseCount",
    "Channel",
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
    "EvenSplit",
    "FieldType",
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
    "Tier",
    "ToOne",
    "TransferRule",
    "apply_lifecycle_policy",
    "change_owner",
    "check_move",
    "log_interaction",
    "merge_customers",
    "move_lifecycle",
    "open_complaint",
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
