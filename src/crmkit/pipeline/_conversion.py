"""Converting a lead into a customer, a contact and perhaps an opportunity, in one unit of work.

`find_customer_matches` proposes the existing customers a lead may be (same phone, email, or a
code the caller knows); the caller confirms one, or none, and `convert_lead` does the rest. The
lead keeps its channel and follow-up history, closed and linked to what it became; the history
is also copied onto the customer's timeline, so whoever opens the customer sees it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from crmkit._contact_points import EmailAddress
from crmkit._ids import new_id
from crmkit._validation import key_text
from crmkit.customers import (
    Channel,
    Contact,
    Customer,
    CustomerKind,
    Interaction,
    InteractionKind,
    LifecycleStage,
    log_interaction,
    register_customer,
    update_customer,
)
from crmkit.errors import Issue, NotFound, ValidationError
from crmkit.pipeline._lead_events import LeadConverted
from crmkit.pipeline._leads import FollowUp, Lead
from crmkit.pipeline._opportunities import (
    _DETAILS,
    DealContact,
    Opportunity,
    PendingEvent,
    open_opportunity,
)
from crmkit.pipeline._stages import Pipeline, StageGateError

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = ["Conversion", "CustomerMatch", "convert_lead", "find_customer_matches"]

# How a follow-up's channel shows on the customer's timeline; the rest are notes.
_KINDS = {
    Channel.CALL: InteractionKind.CALL,
    Channel.EMAIL: InteractionKind.EMAIL,
    Channel.VISIT: InteractionKind.VISIT,
}
# What a converted deal takes: `open_opportunity`'s fields but those the conversion sets.
_REQUIRED = ("name", "amount", "expected_close")
_SET_BY_CONVERSION = frozenset({"customer_id", "source", "lead_id"})
_OPTIONAL = (_DETAILS | {"owner_id"}) - _SET_BY_CONVERSION


@attrs.frozen
class CustomerMatch:
    """An existing customer a lead may be, and why: for the caller to confirm or dismiss.

    Attributes:
        customer: the customer.
        reasons: what it shares with the lead, e.g. ``("code C-0001", "phone +8613800138000",
            "email zhao.lei@example.cn")``.
    """

    customer: Customer
    reasons: tuple[str, ...]


@attrs.frozen
class Conversion:
    """What converting a lead made of it.

    Attributes:
        lead: the lead, now converted and linked to the rest.
        customer: the customer it became, new or existing (as now stored).
        contact: the lead's person at the customer, new or existing.
        opportunity: the deal opened, if one was asked for.
        interactions: the lead's follow-ups, as entries on the customer's timeline.
        new_customer: whether the customer was created by the conversion.
    """

    lead: Lead
    customer: Customer
    contact: Contact
    opportunity: Opportunity | None
    interactions: tuple[Interaction, ...]
    new_customer: bool


def find_customer_matches(
    uow: UnitOfWork, lead: Lead | UUID, *, code: str | None = None
) -> list[CustomerMatch]:
    """The existing customers `lead` may be: a contact shares a phone or email, or `code` is theirs.

    Nothing is changed; the caller confirms a match (then converts with
    ``existing_customer_id=``) or none. The customer with `code` comes first, then those
    sharing more with the lead, then the oldest.

    Examples:
        >>> import crmkit
        >>> from crmkit import PhoneNumber
        >>> from crmkit.customers import Contact, Customer, register_customer
        >>> from crmkit.pipeline import Lead, find_customer_matches
        >>> crm = crmkit.open("memory://")
        >>> phone = PhoneNumber("+8613800138000")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     acme = Customer(name="Acme", owner_id="li.na", code="C-1")
        ...     acme.add_contact(Contact(name="Zhao Lei", phones=[phone]))
        ...     _ = register_customer(uow, acme)
        ...     lead = Lead(name="Zhao Lei", source="website", phones=[phone])
        ...     [m.reasons for m in find_customer_matches(uow, lead, code="C-1")]
        [('code C-1', 'phone +8613800138000')]

    Args:
        uow: the unit of work.
        lead: the lead, or its id.
        code: a customer code the caller has for the lead's organisation, if any.

    Raises:
        NotFound: `lead` is an id and no such lead exists.
        ValidationError: `lead` is neither a `Lead` nor an id, or `code` is not a code.
    """
    if isinstance(lead, UUID):
        lead = uow.leads.get(lead)
    elif not isinstance(lead, Lead):
        raise ValidationError.of("lead", f"must be a Lead or its id, not {type(lead).__name__}")
    if code is not None and (problem := key_text(max_length=64)(code)) is not None:
        raise ValidationError.of("code", problem)
    found: dict[UUID, tuple[Customer, list[str]]] = {}

    def note(customers: list[Customer], reason: str) -> None:
        for c in customers:
            found.setdefault(c.id, (c, []))[1].append(reason)

    if code is not None:
        with contextlib.suppress(NotFound):  # a code nobody has matches nobody
            note([uow.customers.by_code(code)], f"code {code}")
    for phone in dict.fromkeys(lead.phones):
        note(uow.customers.by_phone(phone), f"phone {phone}")
    # Addresses are looked up whatever their case: one lookup, and one reason, per mailbox.
    mailboxes: dict[str, EmailAddress] = {}
    for email in lead.emails:
        mailboxes.setdefault(str(email).lower(), email)
    for email in mailboxes.values():
        note(uow.customers.by_email(email), f"email {email}")
    by_code = f"code {code}"
    ranked = sorted(found.values(), key=lambda m: (by_code not in m[1], -len(m[1]), m[0].id))
    return [CustomerMatch(c, tuple(reasons)) for c, reasons in ranked]


def convert_lead(
    uow: UnitOfWork,
    lead_id: UUID,
    *,
    customer: Customer | None = None,
    existing_customer_id: UUID | None = None,
    contact: Contact | None = None,
    existing_contact_id: UUID | None = None,
    opportunity: Mapping[str, Any] | None = None,
    pipeline: Pipeline | None = None,
    owner_id: str | None = None,
    log_follow_ups: bool = True,
) -> Conversion:
    """Turn a lead into a customer, a contact and perhaps a deal, all in this unit of work.

    The customer is, by choice:

    * built from the lead (the default): named after its company (a company) or its person (a
      person), from the lead's source channel, a prospect, owned by `owner_id` or else the
      lead's owner;
    * `customer`, a new `Customer` the caller built (a copy of it is stored, with the contact,
      and returned; the caller's object is left as it was);
    * the existing customer `existing_customer_id`, which the caller confirmed (see
      `find_customer_matches`).

    The contact is the lead's person: built from the lead's name, phones and emails (the
    default), or `contact`, added to the customer; or `existing_contact_id`, a contact the
    customer has already. With `opportunity` (the fields of a deal: ``name``, ``amount``,
    ``expected_close``, and perhaps ``owner_id``, ``contacts``, ``quote``, ... as
    `open_opportunity` takes them), a deal is opened in `pipeline`'s first stage for the
    customer, from the lead's source channel, linked to the lead, owned by the opportunity's
    ``owner_id`` (or else `owner_id`, the lead's owner, the customer's owner, the first given),
    with the contact in it, in their buying roles, unless ``contacts`` says otherwise.

    The lead is closed as converted, linked to the customer, contact and deal; it keeps its
    follow-ups, which (with `log_follow_ups`) are also logged on the customer's timeline, calls
    as calls, emails as emails, visits as visits, and messages as notes.

    Recorded: `CustomerRegistered` for a new customer (`CustomerUpdated` for an existing one
    given a new contact), `InteractionLogged` for each follow-up logged, `OpportunityCreated`,
    and `LeadConverted`. Every check runs before the first write: if any fails, nothing is
    stored or recorded.

    Examples:
        >>> import datetime as dt
        >>> import pendulum
        >>> import crmkit
        >>> from crmkit import Money, PhoneNumber
        >>> from crmkit.pipeline import Decision, Lead, b2b_pipeline, convert_lead
        >>> crm = crmkit.open("memory://")
        >>> lead = Lead(name="Zhao Lei", company="Qinghe Trading", source="trade_show",
        ...             phones=[PhoneNumber("+8613800138000")])
        >>> lead.assign(Decision.manual("li.na", "met at the fair"), at=pendulum.now())
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     uow.leads.add(lead)
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     done = convert_lead(
        ...         uow, lead.id, pipeline=b2b_pipeline(),
        ...         opportunity={"name": "50 licences", "amount": Money("30000", "CNY"),
        ...                      "expected_close": dt.date(2026, 9, 30)})
        >>> done.customer.name, done.contact.name, done.customer.owner_id
        ('Qinghe Trading', 'Zhao Lei', 'li.na')
        >>> done.opportunity.source, done.lead.status.value
        ('trade_show', 'converted')
        >>> done.lead.customer_id == done.customer.id
        True

    Args:
        uow: the unit of work.
        lead_id: the lead.
        customer: a new customer to convert the lead into, instead of one built from it.
        existing_customer_id: the existing customer to convert the lead into.
        contact: a new contact for the lead's person, instead of one built from it.
        existing_contact_id: the customer's existing contact who is the lead's person.
        opportunity: the fields of a deal to open; none by default.
        pipeline: the pipeline the deal is opened in; required with `opportunity`.
        owner_id: who owns a customer built from the lead, and the deal; the lead's owner
            by default (required to build a customer from a lead in the pool).
        log_follow_ups: whether to log the lead's follow-ups on the customer's timeline.

    Raises:
        ValidationError: an argument is invalid or two exclude each other (named), or the lead
            is not open: converting twice is refused.
        StageGateError: the deal does not meet the first stage's gates.
        NotFound: the lead, the existing customer, or the existing contact does not exist.
        DuplicateError: the new customer's id or code, or the deal's id, is taken.
        ConcurrencyError: someone changed the lead or the customer since it was read.
    """
    deal = _check_arguments(
        customer=customer,
        existing_customer_id=existing_customer_id,
        contact=contact,
        existing_contact_id=existing_contact_id,
        opportunity=opportunity,
        pipeline=pipeline,
        owner_id=owner_id,
        log_follow_ups=log_follow_ups,
    )
    lead = uow.leads.get(lead_id)
    # The ids of what it becomes are chosen now, so the lead refuses a second conversion
    # (and any other change to a closed lead) before anything else is looked at.
    customer_id = _chosen(existing_customer_id, customer)
    contact_id = _chosen(existing_contact_id, contact)
    deal_id = (deal.pop("id", None) or new_id()) if deal is not None else None
    lead.mark_converted(customer_id, contact_id=contact_id, opportunity_id=deal_id)

    target = _customer(
        uow,
        lead=lead,
        given=customer,
        existing_id=existing_customer_id,
        customer_id=customer_id,
        owner_id=owner_id,
    )
    is_new = existing_customer_id is None
    person = (
        target.contact(existing_contact_id)
        if existing_contact_id is not None
        else contact
        if contact is not None
        else _person(lead, contact_id)
    )
    opened = None
    if deal is not None and deal_id is not None:  # set together
        assert pipeline is not None  # noqa: S101 (checked with the arguments)
        owner = owner_id or lead.owner_id or target.owner_id
        opened = _open(
            uow,
            lead=lead,
            deal=deal,
            deal_id=deal_id,
            pipeline=pipeline,
            customer_id=target.id,
            owner_id=owner,
            person=person,
        )
    interactions = (
        tuple(_interaction(f, target.id, person.id) for f in lead.follow_ups)
        if log_follow_ups
        else ()
    )
    adds_contact = existing_contact_id is None
    if adds_contact:
        target.add_contact(person)  # the last check: it changes `target` only if it passes

    # Every check passed: the writes.
    if is_new:
        register_customer(uow, target)
    elif adds_contact:
        update_customer(uow, target)
    for interaction in interactions:
        log_interaction(uow, interaction)
    if opened is not None:
        opportunity_created, event = opened
        uow.opportunities.add(opportunity_created)
        uow.record(event.kind, **event.fields)
    uow.leads.update(lead)
    uow.record(LeadConverted, lead_id=lead.id, customer_id=target.id, opportunity_id=deal_id)
    return Conversion(
        lead=lead,
        customer=target,
        contact=person,
        opportunity=opened[0] if opened is not None else None,
        interactions=interactions,
        new_customer=is_new,
    )


# --- helpers -------------------------------------------------------------------------------------


def _check_arguments(  # noqa: PLR0912 (one check per argument, each simple)
    *,
    customer: object,
    existing_customer_id: object,
    contact: object,
    existing_contact_id: object,
    opportunity: object,
    pipeline: object,
    owner_id: object,
    log_follow_ups: object,
) -> dict[str, Any] | None:
    """Check `convert_lead`'s arguments together; the deal's fields, copied, if any."""
    found: list[Issue] = []
    if customer is not None and existing_customer_id is not None:
        found.append(
            Issue("existing_customer_id", "give a new customer or an existing one, not both")
        )
    elif customer is not None and not isinstance(customer, Customer):
        found.append(Issue("customer", f"must be a Customer, not {type(customer).__name__}"))
    elif isinstance(customer, Customer) and customer.version != 0:
        found.append(
            Issue("customer", "is already stored: convert into it with existing_customer_id")
        )
    elif existing_customer_id is not None and not isinstance(existing_customer_id, UUID):
        found.append(
            Issue(
                "existing_customer_id", f"must be a UUID, not {type(existing_customer_id).__name__}"
            )
        )
    if contact is not None and existing_contact_id is not None:
        found.append(
            Issue("existing_contact_id", "give a new contact or an existing one, not both")
        )
    elif contact is not None and not isinstance(contact, Contact):
        found.append(Issue("contact", f"must be a Contact, not {type(contact).__name__}"))
    elif existing_contact_id is not None:
        if not isinstance(existing_contact_id, UUID):
            found.append(
                Issue(
                    "existing_contact_id",
                    f"must be a UUID, not {type(existing_contact_id).__name__}",
                )
            )
        elif customer is None and existing_customer_id is None:
            found.append(
                Issue(
                    "existing_contact_id",
                    "a customer built from the lead has no contacts yet: leave it out",
                )
            )
    if owner_id is not None and (problem := key_text(max_length=64)(owner_id)) is not None:
        found.append(Issue("owner_id", problem))
    if not isinstance(log_follow_ups, bool):
        found.append(
            Issue("log_follow_ups", f"must be True or False, not {type(log_follow_ups).__name__}")
        )
    deal: dict[str, Any] | None = None
    if opportunity is None:
        if pipeline is not None:
            found.append(Issue("pipeline", "is only used to open an opportunity: give one"))
    elif not isinstance(opportunity, Mapping):
        found.append(
            Issue(
                "opportunity",
                f"must be a mapping of the deal's fields, not {type(opportunity).__name__}",
            )
        )
    else:
        deal = dict(opportunity)
        found.extend(_deal_issues(deal))
        if not isinstance(pipeline, Pipeline):
            need = (
                "is required to open the opportunity"
                if pipeline is None
                else (f"must be a Pipeline, not {type(pipeline).__name__}")
            )
            found.append(Issue("pipeline", need))
    if found:
        raise ValidationError(found)
    return deal


def _deal_issues(deal: dict[str, Any]) -> list[Issue]:
    found = [Issue(f"opportunity.{n}", "is required") for n in _REQUIRED if n not in deal]
    for name in sorted(deal, key=str):
        if name in _SET_BY_CONVERSION:
            found.append(Issue(f"opportunity.{name}", "is set by the conversion from the lead"))
        elif name not in _OPTIONAL and name not in _REQUIRED:
            taken = ", ".join(sorted({*_REQUIRED, *_OPTIONAL}))
            found.append(Issue(f"opportunity.{name}", f"is not a field a deal takes ({taken})"))
    if deal.get("id") is not None and not isinstance(deal["id"], UUID):
        found.append(Issue("opportunity.id", f"must be a UUID, not {type(deal['id']).__name__}"))
    return found


def _chosen(existing_id: UUID | None, given: Customer | Contact | None) -> UUID:
    """The id of the existing record, of the one given, or else a new one's."""
    if existing_id is not None:
        return existing_id
    return given.id if given is not None else new_id()


def _customer(
    uow: UnitOfWork,
    *,
    lead: Lead,
    given: Customer | None,
    existing_id: UUID | None,
    customer_id: UUID,
    owner_id: str | None,
) -> Customer:
    """The customer the lead becomes: the existing one, the one given, or one built."""
    if existing_id is not None:
        # Locked, though the conversion may write nothing under it (a lead linked to one of
        # its contacts): a merge that removes it meanwhile must not leave the lead naming it.
        return uow.customers.lock(existing_id)
    if given is not None:
        # A copy: the caller's object stays as it was, so a retry (`crm.run`) may pass it again.
        return attrs.evolve(
            given, contacts=list(given.contacts), custom_fields=dict(given.custom_fields)
        )
    owner = owner_id or lead.owner_id
    if owner is None:
        raise ValidationError.of(
            "owner_id", "the lead is in the pool: name who owns the customer made from it"
        )
    return Customer(
        id=customer_id,
        name=lead.company or lead.name,
        kind=CustomerKind.PERSON if lead.company is None else CustomerKind.COMPANY,
        owner_id=owner,
        source=lead.source,
        lifecycle=LifecycleStage.PROSPECT,
    )


def _person(lead: Lead, contact_id: UUID) -> Contact:
    """The lead's person as a contact."""
    return Contact(id=contact_id, name=lead.name, phones=lead.phones, emails=lead.emails)


def _open(
    uow: UnitOfWork,
    *,
    lead: Lead,
    deal: dict[str, Any],
    deal_id: UUID,
    pipeline: Pipeline,
    customer_id: UUID,
    owner_id: str,
    person: Contact,
) -> tuple[Opportunity, PendingEvent]:
    """The deal and its `OpportunityCreated`, or the error of its fields (named) or gates."""
    fields = {
        "owner_id": owner_id,
        "contacts": [DealContact(contact_id=person.id, roles=person.roles)],
        **deal,
    }
    try:
        return open_opportunity(
            pipeline,
            at=uow.now(),
            customer_id=customer_id,
            source=lead.source,
            lead_id=lead.id,
            id=deal_id,
            **fields,
        )
    except StageGateError:
        raise
    except ValidationError as e:
        raise e.under("opportunity") from None


def _interaction(follow_up: FollowUp, customer_id: UUID, contact_id: UUID) -> Interaction:
    """A lead's follow-up as an entry of the customer's timeline."""
    kind = _KINDS.get(follow_up.channel, InteractionKind.NOTE)
    said = f": {follow_up.note}" if follow_up.note.strip() else ""
    return Interaction(
        customer_id=customer_id,
        kind=kind,
        occurred_at=follow_up.at,
        actor_id=follow_up.by,
        summary=f"Lead follow-up ({follow_up.channel.value}){said}",
        contact_id=contact_id,
    )
