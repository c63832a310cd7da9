"""The customer aggregate: its contacts, decision tree, windows and tiers check themselves."""

from __future__ import annotations

import pendulum
import pytest

import crmkit
from crmkit.customers import (
    DEFAULT_TIERS,
    BuyingRole,
    Channel,
    Contact,
    Customer,
    CustomerKind,
    DoNotContact,
    LifecycleStage,
    Tier,
)
from crmkit.errors import NotFound, ValidationError


def tree() -> tuple[Customer, Contact, Contact, Contact]:
    boss = Contact(name="李明", roles=frozenset({BuyingRole.DECISION_MAKER}))
    cto = Contact(name="Chen Jie", reports_to=boss.id, roles={BuyingRole.TECHNICAL_EVALUATOR})
    engineer = Contact(name="王芳", reports_to=cto.id)
    return Customer(name="Acme", owner_id="li", contacts=[boss, cto, engineer]), boss, cto, engineer


def test_defaults_make_a_company_lead_in_utc_with_a_fresh_time_ordered_id() -> None:
    a, b = Customer(name="A", owner_id="li"), Customer(name="B", owner_id="li")
    assert (a.kind, a.lifecycle, a.timezone, a.version) == (
        CustomerKind.COMPANY,
        LifecycleStage.LEAD,
        "UTC",
        0,
    )
    assert a.id.version == 7
    assert a.id < b.id


def test_a_constructor_reports_every_bad_field_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        Customer(
            name=" ", owner_id=" li", timezone="Mars/Olympus", tags={"ok", "x\x00"}, version=-1
        )
    assert [i.path for i in caught.value.issues] == [
        "name",
        "owner_id",
        "tags[1]",
        "timezone",
        "version",
    ]


def test_assignments_are_checked_as_they_happen() -> None:
    customer = Customer(name="Acme", owner_id="li")
    with pytest.raises(ValidationError, match="timezone: 'Nowhere' is not an IANA time zone"):
        customer.timezone = "Nowhere"
    with pytest.raises(ValidationError, match="name: is 201 characters long"):
        customer.name = "x" * 201
    customer.tags = ["a", "b"]  # type: ignore[assignment]
    assert customer.tags == frozenset({"a", "b"})
    assert customer.timezone == "UTC"


def test_the_decision_tree_is_walked_up_and_down() -> None:
    customer, boss, cto, engineer = tree()
    assert [c.name for c in customer.chain_of_command(engineer.id)] == ["王芳", "Chen Jie", "李明"]
    assert customer.reports_of(boss.id) == [cto]
    assert customer.contact(cto.id) is cto
    with pytest.raises(NotFound):
        customer.contact(crmkit.new_id())


def test_reporting_lines_must_stay_inside_the_customer_and_not_go_round() -> None:
    _, boss, cto, engineer = tree()
    with pytest.raises(
        ValidationError, match="contacts\\[0\\].reports_to: the reporting line goes round"
    ):
        Customer(
            name="Loop",
            owner_id="li",
            contacts=[Contact(name="a", id=boss.id, reports_to=engineer.id), cto, engineer],
        )
    with pytest.raises(ValidationError, match="is not a contact of this customer"):
        Customer(name="x", owner_id="li", contacts=[cto])
    with pytest.raises(ValidationError, match="appears twice"):
        Customer(name="x", owner_id="li", contacts=[boss, boss])
    with pytest.raises(ValidationError, match="cannot report to themselves"):
        Contact(name="x", id=boss.id, reports_to=boss.id)


def test_a_contact_that_breaks_the_tree_is_not_added() -> None:
    customer, *_ = tree()
    before = list(customer.contacts)
    with pytest.raises(ValidationError):
        customer.add_contact(Contact(name="stray", reports_to=crmkit.new_id()))
    assert customer.contacts == before
    customer.add_contact(Contact(name="new", reports_to=before[0].id))
    assert len(customer.contacts) == 4


def test_do_not_contact_windows_block_some_or_all_channels() -> None:
    no_calls = DoNotContact(
        start=pendulum.datetime(2026, 3, 2),
        end=pendulum.datetime(2026, 3, 9),
        channels=frozenset({Channel.CALL}),
    )
    silence = DoNotContact(start=pendulum.datetime(2026, 4, 1), end=pendulum.datetime(2026, 4, 2))
    customer = Customer(name="Acme", owner_id="li", do_not_contact=(no_calls, silence))
    assert not customer.is_contactable(pendulum.datetime(2026, 3, 5), Channel.CALL)
    assert customer.is_contactable(pendulum.datetime(2026, 3, 5), Channel.EMAIL)
    assert not customer.is_contactable(pendulum.datetime(2026, 3, 5))
    assert customer.is_contactable(pendulum.datetime(2026, 3, 9), Channel.CALL)  # end excluded
    assert not customer.is_contactable(pendulum.datetime(2026, 4, 1, 12), Channel.VISIT)
    with pytest.raises(ValidationError, match="end: must be after start"):
        DoNotContact(start=pendulum.datetime(2026, 4, 2), end=pendulum.datetime(2026, 4, 1))
    with pytest.raises(ValidationError, match="start: must be in UTC"):
        DoNotContact(
            start=pendulum.datetime(2026, 4, 1, tz="Asia/Shanghai"),
            end=pendulum.datetime(2026, 4, 2),
        )


def test_tiers_carry_their_service_level() -> None:
    assert DEFAULT_TIERS["A"].service_level == "dedicated service"
    assert DEFAULT_TIERS["B"].service_level == "quarterly visit"
    assert DEFAULT_TIERS["C"].service_level == "monthly newsletter"
    gold = Tier(code="GOLD", service_level="key account manager")
    assert Customer(name="x", owner_id="li", tier=gold).tier == gold
    with pytest.raises(ValidationError, match="code: must not be blank"):
        Tier(code="")


def test_custom_values_refuse_floats() -> None:
    with pytest.raises(
        ValidationError, match="custom_fields.ratio: float is not a custom field value"
    ):
        Customer(name="x", owner_id="li", custom_fields={"ratio": 0.5})  # type: ignore[dict-item]
