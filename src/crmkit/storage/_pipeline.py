"""The pipeline capability on the repository core: leads, assignment books and opportunities.

The memory store's special queries are here; the SQL store's are in
`crmkit.storage.sql._pipeline`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol
from uuid import UUID

import pendulum

from crmkit._rates import ExchangeRates
from crmkit._validation import shown
from crmkit.errors import ValidationError
from crmkit.pipeline import (
    AssignmentBook,
    ChannelReport,
    Funnel,
    Lead,
    LeadStatus,
    Opportunity,
    Pipeline,
    channel_report,
    funnel,
)
from crmkit.storage._aggregates import Aggregate, Parent
from crmkit.storage._arguments import a_key, a_limit, a_page, an_id, an_instant
from crmkit.storage.memory import MemoryRecords

__all__ = [
    "ASSIGNMENT_BOOKS",
    "LEADS",
    "OPPORTUNITIES",
    "LeadRepository",
    "MemoryLeads",
    "MemoryOpportunities",
    "OpportunityRepository",
    "a_company",
    "a_moment",
]


class LeadRepository(Protocol):
    """The leads of one tenant, as one unit of work sees them.

    Besides the core's `add`, `add_many`, `get`, `get_many`, `page`, `count`, `update` and
    `remove`, it finds leads due for reclaim (through an index on `Lead.reclaim_at`) and counts
    each salesperson's open leads.
    """

    def add(self, lead: Lead) -> None:
        """Store a new lead (version 0).

        Raises:
            ValidationError: the lead is invalid, or already stored.
            DuplicateError: its id is taken in this tenant.
        """
        ...

    def add_many(self, leads: Iterable[Lead]) -> None:
        """Store many new leads at once; all or none, like `add` for each."""
        ...

    def get(self, lead_id: UUID) -> Lead:
        """The lead with `lead_id`.

        Raises:
            NotFound: no such lead in this tenant.
        """
        ...

    def lock(self, lead_id: UUID) -> Lead:
        """The lead with `lead_id`, locked against other writers till the unit of work ends.

        ``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB/MySQL (others wait for it to end);
        on SQLite a writing unit of work holds the write lock already; on the memory store the
        commit fails with `ConcurrencyError` if someone else committed a change to it since.

        Raises:
            NotFound: no such lead in this tenant.
        """
        ...

    def get_many(self, lead_ids: Iterable[UUID]) -> list[Lead]:
        """The leads with these ids that exist, in the order the ids were given."""
        ...

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[Lead]:
        """Up to `limit` leads with ids after `after`, in id order (keyset paging)."""
        ...

    def count(self) -> int:
        """How many leads the tenant has."""
        ...

    def update(self, lead: Lead) -> None:
        """Store the changed lead, if nobody changed it since it was read.

        Raises:
            ValidationError: the lead is invalid.
            ConcurrencyError: the stored version is not ``lead.version``, or it was removed.
        """
        ...

    def remove(self, lead: Lead) -> None:
        """Delete the lead, if unchanged since it was read.

        Raises:
            ConcurrencyError: the stored version is not ``lead.version``, or it is gone.
        """
        ...

    def due(self, now: pendulum.DateTime, *, limit: int = 100) -> list[Lead]:
        """Up to `limit` open leads whose `reclaim_at` is at or before `now`, earliest first.

        Found through the index on ``reclaim_at``: the cost grows with the leads due, not with
        the leads stored.
        """
        ...

    def open_counts(self) -> dict[str, int]:
        """How many open leads each salesperson owns (those owning none are left out)."""
        ...

    def for_customer(self, customer_id: UUID) -> list[Lead]:
        """The leads converted into the customer `customer_id`, in id order."""
        ...

    def open_by_company(self, company: str) -> list[Lead]:
        """The open leads whose `company` is `company` exactly (as stored), in id order.

        Raises:
            ValidationError: `company` is not a non-empty string of at most 200 characters.
        """
        ...

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Lead]:
        """The leads `owner_id` owns, in id order, after `after`, at most `limit`."""
        ...

    def channel_report(
        self,
        pipelines: Pipeline | Iterable[Pipeline],
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        owner: str | None = None,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> ChannelReport:
        """Leads, conversion and won revenue per source channel, over the tenant's leads and deals.

        The same answer as `crmkit.pipeline.channel_report` over every lead and opportunity
        of the tenant (see it for the meaning of each figure and filter); SQL stores compute
        it inside the database.

        Examples:
            >>> import crmkit
            >>> from crmkit.pipeline import Lead, b2b_pipeline
            >>> crm = crmkit.open("memory://")
            >>> with crm.unit_of_work(actor="li", tenant="acme") as uow:
            ...     uow.leads.add(Lead(name="Zhao Lei", source="website"))
            ...     report = uow.leads.channel_report(b2b_pipeline())
            >>> [(c.channel, c.leads, c.converted) for c in report.channels]
            [('website', 1, 0)]

        Raises:
            ValidationError: as `crmkit.pipeline.channel_report`.
            MissingRate: a rate needed to convert a revenue is missing.
        """
        ...


class OpportunityRepository(Protocol):
    """The opportunities of one tenant, as one unit of work sees them.

    Each belongs to a customer: adding one for a customer that does not exist raises
    `NotFound`, and removing the customer removes its opportunities.
    """

    def add(self, opportunity: Opportunity) -> None:
        """Store a new opportunity (version 0).

        Raises:
            ValidationError: it is invalid, or already stored.
            NotFound: its customer does not exist in this tenant.
            DuplicateError: its id is taken in this tenant.
        """
        ...

    def add_many(self, opportunities: Iterable[Opportunity]) -> None:
        """Store many new opportunities at once; all or none, like `add` for each."""
        ...

    def get(self, opportunity_id: UUID) -> Opportunity:
        """The opportunity with `opportunity_id`.

        Raises:
            NotFound: no such opportunity in this tenant.
        """
        ...

    def lock(self, opportunity_id: UUID) -> Opportunity:
        """The opportunity, locked against other writers till the unit of work ends.

        Raises:
            NotFound: no such opportunity in this tenant.
        """
        ...

    def get_many(self, opportunity_ids: Iterable[UUID]) -> list[Opportunity]:
        """The opportunities with these ids that exist, in the order the ids were given."""
        ...

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[Opportunity]:
        """Up to `limit` opportunities with ids after `after`, in id order (keyset paging)."""
        ...

    def count(self) -> int:
        """How many opportunities the tenant has."""
        ...

    def update(self, opportunity: Opportunity) -> None:
        """Store the changed opportunity, if nobody changed it since it was read.

        Raises:
            ValidationError: it is invalid.
            ConcurrencyError: the stored version is not ``opportunity.version``, or it is gone.
        """
        ...

    def remove(self, opportunity: Opportunity) -> None:
        """Delete the opportunity, if unchanged since it was read.

        Raises:
            ConcurrencyError: the stored version is not ``opportunity.version``, or it is gone.
        """
        ...

    def for_customer(self, customer_id: UUID) -> list[Opportunity]:
        """The customer's opportunities, in id order."""
        ...

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Opportunity]:
        """The opportunities `owner_id` owns, in id order, after `after`, at most `limit`."""
        ...

    def funnel(
        self,
        pipeline: Pipeline,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        owner: str | None = None,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
        threshold: Decimal = Decimal("0.15"),
    ) -> Funnel:
        """The funnel of `pipeline` over the tenant's opportunities.

        The same answer as `crmkit.pipeline.funnel` over every opportunity of the tenant (see
        it for the meaning of each figure and filter); SQL stores compute it inside the
        database, from one row per stage-history entry, so that Python reads a few rows per
        stage whatever the number of deals.

        Examples:
            >>> import datetime as dt, pendulum
            >>> import crmkit
            >>> from crmkit import Money
            >>> from crmkit.customers import Customer
            >>> from crmkit.pipeline import open_opportunity, transactional_pipeline, win
            >>> crm, p = crmkit.open("memory://"), transactional_pipeline()
            >>> acme = Customer(name="Acme", owner_id="li")
            >>> deal, _ = open_opportunity(
            ...     p, at=pendulum.datetime(2026, 3, 2), name="10 seats", customer_id=acme.id,
            ...     owner_id="li", amount=Money("900", "CNY"), expected_close=dt.date(2026, 3, 9),
            ...     quote="Q-7")
            >>> _ = win(deal, p, at=pendulum.datetime(2026, 3, 3))
            >>> with crm.unit_of_work(actor="li", tenant="acme") as uow:
            ...     uow.customers.add(acme)
            ...     uow.opportunities.add(deal)
            ...     f = uow.opportunities.funnel(p)
            >>> [(s.key, s.reached, s.current, str(s.value)) for s in f.stages][-1]
            ('won', 1, 1, '900.00 CNY')

        Raises:
            ValidationError: as `crmkit.pipeline.funnel`.
            MissingRate: a rate needed for a stage value is missing.
        """
        ...


