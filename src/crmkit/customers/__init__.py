"""Customers: the customer aggregate, custom fields, the timeline, and the services.

The aggregate is a customer with its contacts; the services change customers and timelines
through a unit of work and record what happened (domain events).

Examples:
    >>> from crmkit.customers import Customer
    >>> Customer(name="Acme", owner_id="li.na").lifecycle
    <LifecycleStage.LEAD: 'lead'>
"""

from crmkit.customers._custom_fields import CustomField, CustomFieldSchema, FieldType
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
    "DEFAULT_TIERS",
    "Address",
    "Anniversary",
    "BuyingRole",
    "Channel",
    "ColumnMapping",
    "ConflictRule",
    "Contact",
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
    "FieldType",
    "FileFormat",
    "ImportReport",
    "Interaction",
    "InteractionKind",
    "InteractionLogged",
    "LifecycleStage",
    "MergePlan",
    "MergePolicy",
    "MergeResult",
    "OwnerChanged",
    "QuietHours",
    "Refusal",
    "RefusalKind",
    "RowError",
    "Tier",
    "change_owner",
    "check_contact",
    "export_contacts",
    "export_customers",
    "import_contacts",
    "import_customers",
    "log_interaction",
    "may_contact",
    "merge_customers",
    "plan_merge",
    "register_customer",
    "register_customers",
    "remove_customer",
    "update_customer",
]
