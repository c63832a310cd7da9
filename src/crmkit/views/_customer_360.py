"""The Customer 360 view: one call that gathers what a salesperson needs to see about a customer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._money import Money
from crmkit._validation import shown
from crmkit.credit import (
    CreditAccount,
    CreditLimit,
    CreditPolicy,
    CreditPosition,
    PaymentHistory,
    credit_limit,
)
from crmkit.customers import (
    Channel,
    Complaint,
    Contact,
    ContactPermission,
    Customer,
    Interaction,
    LifecycleStage,
    Tier,
    may_contact,
)
from crmkit.errors import ValidationError
from crmkit.pipeline import (
    Lead,
    Opportunity,
    Pipeline,
    b2b_pipeline,
    transactional_pipeline,
)
from crmkit.storage._arguments import MAX_LIMIT, an_id

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = ["CreditStanding", "Customer360", "customer_360"]


@attrs.frozen(kw_only=True)
class CreditStanding:
    """Where a customer stands on credit: what it owes, its limit, what is left, what is late.

    Attributes:
        account: the credit account, with its running balances (open orders, unpaid
            invoices, unallocated credit), its base limit and its hold.
        limit: the credit limit now, with every step of how it was reached (tier, payment
            history, temporary increases in force).
        position: what the customer owes as the order check reads it: unpaid invoices, open
            orders, the overdue part and how late the oldest overdue invoice is.
        exposure: the parts of what it owes that the credit policy counts.
        available: ``limit - exposure``: negative when the customer is over its limit.
        overdue_invoices: how many unpaid invoices are past due.
        oldest_overdue: the due date of the oldest of them; ``None`` when none is.
    """

    account: CreditAccount
    limit: CreditLimit
    position: CreditPosition
    exposure: Money
    available: Money
    overdue_invoices: int
    oldest_overdue: dt.date | None

    @property
    def overdue_amount(self) -> Money:
        """The balance of the overdue invoices, in total (zero when none is overdue)."""
        late = self.position.overdue_amount
        return late if late is not None else Money.zero(self.account.currency)

    @property
    def on_hold(self) -> bool:
        """Whether the customer is on credit hold."""
        return self.account.on_hold


@attrs.frozen(kw_only=True)
class Customer360:
    """A customer seen from every side at one moment: the answer of `customer_360`.

    Attributes:
        customer: the customer, with its contacts.
        interactions: its latest interactions, newest first.
        open_leads: the open leads whose company is the customer's name (a new enquiry from
            a known company), in id order.
        converted_leads: the leads that were converted into this customer, in id order.
        open_opportunities: its deals that are in an open stage of their pipeline, in id
            order.
        credit: its credit standing; ``None`` when it has no credit account.
        at: the moment the view was taken (UTC).
        open_complaints: its complaints and feedback still open or in progress, oldest first.
    """

    customer: Customer
    interactions: tuple[Interaction, ...]
    open_leads: tuple[Lead, ...]
    converted_leads: tuple[Lead, ...]
    open_opportunities: tuple[Opportunity, ...]
    credit: CreditStanding | None
    at: pendulum.DateTime
    open_complaints: tuple[Complaint, ...] = ()

    @property
    def contacts(self) -> list[Contact]:
        """The customer's contacts."""
        return self.customer.contacts

    @property
    def tier(self) -> Tier | None:
        """The customer's tier; ``None`` when it has none."""
        return self.customer.tier

    @property
    def service_level(self) -> str | None:
        """The service level of the customer's tier; ``None`` without a tier."""
        return None if self.customer.tier is None else self.customer.tier.service_level

    @property
    def lifecycle(self) -> LifecycleStage:
        """The customer's lifecycle stage."""
        return self.customer.lifecycle

    def may_contact(
        self,
        channel: Channel,
        *,
        contact_id: UUID | None = None,
        quiet_channels: Iterable[Channel] | None = None,
    ) -> ContactPermission:
        """Whether the customer, or its contact `contact_id`, may be contacted at the view's moment.

        See `crmkit.customers.may_contact`, which this asks at `at`.
        """
        return may_contact(
            self.customer, channel, self.at, contact_id=contact_id, quiet_channels=quiet_channels
        )

    @property
    def pipeline_value(self) -> dict[str, Money]:
        """The amounts of the open opportunities, summed per currency."""
        totals: dict[str, Money] = {}
        for deal in self.open_opportunities:
            currency = deal.amount.currency
            totals[currency] = totals.get(currency, Money.zero(currency)) + deal.amount
        return dict(sorted(totals.items()))


