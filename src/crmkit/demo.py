"""The demo: a small, realistic data set of a Chinese SME's CRM in an SQLite file.

`generate_customers` makes customers fast and deterministically (the benchmarks use it too);
`run_demo` stores them through crmkit and prints what it did.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pendulum

import crmkit
from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._demo_care import run_care_desk
from crmkit._demo_credit import run_credit_desk
from crmkit._demo_sales import run_sales_week
from crmkit.customers import (
    DEFAULT_TIERS,
    BuyingRole,
    Contact,
    Customer,
    CustomerKind,
    CustomerRegistered,
    Interaction,
    InteractionKind,
    InteractionLogged,
    LifecycleStage,
    log_interaction,
    register_customers,
    update_customer,
)
from crmkit.errors import ConcurrencyError, ValidationError

__all__ = ["generate_customers", "generate_interactions", "run_demo"]

# Company names: (cities, words, trades, suffixes) in Chinese, then in English.
_COMPANY_PARTS = (
    (
        ("上海", "深圳", "杭州", "苏州", "成都", "宁波", "东莞"),
        ("云杉", "华创", "金桥", "恒信", "新锐", "鼎盛", "瑞丰", "宏达", "东方"),
        ("科技", "电子", "机械", "包装", "食品", "纺织", "物流"),
        ("有限公司", "股份有限公司"),
    ),
    (
        ("Shenzhen ", "Guangzhou ", "Ningbo ", "Wuxi ", "Xiamen ", "Dongguan "),
        ("Bright Star ", "Blue Harbour ", "Greenfield ", "Everbright ", "Jade River ", "Nova "),
        ("Electronics", "Trading", "Logistics", "Software", "Packaging", "Machinery"),
        (" Co., Ltd.", " Group", " Industrial Co., Ltd."),
    ),
)
_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴")
_GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "杰", "婷", "军", "丽")
_LATIN = (
    "Wang Wei",
    "Li Na",
    "Chen Jie",
    "Zhang Min",
    "Liu Yang",
    "Zhou Ting",
    "Huang Lei",
    "Wu Jun",
    "Zhao Li",
    "Yang Qiang",
)
_MOBILE_PREFIXES = ("138", "139", "150", "151", "186", "187", "135", "158", "199", "177")
_OWNERS = ("wang.fang", "li.qiang", "zhang.min", "chen.jie", "liu.yang", "zhou.ting")
_SOURCES = ("trade_show", "website", "short_video", "referral", "cold_call", "wechat")
_TAGS = ("budget 100k+", "制造业", "repeat buyer", "eco packaging", "export", "VIP")
_TITLES = {
    BuyingRole.DECISION_MAKER: ("总经理", "CEO", "董事长"),
    BuyingRole.PURCHASER: ("采购经理", "Purchasing Manager", "采购主管"),
    BuyingRole.TECHNICAL_EVALUATOR: ("技术总监", "CTO", "IT Manager"),
    BuyingRole.USER: ("运营专员", "Operations Lead"),
}
_ROLE_ORDER = (
    BuyingRole.DECISION_MAKER,
    BuyingRole.PURCHASER,
    BuyingRole.TECHNICAL_EVALUATOR,
    BuyingRole.USER,
)
_STAGES = (
    (LifecycleStage.LEAD, 3),
    (LifecycleStage.PROSPECT, 3),
    (LifecycleStage.CUSTOMER, 5),
    (LifecycleStage.REPEAT_CUSTOMER, 3),
    (LifecycleStage.AT_RISK, 1),
    (LifecycleStage.CHURNED, 1),
    (LifecycleStage.WON_BACK, 1),
)


_CHINESE_NAMES = 0.7  # share of contacts with a Chinese name
_PERSONS = 0.1  # share of customers that are private persons
_CHINESE_COMPANIES = 0.6  # share of companies with a Chinese name


def _person_name(r: random.Random) -> str:
    if r.random() < _CHINESE_NAMES:
        return r.choice(_SURNAMES) + "".join(r.choices(_GIVEN, k=r.choice((1, 2))))
    return r.choice(_LATIN)


def _mobile(r: random.Random, used: set[str]) -> PhoneNumber:
    while True:
        number = "+86" + r.choice(_MOBILE_PREFIXES) + f"{r.randrange(10**8):08d}"
        if number not in used:
            used.add(number)
            return PhoneNumber(number)  # already E.164: no parsing needed


def generate_customers(
    count: int, *, contacts_per_customer: int = 2, seed: int = 0
) -> list[Customer]:
    """`count` realistic customers, the same ones for the same `seed` (ids aside).

    Companies with Chinese and English names, a few private persons, contacts with buying roles
    (a decision maker, then a purchaser, a technical evaluator, ...) who report to the decision
    maker, +86 mobile numbers, owners, lifecycle stages, source channels, tiers and tags.
    """
    r = random.Random(seed)
    stages = [s for s, weight in _STAGES for _ in range(weight)]
    used_numbers: set[str] = set()
    customers = []
    for i in range(count):
        person = r.random() < _PERSONS
        if person:
            name = _person_name(r)
        else:
            parts = _COMPANY_PARTS[0] if r.random() < _CHINESE_COMPANIES else _COMPANY_PARTS[1]
            name = "".join(r.choice(part) for part in parts)
        contacts: list[Contact] = []
        for k in range(contacts_per_customer):
            role = _ROLE_ORDER[min(k, len(_ROLE_ORDER) - 1)]
            contact_name = name if person and k == 0 else _person_name(r)
            domain = f"c{i}.example.cn"
            contacts.append(
                Contact(
                    name=contact_name,
                    title=None if person else r.choice(_TITLES[role]),
                    roles=frozenset({role}),
                    reports_to=contacts[0].id if contacts else None,
                    phones=(_mobile(r, used_numbers),),
                    emails=(EmailAddress(f"contact{k}@{domain}"),),
                )
            )
        customers.append(
            Customer(
                name=name,
                kind=CustomerKind.PERSON if person else CustomerKind.COMPANY,
                code=f"C-{i + 1:06d}",
                owner_id=r.choice(_OWNERS),
                lifecycle=r.choice(stages),
                source=r.choice(_SOURCES),
                tier=DEFAULT_TIERS[r.choice("AABBBBCCCC")],
                tags=frozenset(r.sample(_TAGS, r.choice((0, 1, 1, 2)))),
                timezone="Asia/Shanghai",
                contacts=contacts,
            )
        )
    return customers


_SUMMARIES = {
    InteractionKind.CALL: ("电话跟进报价", "Called about the renewal", "确认交货时间"),
    InteractionKind.EMAIL: ("Sent the technical proposal", "发送合同草稿"),
    InteractionKind.VISIT: ("上门拜访, 演示新产品", "Site visit with the CTO"),
    InteractionKind.MEETING: ("需求分析会议", "Negotiation meeting on price"),
    InteractionKind.NOTE: ("客户偏好环保包装", "Prefers WeChat over email"),
    InteractionKind.COMPLAINT: ("交货延迟投诉", "Invoice amount was wrong"),
}


def generate_interactions(
    customers: list[Customer], *, now: pendulum.DateTime, per_customer: int = 3, seed: int = 0
) -> list[Interaction]:
    """A timeline for each customer, spread over the 180 days before `now`.

    Calls, emails, visits, meetings, notes and complaints, with Chinese and English summaries.
    """
    r = random.Random(seed)
    kinds = list(_SUMMARIES)
    found = []
    for customer in customers:
        for _ in range(per_customer):
            kind = r.choice(kinds)
            contact = r.choice(customer.contacts) if customer.contacts else None
            found.append(
                Interaction(
                    customer_id=customer.id,
                    contact_id=contact.id if contact else None,
                    kind=kind,
                    occurred_at=now.subtract(minutes=r.randrange(180 * 24 * 60)),
                    actor_id=customer.owner_id,
                    summary=r.choice(_SUMMARIES[kind]),
                )
            )
    return found


def run_demo(
    path: str | Path,
    *,
    customers: int = 200,
    out: Callable[[str], object] = print,
) -> None:
    """Create (or replace) an SQLite CRM at `path`, fill it and print what happened."""
    path = Path(path)
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    clock = crmkit.FixedClock("2026-03-02T09:30:00+08:00")
    crm = crmkit.open(f"sqlite:///{path}", create=True, clock=clock)
    try:
        out(f"crmkit demo: {path}")
        made = _fill(crm, customers, out)
        _show(crm, made, out)
        _show_refusals(crm, out)
        run_sales_week(crm, clock, made, out)
        run_credit_desk(crm, clock, made, out)
        run_care_desk(crm, made, out)
    finally:
        crm.close()


def _fill(crm: crmkit.CRM, count: int, out: Callable[[str], object]) -> list[Customer]:
    registered: list[CustomerRegistered] = []
    logged: Counter[str] = Counter()
    crm.subscribe(CustomerRegistered, registered.append)
    crm.subscribe(InteractionLogged, lambda e: logged.update([e.kind.value]))
    made = generate_customers(count, seed=2026)
    timeline = generate_interactions(made, now=crm.clock.now(), seed=2026)
    with crm.unit_of_work(actor="demo") as uow:
        register_customers(uow, made)
        for interaction in timeline:
            log_interaction(uow, interaction)
    contacts = sum(len(c.contacts) for c in made)
    out(
        f"  stored {len(made)} customers, {contacts} contacts and {len(timeline)} interactions "
        "in one unit of work"
    )
    out(
        f"  events published after the commit: {len(registered)} CustomerRegistered, "
        f"{sum(logged.values())} InteractionLogged ({', '.join(sorted(logged))})"
    )
    return made


def _show(crm: crmkit.CRM, made: list[Customer], out: Callable[[str], object]) -> None:
    with crm.unit_of_work(actor="demo", read_only=True) as uow:
        out("\nCustomers per salesperson:")
        for owner in sorted({c.owner_id for c in made}):
            out(f"  {owner:<10} {len(uow.customers.by_owner(owner)):>4}")
        one = uow.customers.by_code("C-000001")
        out(f"\nCustomer 360: {one.name} ({one.code})")
        tier = one.tier
        out(f"  tier {tier.code}: {tier.service_level}" if tier else "  no tier")
        out(f"  lifecycle {one.lifecycle.value}, source {one.source}, owner {one.owner_id}")
        for contact in one.contacts:
            chain = " -> ".join(c.name for c in one.chain_of_command(contact.id))
            roles = ", ".join(sorted(r.value for r in contact.roles))
            phones = ", ".join(p.e164 for p in contact.phones)
            out(f"  {contact.name} ({contact.title or '-'}; {roles}) {phones}  [{chain}]")
        out("  last interactions:")
        for i in uow.interactions.for_customer(one.id)[-3:]:
            local = i.occurred_at.in_timezone(one.timezone).format("YYYY-MM-DD HH:mm")
            out(f"    {local}  {i.kind.value:<9} {i.summary}")
        callers = [p for c in one.contacts for p in c.phones]
        if callers:
            found = uow.customers.by_phone(callers[-1])
            names = ", ".join(f"{c.name} ({c.code})" for c in found)
            out(f"\nIncoming call from {callers[-1]}: {names}")


def _show_refusals(crm: crmkit.CRM, out: Callable[[str], object]) -> None:
    out("\nBad input is refused, naming every bad field:")
    try:
        crmkit.from_dict(
            {
                "name": " ",
                "owner_id": "wang.fang",
                "contacts": [
                    {"name": "王伟", "phones": ["138 0013 8000"]},
                    {"name": "Li Na", "phones": ["12345"]},
                ],
            },
            Customer,
            phone_region="CN",
        )
    except ValidationError as e:
        for issue in e.issues:
            out(f"  {issue}")

    out("\nTwo people edit the same customer; the second save is refused:")
    with crm.unit_of_work(actor="wang.fang") as uow:
        first = uow.customers.by_code("C-000002")
    with crm.unit_of_work(actor="li.qiang") as uow:
        second = uow.customers.by_code("C-000002")
    with crm.unit_of_work(actor="wang.fang") as uow:
        first.tags = first.tags | {"VIP"}
        update_customer(uow, first)
    try:
        with crm.unit_of_work(actor="li.qiang") as uow:
            second.lifecycle = LifecycleStage.AT_RISK
            update_customer(uow, second)
    except ConcurrencyError as e:
        out(f"  {type(e).__name__}: {e}")