LEADS: Aggregate[Lead] = Aggregate(
    Lead,
    "lead",
    "leads",
    indexes={
        "reclaim": ("reclaim_at",),
        "owner": ("owner_id", "status"),
        "source": ("source", "created_at"),
    },
    columns={
        "name": 200,
        "source": 64,
        "company": 200,
        "intent": 16,
        "industry": 64,
        "size": 64,
        "territory": 64,
        "owner_id": 64,
        "status": 16,
        "disqualified_reason": 500,
    },
    references={"customer_id": "customers"},
)
"""The leads: each a prospect in the pool or with an owner, until converted or dropped."""

ASSIGNMENT_BOOKS: Aggregate[AssignmentBook] = Aggregate(
    AssignmentBook, "assignment_book", "assignment_books"
)
"""The assignment books: one per tenant, the round-robin turns and the record assignments lock."""

OPPORTUNITIES: Aggregate[Opportunity] = Aggregate(
    Opportunity,
    "opportunity",
    "opportunities",
    parent=Parent("customer", "customers", "customer_id"),
    indexes={
        "customer": ("customer_id", "id"),
        "owner": ("owner_id", "id"),
        "stage": ("pipeline", "stage"),
    },
    columns={
        "name": 200,
        "owner_id": 64,
        "pipeline": 64,
        "stage": 64,
        "needs_analysis": None,
        "quote": 64,
        "lost_reason": 500,
        "winning_competitor": 64,
        "source": 64,
    },
    order=("id", "version", "customer_id"),
)
"""The opportunities: each a deal with a customer, moving through its pipeline's stages."""


