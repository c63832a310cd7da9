"""Customers: the customer aggregate (customer + contacts), custom fields and the timeline.

Examples:
    >>> from crmkit.customers import Customer
    >>> Customer(name="Acme", owner_id="li.na").lifecycle
    <LifecycleStage.LEAD: 'lead'>
"""

from crmkit.customers._custom_fields import CustomField, CustomFieldSchema, FieldType
from crmkit.customers._events import (
    CustomerRegistered,
    CustomerRemoved,
    CustomerUpdated,
    InteractionLogged,
    OwnerChanged,
)
from crmkit.customers._interactions import Interaction, InteractionKind
from crmkit.customers._model import (
    DEFAULT_TIERS,
    Anniversary,
    BuyingRole,
    Channel,
    Contact,
    Customer,
    CustomerKind,
    CustomValue,
    DoNotContact,
    LifecycleStage,
    Tier,
)

__all__ = [
    "DEFAULT_TIERS",
    "Anniversary",
    "BuyingRole",
    "Channel",
    "Contact",
    "CustomField",
    "CustomFieldSchema",
    "CustomValue",
    "Customer",
    "CustomerKind",
    "CustomerRegistered",
    "CustomerRemoved",
    "CustomerUpdated",
    "DoNotContact",
    "FieldType",
    "Interaction",
    "InteractionKind",
    "InteractionLogged",
    "LifecycleStage",
    "OwnerChanged",
    "Tier",
]