def customer_360(
    uow: UnitOfWork,
    customer_id: UUID,
    *,
    now: dt.datetime | None = None,
    recent: int = 20,
    pipelines: Pipeline | Iterable[Pipeline] | None = None,
    credit_policy: CreditPolicy | None = None,
    payment_history: PaymentHistory | None = None,
) -> Customer360:
    """The customer `customer_id` with its contacts, interactions, leads, open deals and credit.

    Reads only (a read-only unit of work will do) and runs a fixed number of queries, however
    many contacts, interactions, leads, deals and invoices the customer has: the customer and
    its contacts, its `recent` latest interactions, its open leads by company name, the leads
    converted into it, its opportunities, its credit account, and one aggregate query for the
    overdue invoices.

    Args:
        uow: the unit of work to read through.
        customer_id: the customer.
        now: the moment of the view (overdue invoices are those due before its UTC date;
            temporary credit increases count if in force); the unit of work's clock by default.
        recent: how many of the latest interactions to show (at most 100,000).
        pipelines: the pipelines the tenant's deals follow, to tell open deals from won and
            lost ones; the reference pipelines (`b2b_pipeline`, `transactional_pipeline`) by
            default.
        credit_policy: the credit policy the limit and exposure follow; its defaults when
            ``None``.
        payment_history: how the customer has paid, if known (it adjusts the limit).

    Examples:
        >>> import datetime as dt, crmkit
        >>> from crmkit import Money
        >>> from crmkit.credit import open_account
        >>> from crmkit.customers import Customer, Tier
        >>> from crmkit.views import customer_360
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     tier = Tier(code="A", service_level="key account")
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li", tier=tier))
        ...     _ = open_account(uow, acme.id, Money("10000", "CNY"), key="open")
        >>> with crm.unit_of_work(actor="li", read_only=True) as uow:
        ...     view = customer_360(uow, acme.id)
        >>> view.service_level, str(view.credit.limit.limit), str(view.credit.available)
        ('key account', '15,000.00 CNY', '15,000.00 CNY')

    Raises:
        NotFound: no such customer in the unit of work's tenant.
        ValidationError: a bad argument, named; a deal of a pipeline not among `pipelines`.
    """
    an_id(customer_id, "customer_id")
    moment = uow.now() if now is None else to_utc(now, "now")
    if isinstance(recent, bool) or not isinstance(recent, int) or not 0 < recent <= MAX_LIMIT:
        raise ValidationError.of(
            "recent", f"must be a whole number from 1 to {MAX_LIMIT:,}, not {shown(recent)}"
        )
    known = _pipelines(pipelines)
    policy = _a_policy(credit_policy)
    if payment_history is not None and not isinstance(payment_history, PaymentHistory):
        raise ValidationError.of(
            "payment_history", f"must be a PaymentHistory or None, not {shown(payment_history)}"
        )
    customer = uow.customers.get(customer_id)
    interactions = uow.interactions.recent(customer.id, limit=recent)
    open_leads = uow.leads.open_by_company(customer.name)
    converted = uow.leads.for_customer(customer.id)
    deals = [d for d in uow.opportunities.for_customer(customer.id) if _is_open(d, known)]
    account = uow.credit_accounts.for_customer(customer.id)
    credit = (
        None
        if account is None
        else _standing(uow, account, customer, at=moment, policy=policy, history=payment_history)
    )
    return Customer360(
        customer=customer,
        interactions=tuple(interactions),
        open_leads=tuple(open_leads),
        converted_leads=tuple(converted),
        open_opportunities=tuple(deals),
        credit=credit,
        at=moment,
        open_complaints=tuple(uow.complaints.open_for(customer.id)),
    )


def _standing(
    uow: UnitOfWork,
    account: CreditAccount,
    customer: Customer,
    *,
    at: pendulum.DateTime,
    policy: CreditPolicy,
    history: PaymentHistory | None,
) -> CreditStanding:
    limit = credit_limit(
        account.base_limit,
        tier=customer.tier,
        history=history,
        increases=account.increases,
        at=at,
        policy=policy,
    )
    day: dt.date = at.date()
    late = uow.invoices.overdue(account.id, day)
    position = CreditPosition(
        unpaid_invoices=account.unpaid_invoices,
        open_orders=account.open_orders,
        overdue_amount=Money(late.amount, account.currency) if late.count else None,
        oldest_overdue_days=0 if late.oldest_due is None else (day - late.oldest_due).days,
        on_hold=account.on_hold,
        hold_reason=account.hold_reason,
    )
    exposure = position.exposure(policy)
    return CreditStanding(
        account=account,
        limit=limit,
        position=position,
        exposure=exposure,
        available=limit.limit - exposure,
        overdue_invoices=late.count,
        oldest_overdue=late.oldest_due,
    )


def _a_policy(policy: object) -> CreditPolicy:
    if policy is None:
        return CreditPolicy()
    if not isinstance(policy, CreditPolicy):
        raise ValidationError.of(
            "credit_policy", f"must be a CreditPolicy or None, not {shown(policy)}"
        )
    return policy


def _pipelines(given: object) -> dict[str, Pipeline]:
    if given is None:
        chosen: list[object] = [b2b_pipeline(), transactional_pipeline()]
    elif isinstance(given, Pipeline):
        chosen = [given]
    elif isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise ValidationError.of(
            "pipelines", f"must be a Pipeline or a collection of them, not {shown(given)}"
        )
    else:
        chosen = list(given)
    found: dict[str, Pipeline] = {}
    for i, p in enumerate(chosen):
        if not isinstance(p, Pipeline):
            raise ValidationError.of(f"pipelines[{i}]", f"must be a Pipeline, not {shown(p)}")
        found[p.key] = p
    return found


def _is_open(deal: Opportunity, pipelines: dict[str, Pipeline]) -> bool:
    pipeline = pipelines.get(deal.pipeline)
    if pipeline is None:
        known = ", ".join(repr(k) for k in pipelines)
        raise ValidationError.of(
            "pipelines",
            f"has no pipeline {deal.pipeline!r} (of opportunity {deal.id}); "
            f"give every pipeline the tenant's deals follow (given: {known})",
        )
    return not pipeline.stage(deal.stage).terminal
