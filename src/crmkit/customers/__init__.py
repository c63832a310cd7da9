"""Customers: the customer aggregate, custom fields, the timeline, and the services.

The aggregate is a customer with its contacts; the services change customers and timelines
through a unit of work and record what happened (domain events).

Examples:
    >>> from crmkit.customers import Customer
    >>> Customer(name="Acme", owner_id="li.na").lifecycle
    <LifecycleStage.LEAD: 'lead'>
"""

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
    "ALIAS_PROVIDERS",
    "COMPANY_SUFFIXES",
    "DEFAULT_TIERS",
    "REGIONS",
    "Address",
    "Anniversary",
    "BlockingKey",
    "BuyingRole",
    "Channel",
    "ColumnMapping",
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
    "Weight",
    "change_owner",
    "check_contact",
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
    "person_key",
    "plan_merge",
    "register_customer",
    "register_customers",
    "remove_customer",
    "update_customer",
]
