"""Views: read-only answers that gather what several capabilities hold about one thing.

A view reads through a unit of work and writes nothing. It sits above the capabilities
(customers, pipeline, credit), which never import it: each capability stays unaware of the
others, and the view is where they meet.

`customer_360` gathers a customer with its contacts, latest interactions, leads, open deals
and credit standing into a `Customer360`, in a fixed number of queries.

Examples:
    >>> import crmkit
    >>> from crmkit.customers import Customer
    >>> from crmkit.views import customer_360
    >>> crm = crmkit.open("memory://")
    >>> with crm.unit_of_work(actor="li") as uow:
    ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
    >>> with crm.unit_of_work(actor="li", read_only=True) as uow:
    ...     view = customer_360(uow, acme.id)
    >>> view.customer.name, view.credit, view.open_opportunities
    ('Acme', None, ())
"""

from crmkit.views._customer_360 import CreditStanding, Customer360, customer_360

__all__ = ["CreditStanding", "Customer360", "customer_360"]
