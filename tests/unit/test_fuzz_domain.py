"""Every public domain entry point, fed hostile values, raises nothing but crmkit errors.

Each test calls an entry point with values a careless or malicious caller might pass: None,
wrong types, integers of more than 4,300 digits (whose ``repr`` fails), NaN and infinities,
unpaired surrogates, control characters, very long text, bytes, naive and aware datetimes at the
ends of the calendar, and nested junk. The only exception allowed out is a `CrmkitError`;
anything else (``TypeError``, ``OverflowError``, ``UnicodeEncodeError``, ...) fails the test.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
import crmkit.customers
import crmkit.pipeline
from crmkit import (
    EmailAddress,
    FixedClock,
    Money,
    PhoneNumber,
    SystemClock,
    from_dict,
    to_dict,
    to_utc,
)
from crmkit._validation import issues_of, recheck
from crmkit.customers import (
    Anniversary,
    Channel,
    Contact,
    Customer,
    CustomerRegistered,
    CustomField,
    CustomFieldSchema,
    DoNotContact,
    FieldType,
    Interaction,
    Tier,
)
from crmkit.errors import CrmkitError
from crmkit.storage import MemoryStore
from crmkit.testing import strategies as cs

# Generating nested junk is slow-ish, and the first SQL URL imports SQLAlchemy: the point is
# breadth, not speed.
fuzz = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def survives(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn`; a `CrmkitError` is a fine answer, any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except CrmkitError:
        return None


# --- hostile values ------------------------------------------------------------------------------

EDGE_INTS = [0, -1, 2**31 - 2, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]
EDGE_DECIMALS = [
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("-0"),
    Decimal("1E+999999999999999999"),
    Decimal("1E-999999999999999999"),
    Decimal("9" * 200),
    Decimal("0." + "1" * 150),
]
# Hashing or comparing a signalling NaN raises: it can only sit where nothing hashes it.
signalling_nan = st.sampled_from(["sNaN", "-sNaN"]).map(Decimal)
_OFFSETS = [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]
EDGE_DATETIMES = [
    moment.replace(tzinfo=tz)
    for moment in (dt.datetime.min, dt.datetime.max, dt.datetime(999, 12, 31, 23, 59))  # noqa: DTZ901 (naive on purpose)
    for tz in [None, *_OFFSETS]
]
EDGE_TEXT = [
    "",
    " ",
    "\ud800",
    "a\udfffb",
    "li\x00na",
    "\x1b[31m",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31",
    "0001-01-01",
    "1E+999999999",
    "NaN",
    "America",  # a folder of the time zone database, not a zone
    "Asia/Shanghai",
    "CNY",
    "+8613800138000",
    "138 0013 8000",
    "li.wei@example.com",
    "li\ud800@example.com",
    "memory://",
    "call",
    "company",
    "choice",
]

_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_controls = st.characters(max_codepoint=0x1F)
long_texts = st.integers(200, 100_000).map(lambda n: "x" * n)
texts = (
    st.text(st.characters() | _surrogates | _controls, max_size=30)
    | st.sampled_from(EDGE_TEXT)
    | long_texts
)
# repr() and str() of an integer of more than 4,300 digits raise ValueError. (Drawn through map,
# not sampled_from, whose repr would show them.)
huge_ints = st.integers(4290, 5000).flatmap(lambda n: st.sampled_from([10**n, -(10**n) + 1]))
ints = st.integers() | st.sampled_from(EDGE_INTS) | huge_ints
floats = st.floats() | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308])
decimals = st.decimals(allow_nan=False) | st.sampled_from(EDGE_DECIMALS)
datetimes = (
    st.sampled_from(EDGE_DATETIMES)
    | st.datetimes()
    | st.datetimes(timezones=st.timezones())
    | cs.instants()
)
dates = st.dates() | st.sampled_from([dt.date.min, dt.date.max, dt.date(999, 12, 31)])
domain_values = st.one_of(
    cs.ids(),
    cs.money(),
    cs.phone_numbers(),
    cs.email_addresses(),
    cs.tiers(),
    cs.anniversaries(),
    cs.contacts(),
    st.sampled_from(Channel),
    st.sampled_from(FieldType),
)
hashable = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    decimals,
    texts,
    st.binary(max_size=10),
    datetimes,
    dates,
    domain_values.filter(lambda v: not isinstance(v, Contact)),
)
hostile: st.SearchStrategy[Any] = st.recursive(
    hashable | signalling_nan,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.frozensets(hashable, max_size=3),
        st.dictionaries(hashable, inner, max_size=3),
        st.dictionaries(texts, inner, max_size=3),
    ),
    max_leaves=6,
)


# --- value objects, time, money ------------------------------------------------------------------


@fuzz
@given(hostile, hostile)
def test_money_constructors(amount: Any, currency: Any) -> None:
    survives(Money, amount, currency)
    survives(Money.rounded, amount, currency)
    survives(Money.zero, currency)
    survives(Money.total, amount, currency=currency)
    survives(Money.rounded, "1.005", "CNY", rounding=currency)


_OPERATORS = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    operator.eq,
    operator.ne,
]


@fuzz
@given(cs.money(), hostile | cs.money(), st.sampled_from(_OPERATORS))
def test_money_operators(money: Money, other: Any, op: Callable[[Any, Any], Any]) -> None:
    survives(op, money, other)
    survives(op, other, money)
    survives(money.multiply, other)
    survives(money.multiply, "1.5", rounding=other)
    survives(money.allocate, other)
    survives(money.allocate, [other, 1])
    survives(sum, [money, other])
    survives(Money.total, [money, other], currency=money.currency)
    survives(operator.neg, money)
    survives(abs, money)
    survives(str, money)
    survives(repr, money)


@fuzz
@given(hostile, hostile)
def test_phone_numbers_and_email_addresses(value: Any, region: Any) -> None:
    phone = survives(PhoneNumber, value)
    if phone is not None:
        survives(lambda: phone.region)
    survives(PhoneNumber.parse, value)
    survives(PhoneNumber.parse, value, region=region)
    survives(PhoneNumber.parse, "138 0013 8000", region=region)
    survives(EmailAddress, value)
    survives(EmailAddress.parse, value)


@fuzz
@given(hostile, hostile, hostile, hostile, hostile)
def test_time(value: Any, days: Any, hours: Any, minutes: Any, seconds: Any) -> None:
    survives(to_utc, value)
    survives(to_utc, value, "at")
    clock = survives(FixedClock, value)
    if clock is not None:
        survives(clock.set, value)
        clock.now()
        repr(clock)
    for start in ("0001-01-01T00:00:00+00:00", "2026-03-08T09:00:00+08:00", "9999-12-31T23:59Z"):
        clock = FixedClock(start)
        survives(clock.advance, days=days)
        survives(clock.advance, days=days, hours=hours, minutes=minutes, seconds=seconds)
        survives(clock.set, value)
    SystemClock().now()


# --- constructors and assignments of the domain classes ------------------------------------------

_VALID: dict[type, Callable[[], st.SearchStrategy[Any]]] = {
    Tier: cs.tiers,
    Anniversary: cs.anniversaries,
    DoNotContact: cs.do_not_contact_windows,
    Contact: cs.contacts,
    Customer: cs.customers,
    Interaction: cs.interactions,
    CustomField: cs.custom_fields,
    CustomFieldSchema: cs.custom_field_schemas,
}


@fuzz
@given(st.sampled_from(sorted(_VALID, key=lambda c: c.__name__)), st.data())
def test_constructors_with_one_or_more_hostile_fields(cls: type, data: st.DataObject) -> None:
    valid = data.draw(_VALID[cls]())
    kwargs = {a.alias: getattr(valid, a.name) for a in attrs.fields(cls)}
    for name in data.draw(st.lists(st.sampled_from(sorted(kwargs)), min_size=1, max_size=3)):
        kwargs[name] = data.draw(hostile, label=name)
    built = survives(cls, kwargs["fields"]) if cls is CustomFieldSchema else survives(cls, **kwargs)
    if built is not None:
        # Whatever was accepted can be written out as plain data and read back, equal.
        assert from_dict(to_dict(built), cls) == built


@fuzz
@given(st.sampled_from([Customer, Contact, Interaction]), st.data())
def test_assignments_to_entity_fields(cls: type, data: st.DataObject) -> None:
    entity = data.draw(_VALID[cls]())
    name = data.draw(st.sampled_from([a.name for a in attrs.fields(cls)]))
    value = data.draw(hostile, label=name)
    survives(setattr, entity, name, value)
    # What a repository runs before it writes, and a constructor after: issues, never an error;
    # and an entity without issues can be written out as plain data and read back, equal.
    if not recheck(entity) and not issues_of(entity):
        assert from_dict(to_dict(entity), cls) == entity


@fuzz
@given(cs.customers(), hashable, hostile, hostile)
def test_changing_the_contents_of_a_customer(
    customer: Customer, key: Any, value: Any, at: Any
) -> None:
    customer.custom_fields[key] = value
    customer.contacts.append(value)
    # What a repository runs before it writes: issues, never an exception.
    recheck(customer)
    customer.contacts.pop()
    customer.custom_fields.pop(key, None)
    survives(customer.add_contact, value)
    survives(customer.contact, value)
    survives(customer.chain_of_command, value)
    survives(customer.reports_of, value)
    survives(customer.is_contactable, at)
    survives(customer.is_contactable, at, value)
    for window in customer.do_not_contact:
        survives(window.blocks, at, value)


@fuzz
@given(cs.custom_fields(), cs.custom_field_schemas(), hostile, hostile)
def test_custom_field_checks(
    field: CustomField, schema: CustomFieldSchema, value: Any, path: Any
) -> None:
    survives(field.problem, value)
    survives(schema.issues, value)
    survives(schema.issues, {field.name: value})
    survives(schema.issues, {field.name: value}, path=path)
    survives(CustomFieldSchema, value)


# --- plain data: from_dict and to_dict for every public attrs class ------------------------------


def _public_attrs_classes() -> list[type]:
    found = set()
    for module in (crmkit, crmkit.customers, crmkit.events, crmkit.pipeline):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and attrs.has(obj):
                found.add(obj)
    return sorted(found, key=lambda c: c.__name__)


PUBLIC_CLASSES = _public_attrs_classes()


def test_the_fuzzed_classes_are_all_there() -> None:
    names = {c.__name__ for c in PUBLIC_CLASSES}
    assert {"Customer", "Contact", "Interaction", "Money", "PhoneNumber", "DomainEvent"} <= names
    assert CustomerRegistered in PUBLIC_CLASSES


@fuzz
@given(st.sampled_from(PUBLIC_CLASSES), st.data())
def test_from_dict_with_hostile_fields(cls: type, data: st.DataObject) -> None:
    fields = [a.alias for a in attrs.fields(cls)]
    if cls in _VALID:
        plain = to_dict(data.draw(_VALID[cls]()))
        if isinstance(plain, dict):
            for name in data.draw(st.lists(st.sampled_from(fields), max_size=3)):
                plain[name] = data.draw(hostile, label=name)
    else:
        plain = data.draw(
            st.fixed_dictionaries({}, optional=dict.fromkeys(fields, hostile)) | hostile
        )
    region = data.draw(st.none() | st.sampled_from(["CN", "US"]) | hostile, label="region")
    built = survives(from_dict, plain, cls, phone_region=region)
    if built is not None:
        to_dict(built)


@fuzz
@given(hostile, hostile)
def test_from_dict_and_to_dict_with_hostile_arguments(data: Any, cls: Any) -> None:
    survives(from_dict, data, cls)
    for known in (Customer, Money, list[Contact]):
        survives(from_dict, data, known)
    survives(to_dict, data)


# --- crmkit.open and the CRM's own argument checks -----------------------------------------------

# Text that could name a real database is left out: opening one is not what is tested here.
urls = hostile.filter(lambda u: not (isinstance(u, str) and ":" in u)) | st.just("memory://")


@fuzz
@given(urls, hostile, hostile, hostile, hostile, hostile)
def test_open_and_the_crm(
    url: Any, clock: Any, tenant: Any, custom_fields: Any, flag: Any, other: Any
) -> None:
    crm = survives(
        crmkit.open,
        url,
        clock=clock,
        tenant=tenant,
        custom_fields=custom_fields,
        create=flag,
        verify_schema=flag,
    )
    if crm is not None:
        crm.close()
    survives(crmkit.CRM, other, tenant=tenant)
    crm = crmkit.CRM(MemoryStore(), clock=FixedClock("2026-01-01T00:00:00Z"))
    uow = survives(crm.unit_of_work, actor=tenant, tenant=other, read_only=flag)
    if uow is not None:
        with uow:
            pass
    survives(crm.run, lambda uow: None, actor="li", attempts=other, backoff=flag)
    survives(crm.run, lambda uow: None, actor="li", max_backoff=other)
    survives(crm.run, other, actor="li")
    survives(crm.subscribe, other, print)
    survives(crm.subscribe, CustomerRegistered, other)
    survives(crm.unsubscribe, other, other)


RATES = crmkit.ExchangeRates([crmkit.ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.2")])


@fuzz
@given(hostile, hostile, hostile, hostile)
def test_exchange_rates(base: Any, quote: Any, on: Any, rate: Any) -> None:
    survives(crmkit.ExchangeRate, base, quote, on, rate)
    survives(crmkit.ExchangeRates, base)
    survives(RATES.add, base)
    survives(RATES.rate, base, quote, on)
    survives(RATES.rate, "USD", "CNY", on)
    survives(RATES.convert, base, quote, on=on)
    survives(RATES.convert, Money(1, "USD"), quote, on=on)
    survives(RATES.total, base, quote)
    survives(RATES.total, [(Money(1, "USD"), on)], quote)
    survives(RATES.total, [base], "CNY")