def a_moment(now: object) -> pendulum.DateTime:
    """`now` as a UTC instant: `LeadRepository.due`'s argument, checked the same everywhere."""
    if now is None:
        raise ValidationError.of("now", "must be an aware datetime, not None")
    found = an_instant(now, "now")
    assert found is not None  # noqa: S101 (None refused above)
    return found


def a_company(company: object) -> str:
    """`company` if it can name a lead's company; else `ValidationError` naming ``company``."""
    if not isinstance(company, str) or not 0 < len(company) <= 200:  # noqa: PLR2004 (the column)
        raise ValidationError.of(
            "company", f"must be a non-empty string of at most 200 characters, not {shown(company)}"
        )
    return company


class MemoryLeads(MemoryRecords[Lead]):
    """`LeadRepository` on the memory store."""

    def due(self, now: pendulum.DateTime, *, limit: int = 100) -> list[Lead]:
        """See `LeadRepository.due`."""
        self._uow._check_open()
        at = a_moment(now)
        a_limit(limit)
        found = [
            lead
            for lead in self._all()
            if lead.reclaim_at is not None
            and lead.status is LeadStatus.OPEN
            and lead.reclaim_at <= at
        ]
        found.sort(key=lambda lead: (lead.reclaim_at, lead.id))
        return found[:limit]

    def open_counts(self) -> dict[str, int]:
        """See `LeadRepository.open_counts`."""
        self._uow._check_open()
        counts: dict[str, int] = {}
        for _, record in self._uow._scan(self._name):
            row = record.row
            if row["status"] == LeadStatus.OPEN.value and row["owner_id"] is not None:
                counts[row["owner_id"]] = counts.get(row["owner_id"], 0) + 1
        return dict(sorted(counts.items()))

    def for_customer(self, customer_id: UUID) -> list[Lead]:
        """See `LeadRepository.for_customer`."""
        self._uow._check_open()
        key = str(an_id(customer_id, "customer_id"))
        keys = sorted(k for k, r in self._uow._scan(self._name) if r.row["customer_id"] == key)
        return self._load(keys)

    def open_by_company(self, company: str) -> list[Lead]:
        """See `LeadRepository.open_by_company`."""
        self._uow._check_open()
        a_company(company)
        keys = sorted(
            k
            for k, r in self._uow._scan(self._name)
            if r.row["company"] == company and r.row["status"] == LeadStatus.OPEN.value
        )
        return self._load(keys)

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Lead]:
        """See `LeadRepository.by_owner`."""
        self._uow._check_open()
        a_key(owner_id, "owner_id")
        a_page(after, limit)
        keys = sorted(
            k
            for k, r in self._uow._scan(self._name)
            if r.row["owner_id"] == owner_id and (after is None or k > after)
        )
        return self._load(keys[:limit])

    def channel_report(
        self,
        pipelines: Pipeline | Iterable[Pipeline],
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        owner: str | None = None,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> ChannelReport:
        """See `LeadRepository.channel_report`: the reference over the tenant's records."""
        self._uow._check_open()
        deals = self._uow.repository(OPPORTUNITIES)
        assert isinstance(deals, MemoryOpportunities)  # noqa: S101 (registered together)
        return channel_report(
            self._all(),
            deals._all(),
            pipelines,
            start=start,
            end=end,
            owner=owner,
            rates=rates,
            currency=currency,
        )

    def _all(self) -> list[Lead]:
        return [self._from(key, record) for key, record in self._uow._scan(self._name)]


class MemoryOpportunities(MemoryRecords[Opportunity]):
    """`OpportunityRepository` on the memory store."""

    def for_customer(self, customer_id: UUID) -> list[Opportunity]:
        """See `OpportunityRepository.for_customer`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        keys = sorted(k for k, r in self._uow._scan(self._name) if r.parent == customer_id)
        return self._load(keys)

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Opportunity]:
        """See `OpportunityRepository.by_owner`."""
        self._uow._check_open()
        a_key(owner_id, "owner_id")
        a_page(after, limit)
        keys = sorted(
            k
            for k, r in self._uow._scan(self._name)
            if r.row["owner_id"] == owner_id and (after is None or k > after)
        )
        return self._load(keys[:limit])

    def funnel(
        self,
        pipeline: Pipeline,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        owner: str | None = None,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
        threshold: Decimal = Decimal("0.15"),
    ) -> Funnel:
        """See `OpportunityRepository.funnel`: the reference over the tenant's records."""
        self._uow._check_open()
        return funnel(
            self._all(),
            pipeline,
            start=start,
            end=end,
            owner=owner,
            rates=rates,
            currency=currency,
            threshold=threshold,
        )

    def _all(self) -> list[Opportunity]:
        return [self._from(key, record) for key, record in self._uow._scan(self._name)]
