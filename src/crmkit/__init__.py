"""crmkit: an embeddable CRM domain library.

Examples:
    >>> import crmkit
    >>> crm = crmkit.open("memory://")
    >>> from crmkit.customers import Customer
    >>> with crm.unit_of_work(actor="li.na") as uow:
    ...     uow.customers.add(Customer(name="上海云杉科技", owner_id="li.na", code="C-1"))
    >>> with crm.unit_of_work(actor="li.na") as uow:
    ...     uow.customers.by_code("C-1").name
    '上海云杉科技'

Importing crmkit does not load SQLAlchemy: it loads when a SQL store is first used.
"""

from crmkit._clock import Clock, FixedClock, SystemClock, to_utc
from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._converter import from_dict, to_dict
from crmkit._crm import CRM, DEFAULT_TENANT, open  # noqa: A004 (crmkit.open is the entry point)
from crmkit._ids import new_id
from crmkit._money import Money
from crmkit._rates import Conversion, ExchangeRate, ExchangeRates
from crmkit.errors import CrmkitError, ValidationError

__version__ = "0.1.0.dev0"

__all__ = [
    "CRM",
    "DEFAULT_TENANT",
    "Clock",
    "Conversion",
    "CrmkitError",
    "EmailAddress",
    "ExchangeRate",
    "ExchangeRates",
    "FixedClock",
    "Money",
    "PhoneNumber",
    "SystemClock",
    "ValidationError",
    "from_dict",
    "new_id",
    "open",
    "to_dict",
    "to_utc",
]

import crmkit._composition  # noqa: F401 (wires the capabilities into the storage core)
