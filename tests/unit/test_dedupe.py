"""The duplicate finder: each signal's reason, the rules' checks, and the laws of the pairs."""

# ruff: noqa: RUF001 (full-width brackets are what is tested)

from __future__ import annotations

import datetime as dt
import math
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit import EmailAddress, PhoneNumber
from crmkit.customers import (
    Address,
    BlockingKey,
    Contact,
    Customer,
    CustomerKind,
    DuplicateRules,
    Weight,
    compare_all_pairs,
    find_contact_duplicates,
    find_duplicates,
)
from crmkit.customers._dedupe import evidence, probability, profiles_of, score, similarity
from crmkit.errors import ValidationError

PHONE = PhoneNumber("+8613800138000")


def customer(
    name: str,
    *,
    kind: CustomerKind = CustomerKind.COMPANY,
    phone: str | None = None,
    email: str | None = None,
    birthday: dt.date | None = None,
    address: Address | None = None,
    code: str | None = None,
    external_id: str | None = None,
    contact: str = "Li",
) -> Customer:
    return Customer(
        name=name,
        owner_id="li",
        kind=kind,
        code=code,
        external_id=external_id,
        birthday=birthday,
        address=address,
        contacts=[
            Contact(
                name=contact,
                phones=(PhoneNumber(phone),) if phone else (),
                emails=(EmailAddress(email),) if email else (),
            )
        ],
    )


def only_pair(*customers: Customer, rules: DuplicateRules | None = None) -> tuple[str, ...]:
    [pair] = find_duplicates(customers, rules=rules)
    return pair.reasons


# --- reasons --------------------------------------------------------------------------------------


def test_a_shared_phone_is_named_in_e164() -> None:
    reasons = only_pair(
        customer("深圳市云杉科技有限公司", phone=PHONE.e164),
        customer("云杉科技（深圳）有限责任公司", phone=PHONE.e164),
    )
    assert "same E.164 phone +8613800138000" in reasons
    assert "same name after normalising ('云杉科技')" in reasons
    assert "same place 深圳" in reasons


def test_a_shared_email_is_named_normalised() -> None:
    reasons = only_pair(
        customer("Acme Trading Co., Ltd.", email="Sales@Acme.example"),
        customer("ACME Trading Ltd", email="sales@acme.example"),
    )
    assert "same email sales@acme.example" in reasons


def test_email_aliases_count_only_when_the_rules_turn_them_on() -> None:
    a = customer("Wang Wei", kind=CustomerKind.PERSON, email="wang.wei+shop@gmail.com")
    b = customer("Wei Wang", kind=CustomerKind.PERSON, email="wangwei@gmail.com")
    assert find_duplicates([a, b]) == []  # same name, but no email in common
    assert "same email wangwei@gmail.com" in only_pair(
        a, b, rules=DuplicateRules(email_aliases=True)
    )


def test_similar_names_say_how_similar_after_normalising() -> None:
    reasons = only_pair(
        customer("Blue River Logistics GmbH", phone=PHONE.e164),
        customer("Blue Rivr Logistics Co., Ltd.", phone=PHONE.e164),
    )
    assert (
        "names 0.97 similar after normalising ('blue river logistics', 'blue rivr logistics')"
        in reasons
    )


def test_birthdays_postcodes_streets_and_codes_have_reasons() -> None:
    home = Address(street="科技园路1号", city="深圳市", postcode="518057")
    reasons = only_pair(
        customer(
            "王伟",
            kind=CustomerKind.PERSON,
            birthday=dt.date(1980, 5, 4),
            address=home,
            code="C-1",
        ),
        customer(
            "王伟",
            kind=CustomerKind.PERSON,
            birthday=dt.date(1980, 5, 4),
            address=home,
            external_id="c-1",
        ),
    )
    assert set(reasons) >= {
        "same birthday 1980-05-04",
        "same postcode 518057",
        "addresses 1.00 similar",
        "same code or external id c-1",
    }
    assert reasons[0] == "same code or external id c-1"  # the strongest evidence first


def test_evidence_against_is_named_and_comes_last() -> None:
    a = customer("王伟", kind=CustomerKind.PERSON, phone=PHONE.e164, birthday=dt.date(1980, 5, 4))
    b = customer("王伟", kind=CustomerKind.PERSON, phone=PHONE.e164, birthday=dt.date(1981, 1, 2))
    reasons = only_pair(a, b)
    assert reasons[-1] == "different birthdays (1980-05-04, 1981-01-02)"


def test_different_house_numbers_and_places_count_against() -> None:
    rules = DuplicateRules()
    here = Address(street="12 High Street", city="Hamburg", postcode="20095")
    there = Address(street="14 High Street", city="Bremen", postcode="20095")
    a, b = profiles_of(
        [customer("Acme", address=here, phone=PHONE.e164), customer("Acme", address=there)],
        rules,
    )
    words = {w: bits for bits, w in evidence(a, b, rules, similarity())}
    assert words["different house numbers"] == rules.street.disagree
    assert words["no place in common"] == rules.places.disagree


def test_the_score_is_the_probability_of_the_prior_plus_the_evidence() -> None:
    rules = DuplicateRules()
    a, b = profiles_of(
        [
            customer("Acme Trading", phone=PHONE.e164, email="a@acme.example"),
            customer("Acme Tradng", phone=PHONE.e164, email="b@acme.example"),
        ],
        rules,
    )
    total = rules.prior + sum(bits for bits, _ in evidence(a, b, rules, similarity()))
    assert score(a, b, rules, similarity()) == probability(total)
    assert probability(0) == 0.5
    assert probability(-1000) == 0.0


