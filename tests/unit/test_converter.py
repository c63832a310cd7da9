"""to_dict / from_dict: plain data and back, exactly; bad data named field by field."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

import crmkit
from crmkit import Money, from_dict, to_dict
from crmkit.customers import (
    Anniversary,
    Contact,
    Customer,
    CustomField,
    CustomFieldSchema,
    DoNotContact,
    FieldType,
    Interaction,
    Tier,
)
from crmkit.errors import ValidationError
from crmkit.events import DomainEvent
from crmkit.testing import strategies as cs


def issues(data: object, cls: type, **options: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        from_dict(data, cls, **options)
    return [str(i) for i in caught.value.issues]


@given(cs.customers())
def test_customers_survive_a_json_round_trip(customer: Customer) -> None:
    data = json.loads(json.dumps(to_dict(customer)))
    assert from_dict(data, Customer) == customer


@given(cs.interactions())
def test_interactions_survive_a_json_round_trip(interaction: Interaction) -> None:
    assert from_dict(json.loads(json.dumps(to_dict(interaction))), Interaction) == interaction


@given(cs.money())
def test_money_survives_a_json_round_trip(money: Money) -> None:
    assert from_dict(json.loads(json.dumps(to_dict(money))), Money) == money


@given(cs.tiers(), cs.anniversaries(), cs.do_not_contact_windows(), cs.contacts())
def test_value_objects_and_contacts_round_trip(
    tier: Tier, anniversary: Anniversary, window: DoNotContact, contact: Contact
) -> None:
    for value in (tier, anniversary, window, contact):
        assert from_dict(json.loads(json.dumps(to_dict(value))), type(value)) == value


@given(cs.events())
def test_events_survive_a_json_round_trip(event: DomainEvent) -> None:
    assert from_dict(json.loads(json.dumps(to_dict(event))), type(event)) == event


@given(cs.custom_field_schemas())
def test_custom_field_schemas_survive_a_json_round_trip(schema: CustomFieldSchema) -> None:
    assert from_dict(json.loads(json.dumps(to_dict(schema))), CustomFieldSchema) == schema


def test_the_plain_form_is_json_ready_and_exact() -> None:
    data = to_dict(
        Customer(
            name="Acme",
            owner_id="li",
            custom_fields={
                "budget": Decimal("100000.10"),
                "since": crmkit.to_utc("2026-01-01T00:00:00+08:00").date(),
            },
        )
    )
    assert data["kind"] == "company"
    assert type(data["kind"]) is str
    assert data["custom_fields"] == {
        "budget": {"decimal": "100000.10"},
        "since": {"date": "2025-12-31"},
    }
    assert to_dict(Money("12.30", "CNY")) == {"amount": "12.30", "currency": "CNY"}


def test_every_bad_field_is_named_by_its_path() -> None:
    found = issues(
        {
            "name": "",
            "owner_id": 7,
            "kind": "alien",
            "contacts": [
                {"name": "王伟", "phones": ["138 0013 8000"]},
                {"name": "Li", "phones": ["12345"], "emails": ["not-an-email"]},
            ],
            "colour": "red",
        },
        Customer,
        phone_region="CN",
    )
    assert found == [
        "colour: is not a field of Customer",
        "name: must not be blank",
        "owner_id: must be a string, not int",
        "kind: 'alien' is not one of 'company', 'person'",
        "contacts[1].phones[0]: not a valid phone number for region CN",
        "contacts[1].emails[0]: not a valid email address (An email address must have an @-sign.)",
    ]


def test_phone_numbers_in_national_format_need_a_region() -> None:
    data = {"name": "王伟", "phones": ["138 0013 8000"]}
    assert from_dict(data, Contact, phone_region="CN").phones[0].e164 == "+8613800138000"
    assert issues(data, Contact) == [
        "phones[0]: not a valid phone number (no default region; start with +)"
    ]


@pytest.mark.parametrize(
    ("data", "cls", "expected"),
    [
        ({"amount": 0.1, "currency": "CNY"}, Money, "amount: 0.1 is a float"),
        ({"amount": "1", "currency": "CNY", "rate": 1}, Money, "rate: is not a field of Money"),
        ({"code": "A", "service_level": 5}, Tier, "service_level: must be a string, not int"),
        (
            {"name": "x", "type": "boolean", "required": "false"},
            CustomField,
            "required: must be true or false, not str",
        ),
        (
            {"label": "x", "date": "2026-02-30"},
            Anniversary,
            "date: '2026-02-30' is not an ISO 8601 date",
        ),
        (
            {"start": "2026-03-02T09:00:00", "end": "2026-03-03T09:00:00+08:00"},
            DoNotContact,
            "start: 2026-03-02T09:00:00 has no time zone",
        ),
        (
            {"start": "2026-03-03T09:00:00+08:00", "end": "2026-03-02T09:00:00+08:00"},
            DoNotContact,
            "end: must be after start",
        ),
        ([], Tier, "must be an object, not list"),
        ({"name": "x", "owner_id": "y", "tags": "vip"}, Customer, "tags: must be a list, not str"),
        (
            {"name": "x", "owner_id": "y", "custom_fields": {"r": 0.5}},
            Customer,
            "custom_fields.r: float is not a custom field value",
        ),
        ({"name": "x", "owner_id": "y", "id": "nope"}, Customer, "id: 'nope' is not a UUID"),
    ],
)
def test_strict_structuring_refuses_loose_data(data: object, cls: type, expected: str) -> None:
    found = issues(data, cls)
    assert any(f.startswith(expected) for f in found), found


def test_missing_required_fields_are_named() -> None:
    assert issues({}, Customer) == ["name: is required", "owner_id: is required"]


def test_custom_field_schemas_check_declared_types() -> None:
    schema = CustomFieldSchema(
        [
            CustomField(name="segment", type=FieldType.CHOICE, choices=("SME", "enterprise")),
            CustomField(name="employees", type=FieldType.INTEGER, required=True),
            CustomField(name="budget", type=FieldType.DECIMAL),
            CustomField(name="audited", type=FieldType.BOOLEAN),
            CustomField(name="since", type=FieldType.DATE),
            CustomField(name="note", type=FieldType.TEXT),
        ]
    )
    assert (
        schema.issues({"employees": 3, "budget": Decimal("1.5"), "audited": False, "note": "x"})
        == []
    )
    found = [
        str(i)
        for i in schema.issues({"segment": "startup", "audited": 1, "budget": True, "extra": "x"})
    ]
    assert found == [
        "segment: 'startup' is not one of 'SME', 'enterprise'",
        "audited: must be a boolean value, not int",
        "budget: must be a decimal value, not bool",
        "extra: is not a declared custom field",
        "employees: is required",
    ]
    with pytest.raises(ValidationError, match="declared twice"):
        CustomFieldSchema([CustomField(name="a", type=FieldType.TEXT)] * 2)
    with pytest.raises(ValidationError, match="choices: a choice field needs at least one choice"):
        CustomField(name="a", type=FieldType.CHOICE)
