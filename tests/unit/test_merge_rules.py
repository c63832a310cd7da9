"""How a merge of two customers settles their fields, and that every aggregate naming customers
says how it follows a merge."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import PhoneNumber
from crmkit.customers import (
    Address,
    Anniversary,
    ConflictRule,
    Contact,
    Customer,
    DoNotContact,
    MergePolicy,
    plan_merge,
)
from crmkit.customers._merge import Settling
from crmkit.errors import ValidationError
from crmkit.storage import Aggregate, Parent, Repoint, register_merge_rule
from crmkit.storage._merge import FieldConflict
from crmkit.storage._registry import _MERGE_RULES, _REGISTERED, merge_rule, register, registered


@attrs.frozen
class Settled:
    survivor: Customer
    conflicts: list[FieldConflict]
    sources: dict[str, str]


def settled(a: Customer, b: Customer, policy: MergePolicy | None = None) -> Settled:
    # No unit of work: only the "newest" rule reads one (the contract tests cover it).
    settling = Settling(None, a, b, policy or MergePolicy())  # type: ignore[arg-type]
    survivor = settling.customer()
    return Settled(survivor, settling.conflicts, settling.sources)


def test_the_survivors_value_wins_by_default_and_the_dropped_one_is_reported() -> None:
    a = Customer(name="Acme", owner_id="li", source="web")
    b = Customer(name="ACME Ltd", owner_id="wang", source="fair")
    s = settled(a, b)
    assert (s.survivor.name, s.survivor.owner_id, s.survivor.source) == ("Acme", "li", "web")
    assert FieldConflict("customer", "name", "Acme", "ACME Ltd", "survivor") in s.conflicts
    assert {c.field for c in s.conflicts} == {"name", "owner_id", "source"}
    assert s.sources == {}


def test_an_empty_value_never_wins_and_is_no_conflict() -> None:
    address = Address(street="1 Nanjing Rd", city="Shanghai")
    a = Customer(name="Acme", owner_id="li", code=None, address=Address())
    b = Customer(name="Acme", owner_id="li", code="C-7", source="fair", address=address)
    s = settled(a, b)
    assert (s.survivor.code, s.survivor.source, s.survivor.address) == ("C-7", "fair", address)
    assert s.conflicts == []
    assert s.sources == {"code": "merged", "source": "merged", "address": "merged"}


def test_the_merged_rule_and_per_field_rules_and_chosen_values() -> None:
    a = Customer(name="Acme", owner_id="li", source="web", code="A-1")
    b = Customer(name="ACME Ltd", owner_id="wang", source="fair", code="B-2")
    policy = MergePolicy(
        rule=ConflictRule.MERGED,
        fields={"owner_id": ConflictRule.SURVIVOR},
        chosen={"name": "Acme Trading"},
    )
    s = settled(a, b, policy)
    assert s.survivor.owner_id == "li"
    assert (s.survivor.source, s.survivor.code) == ("fair", "B-2")
    assert s.survivor.name == "Acme Trading"
    by_field = {c.field: c for c in s.conflicts}
    assert by_field["name"] == FieldConflict(
        "customer", "name", "Acme Trading", ("Acme", "ACME Ltd"), "chosen"
    )
    assert by_field["owner_id"].rule == "survivor"
    assert by_field["source"] == FieldConflict("customer", "source", "fair", "web", "merged")
    assert s.sources == {"name": "chosen", "source": "merged", "code": "merged"}


def test_collections_are_united_in_order_and_contacts_all_kept() -> None:
    at = pendulum.datetime(2026, 3, 2)
    window = DoNotContact(start=at, end=at.add(days=7))
    same_phone = PhoneNumber.parse("+8613800138000")
    a = Customer(
        name="Acme",
        owner_id="li",
        tags={"vip"},
        preferences=("eco packaging", "morning calls"),
        anniversaries=(Anniversary(label="founded", date=dt.date(2001, 5, 1)),),
        contacts=[Contact(name="Zhao Lei", phones=(same_phone,))],
    )
    b = Customer(
        name="Acme",
        owner_id="li",
        tags={"vip", "cn"},
        preferences=("invoices by email", "eco packaging"),
        anniversaries=(Anniversary(label="founded", date=dt.date(2001, 5, 1)),),
        do_not_contact=(window,),
        contacts=[Contact(name="Zhao Lei", phones=(same_phone,))],
    )
    s = settled(a, b)
    assert s.survivor.tags == {"vip", "cn"}
    assert s.survivor.preferences == ("eco packaging", "morning calls", "invoices by email")
    assert len(s.survivor.anniversaries) == 1
    assert s.survivor.do_not_contact == (window,)
    # Two people with the same phone stay two contacts, with their own ids.
    assert [c.id for c in s.survivor.contacts] == [a.contacts[0].id, b.contacts[0].id]
    assert s.sources == {
        "contacts": "both",
        "tags": "both",
        "preferences": "both",
        "do_not_contact": "both",
    }


def test_custom_values_are_united_by_name_and_settled_on_the_same_name() -> None:
    a = Customer(name="Acme", owner_id="li", custom_fields={"region": "east", "size": 10})
    b = Customer(
        name="Acme", owner_id="li", custom_fields={"region": "south", "credit": Decimal("2.5")}
    )
    s = settled(a, b)
    assert s.survivor.custom_fields == {"region": "east", "size": 10, "credit": Decimal("2.5")}
    assert s.conflicts == [
        FieldConflict("customer", "custom_fields.region", "east", "south", "survivor")
    ]
    one = settled(a, b, MergePolicy(fields={"custom_fields.region": ConflictRule.MERGED}))
    assert one.survivor.custom_fields["region"] == "south"
    every = settled(a, b, MergePolicy(fields={"custom_fields": ConflictRule.MERGED}))
    assert every.survivor.custom_fields["region"] == "south"


@settings(deadline=None)
@given(
    a=st.frozensets(st.sampled_from("abcdef")),
    b=st.frozensets(st.sampled_from("abcdef")),
    prefs_a=st.lists(st.sampled_from("pqrs"), unique=True),
    prefs_b=st.lists(st.sampled_from("pqrs"), unique=True),
)
def test_unions_keep_every_value_once_the_survivors_first(
    a: frozenset[str], b: frozenset[str], prefs_a: list[str], prefs_b: list[str]
) -> None:
    s = settled(
        Customer(name="A", owner_id="li", tags=a, preferences=prefs_a),
        Customer(name="A", owner_id="li", tags=b, preferences=prefs_b),
    )
    assert s.survivor.tags == a | b
    kept = s.survivor.preferences
    assert kept[: len(prefs_a)] == tuple(prefs_a)
    assert sorted(kept) == sorted(set(prefs_a) | set(prefs_b))
    assert not s.conflicts


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rule": "survivor"}, "rule"),
        ({"fields": {"nope": ConflictRule.MERGED}}, "fields['nope']"),
        ({"fields": {"name": "merged"}}, "fields['name']"),
        ({"fields": []}, "fields"),
        ({"chosen": {"tags": {"x"}}}, "chosen['tags']"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MergePolicy(**options)
    assert caught.value.issues[0].path == field


def test_a_chosen_value_that_is_invalid_is_refused_naming_it() -> None:
    a, b = Customer(name="A", owner_id="li"), Customer(name="B", owner_id="li")
    with pytest.raises(ValidationError) as caught:
        settled(a, b, MergePolicy(chosen={"owner_id": ""}))
    assert caught.value.issues[0].path.startswith("chosen['owner_id']")


def test_merging_a_customer_into_itself_or_an_unknown_one_is_refused() -> None:
    crm = crmkit.open("memory://")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(a := Customer(name="Acme", owner_id="li"))
        with pytest.raises(ValidationError) as caught:
            plan_merge(uow, into=a.id, merged=a.id)
        assert caught.value.issues[0].path == "merged"
        with pytest.raises(crmkit.errors.NotFound):
            plan_merge(uow, into=a.id, merged=crmkit.new_id())
        with pytest.raises(ValidationError) as caught:
            plan_merge(uow, into=str(a.id), merged=a.id)  # type: ignore[arg-type]
        assert caught.value.issues[0].path == "into"


# --- every aggregate that names customers has a merge rule --------------------------------------


def unruled() -> list[str]:
    """The registered aggregates that name customers (or are them) without a merge rule."""
    return [
        a.record
        for a in registered()
        if (a.table == "customers" or a.references_to("customers")) and merge_rule(a.table) is None
    ]


def test_every_registered_aggregate_that_names_customers_has_a_merge_rule() -> None:
    assert unruled() == []
    assert len([a for a in registered() if a.references_to("customers")]) >= 4


@attrs.define(kw_only=True)
class Grievance:
    customer_id: Any
    id: Any = attrs.field(factory=crmkit.new_id)
    version: int = 0


@attrs.define(kw_only=True)
class Referral:
    referred_by: Any
    id: Any = attrs.field(factory=crmkit.new_id)
    version: int = 0


@pytest.fixture
def restore_registry() -> Any:
    registrations, rules = dict(_REGISTERED), dict(_MERGE_RULES)
    yield
    _REGISTERED.clear()
    _REGISTERED.update(registrations)
    _MERGE_RULES.clear()
    _MERGE_RULES.update(rules)


@pytest.mark.usefixtures("restore_registry")
@pytest.mark.parametrize(
    "aggregate",
    [
        Aggregate(
            Grievance,
            "grievance",
            "grievances",
            parent=Parent("customer", "customers", "customer_id"),
        ),
        Aggregate(Referral, "referral", "referrals", references={"referred_by": "customers"}),
    ],
)
def test_an_aggregate_naming_customers_without_a_rule_is_found_and_a_merge_refused(
    aggregate: Aggregate[Any],
) -> None:
    register(aggregate)
    assert unruled() == [aggregate.record]
    crm = crmkit.open("memory://")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(a := Customer(name="A", owner_id="li"))
        uow.customers.add(b := Customer(name="B", owner_id="li"))
        with pytest.raises(ValidationError, match=f"{aggregate.record} records name customers"):
            plan_merge(uow, into=a.id, merged=b.id)
    register_merge_rule(aggregate, Repoint(aggregate.references_to("customers")[0]))
    assert unruled() == []


def test_references_name_declared_fields_only() -> None:
    with pytest.raises(ValidationError) as caught:
        Aggregate(Referral, "referral", "referrals", references={"nope": "customers"})
    assert caught.value.issues[0].path == "references"