def test_a_common_name_says_less_than_a_rare_one() -> None:
    many = [customer("王伟", kind=CustomerKind.PERSON) for _ in range(8)]
    assert find_duplicates(many) == []  # 8 people called 王伟, nothing else known
    [pair] = find_duplicates(many[:2])
    assert pair.reasons == ("same name after normalising ('王伟')",)
    counted = DuplicateRules(name_frequency=False)
    assert len(find_duplicates(many, rules=counted)) == 8 * 7 // 2


def test_companies_and_persons_are_never_paired() -> None:
    company, person = customer("Wang Wei"), customer("Wang Wei", kind=CustomerKind.PERSON)
    assert find_duplicates([company, person]) == []


def test_contacts_of_different_customers_pair_up_with_their_customers() -> None:
    mail = "wang.wei@example.cn"
    a = customer("Acme", contact="Wang Wei", email=mail)
    b = customer("Globex", contact="WEI, Wang", email=mail)
    [pair] = find_contact_duplicates([a, b])
    assert {pair.a_customer_id, pair.b_customer_id} == {a.id, b.id}
    assert {pair.a_id, pair.b_id} == {a.contacts[0].id, b.contacts[0].id}
    assert pair.a_id < pair.b_id
    assert pair.reasons == (
        "same email wang.wei@example.cn",
        "same name after normalising ('wang wei')",
    )


# --- the rules check themselves -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1}, "threshold"),
        ({"threshold": math.nan}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"prior": "-7"}, "prior"),
        ({"name": 6}, "name"),
        ({"floor": 1.5}, "floor"),
        ({"window": 1}, "window"),
        ({"max_block": 1}, "max_block"),
        ({"blocking": {"phone"}}, "blocking"),
        ({"email_aliases": 1}, "email_aliases"),
        ({"name_frequency": "yes"}, "name_frequency"),
        ({"suffixes": ("",)}, "suffixes[0]"),
        ({"regions": (" ",)}, "regions[0]"),
    ],
)
def test_bad_rules_name_their_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DuplicateRules(**options)  # type: ignore[arg-type]
    assert [i.path for i in raised.value.issues] == [field]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"agree": -1}, "agree"),
        ({"agree": math.inf}, "agree"),
        ({"agree": 1, "disagree": 1}, "disagree"),
        ({"agree": 101}, "agree"),
    ],
)
def test_bad_weights_name_their_field(options: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Weight(**options)
    assert [i.path for i in raised.value.issues] == [field]


def test_the_finders_refuse_what_is_not_customers_or_rules() -> None:
    with pytest.raises(ValidationError, match="rules: must be DuplicateRules"):
        find_duplicates([], rules={"threshold": 0.5})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"customers\[1\]: must be a Customer"):
        find_duplicates([customer("A"), "B"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="customers: must be an iterable"):
        compare_all_pairs("AB")  # type: ignore[arg-type]


# --- laws -----------------------------------------------------------------------------------------

NAMES = ("Acme Trading Co., Ltd.", "ACME Trading Ltd", "Acme Tradng", "Globex", "王伟", "王 伟")
PHONES = (None, "+8613800138000", "+8613900139000")
EMAILS = (None, "a@acme.example", "b@acme.example")
DAYS = (None, dt.date(1980, 5, 4), dt.date(1981, 1, 2))
POSTCODES = (None, "518057", "200000")


@st.composite
def customers(draw: st.DrawFn, max_size: int = 12) -> list[Customer]:
    found = []
    for i in range(draw(st.integers(0, max_size))):
        postcode = draw(st.sampled_from(POSTCODES))
        found.append(
            Customer(
                id=UUID(int=draw(st.integers(0, 2**64)) * 1000 + i),
                name=draw(st.sampled_from(NAMES)),
                owner_id="li",
                kind=draw(st.sampled_from(CustomerKind)),
                birthday=draw(st.sampled_from(DAYS)),
                address=Address(postcode=postcode, street="1 Main St") if postcode else None,
                contacts=[
                    Contact(
                        name=draw(st.sampled_from(NAMES)),
                        phones=[PhoneNumber(p) for p in [draw(st.sampled_from(PHONES))] if p],
                        emails=[EmailAddress(e) for e in [draw(st.sampled_from(EMAILS))] if e],
                    )
                ],
            )
        )
    return found


@settings(max_examples=60, deadline=None)
@given(customers(), st.sampled_from([0.3, 0.5, 0.9]))
def test_pairs_are_ordered_once_each_never_a_record_with_itself(
    found: list[Customer], threshold: float
) -> None:
    rules = DuplicateRules(threshold=threshold)
    pairs = find_duplicates(found, rules=rules)
    ids = [(p.a_id, p.b_id) for p in pairs]
    assert len(set(ids)) == len(ids)
    assert all(a < b for a, b in ids)
    assert all(0 <= p.score <= 1 and p.score >= threshold for p in pairs)
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    assert pairs == find_duplicates(list(reversed(found)), rules=rules)


@settings(max_examples=60, deadline=None)
@given(customers(), st.sampled_from(list(BlockingKey)))
def test_blocking_finds_a_subset_of_all_pairs_and_all_of_them_within_a_window(
    found: list[Customer], dropped: BlockingKey
) -> None:
    every = compare_all_pairs(found)
    assert find_duplicates(found) == every  # at most 12 records: one window holds them all
    fewer = DuplicateRules(blocking=frozenset(BlockingKey) - {dropped}, window=2)
    assert set(find_duplicates(found, rules=fewer)) <= set(every)


@settings(max_examples=60, deadline=None)
@given(customers(max_size=6))
def test_the_score_is_symmetric(found: list[Customer]) -> None:
    rules = DuplicateRules()
    profiles = profiles_of(found, rules)
    similar = similarity()
    for a in profiles:
        assert score(a, a, rules, similar) == 0.0
        for b in profiles:
            assert score(a, b, rules, similar) == score(b, a, rules, similar)
