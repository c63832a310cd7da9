"""Bad arguments to a repository get a ValidationError naming them, on every adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import crmkit
from crmkit.errors import ValidationError

CALLS: list[tuple[str, Callable[[Any], object], str]] = [
    ("get by a string", lambda uow: uow.customers.get("C-1"), "customer_id"),
    ("get by None", lambda uow: uow.customers.get(None), "customer_id"),
    (
        "get_many with a bad id",
        lambda uow: uow.customers.get_many([crmkit.new_id(), 7]),
        "customer_ids[1]",
    ),
    ("by_code with a number", lambda uow: uow.customers.by_code(17), "code"),
    ("by_owner with None", lambda uow: uow.customers.by_owner(None), "owner_id"),
    ("by_phone with national digits", lambda uow: uow.customers.by_phone("13912345678"), "phone"),
    ("by_phone with a number", lambda uow: uow.customers.by_phone(8613912345678), "phone"),
    ("by_email without @", lambda uow: uow.customers.by_email("li.ming"), "email"),
    ("by_email with None", lambda uow: uow.customers.by_email(None), "email"),
    ("page after a string", lambda uow: uow.customers.page(after="x"), "after"),
    ("add a dict", lambda uow: uow.customers.add({"name": "x"}), ""),
    ("remove an id", lambda uow: uow.customers.remove(crmkit.new_id()), ""),
    ("remove an interaction's id", lambda uow: uow.interactions.remove(crmkit.new_id()), ""),
    ("interaction by a string", lambda uow: uow.interactions.get("x"), "interaction_id"),
    ("timeline of a number", lambda uow: uow.interactions.for_customer(3), "customer_id"),
    (
        "timeline since a naive string",
        lambda uow: uow.interactions.for_customer(crmkit.new_id(), since="2026-01-01"),
        "since",
    ),
]


@pytest.mark.parametrize(("what", "call", "path"), CALLS, ids=[c[0] for c in CALLS])
def test_a_bad_argument_is_named_and_spoils_nothing(
    crm: crmkit.CRM, what: str, call: Callable[[Any], object], path: str
) -> None:
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError) as caught:
            call(uow)
        assert [i.path for i in caught.value.issues] == [path]
        assert uow.customers.count() == 0  # the unit of work still works
