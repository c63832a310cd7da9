"""Customers with realistic duplicates and the truth about them, to measure a duplicate finder.

`generate_duplicates` makes customers (Chinese and Latin companies and persons, with a contact
holding a phone and an email, an address, a birthday for persons) and copies some of them the
way duplicates arise: typed again with a typo (a letter inserted, dropped, swapped with the next
or replaced), given and family names swapped, legal forms and region prefixes written another
way (``有限公司`` and ``有限责任公司``, ``深圳市`` dropped, ``（深圳）`` added), full-width
letters, upper case, and fields left out (phone, email, address, birthday). Different customers
share names as real ones do: names are drawn with weights falling by rank, so many people are
called 王伟 or James Smith and few 杜瀚; companies do not share a registered name (a Chinese one
is unique within its city and trade, a Latin one within the data), though two Chinese companies
of different cities may share their trade name. `quality` scores what a finder found against
the truth::

    from crmkit.customers import find_duplicates
    from crmkit.testing.duplicates import generate_duplicates, quality

    data = generate_duplicates(2000, seed=7)
    print(quality(find_duplicates(data.customers), data.true_pairs))
"""

# Full-width letters and brackets are what the generated duplicates are made of:
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections.abc import Iterable
from typing import Protocol
from uuid import UUID

import attrs

from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit.customers import Address, Contact, Customer, CustomerKind

__all__ = ["GeneratedCustomers", "Quality", "generate_duplicates", "quality"]


@attrs.frozen(kw_only=True)
class GeneratedCustomers:
    """Generated customers and which of them are duplicates of each other.

    Attributes:
        customers: the customers, originals and copies shuffled together.
        true_pairs: every pair of customers that are copies of one original (or the original and
            a copy), as ``(smaller id, larger id)``.
    """

    customers: list[Customer]
    true_pairs: frozenset[tuple[UUID, UUID]]


@attrs.frozen(kw_only=True)
class Quality:
    """How well found pairs match the true ones.

    Attributes:
        precision: the share of found pairs that are true (1 when nothing was found).
        recall: the share of true pairs that were found (1 when there are none).
        f1: the harmonic mean of precision and recall.
        true_positives: found pairs that are true.
        false_positives: found pairs that are not.
        false_negatives: true pairs not found.
    """

    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.4f}, recall {self.recall:.4f}, F1 {self.f1:.4f} "
            f"({self.true_positives} true, {self.false_positives} false, "
            f"{self.false_negatives} missed)"
        )


class _HasIds(Protocol):
    """A found pair: a `DuplicatePair` or a `ContactPair`."""

    @property
    def a_id(self) -> UUID: ...

    @property
    def b_id(self) -> UUID: ...


def quality(
    found: Iterable[_HasIds | tuple[UUID, UUID]], truth: Iterable[tuple[UUID, UUID]]
) -> Quality:
    """Precision, recall and F1 of the pairs `found` (pairs or id pairs, in either order).

    Examples:
        >>> from uuid import UUID
        >>> a, b, c = UUID(int=1), UUID(int=2), UUID(int=3)
        >>> print(quality([(b, a), (a, c)], [(a, b), (b, c)]))
        precision 0.5000, recall 0.5000, F1 0.5000 (1 true, 1 false, 1 missed)
    """
    got = {_pair(p) for p in found}
    true = {_pair(p) for p in truth}
    hits = len(got & true)
    precision = hits / len(got) if got else 1.0
    recall = hits / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(
        precision=precision,
        recall=recall,
        f1=f1,
        true_positives=hits,
        false_positives=len(got) - hits,
        false_negatives=len(true) - hits,
    )


def _pair(p: _HasIds | tuple[UUID, UUID]) -> tuple[UUID, UUID]:
    a, b = p if isinstance(p, tuple) else (p.a_id, p.b_id)
    return (a, b) if a < b else (b, a)


# --- what names are made of ----------------------------------------------------------------------

_CITIES = (
    ("深圳", "广东", "5180"),
    ("广州", "广东", "5100"),
    ("东莞", "广东", "5230"),
    ("上海", "", "2000"),
    ("北京", "", "1000"),
    ("杭州", "浙江", "3100"),
    ("宁波", "浙江", "3150"),
    ("苏州", "江苏", "2150"),
    ("南京", "江苏", "2100"),
    ("成都", "四川", "6100"),
    ("武汉", "湖北", "4300"),
    ("西安", "陕西", "7100"),
    ("厦门", "福建", "3610"),
    ("青岛", "山东", "2660"),
    ("长沙", "湖南", "4100"),
    ("天津", "", "3000"),
)
# Trade names (字号) are two of these: real ones draw on thousands of characters, so that
# unrelated companies seldom share one (and, within one city and trade, never).
_BRAND = (
    "云杉华兴恒通达利源泰丰瑞德新宇博远中天信诚鼎盛金海明阳创星凯旋嘉禾永安宏图卓越东方正大联"
    "合光长城银河飞腾成志汇纳百川启航众盈科睿智捷锦程鑫隆昌旺发祥福富贵荣美佳乐康健宁和顺广聚"
    "益群力豪强威鸿辉煌骏驰龙凤麒麟晟昊峰森林泽润江湖山石晶玉铜钢宝亚洲环球万家世纪夏神州九三"
    "四五八朗"
)
_LATIN_BRAND = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # brands such as "KD" or "3E"
_INDUSTRY = (
    "科技", "贸易", "电子", "实业", "物流", "医药", "食品", "机械", "建材", "文化传媒",
    "网络", "软件", "化工", "服饰", "家居", "环保", "新能源", "教育", "餐饮", "咨询",
)  # fmt: skip
_SUFFIX = ("有限公司", "有限责任公司", "股份有限公司")
_ADJECTIVES = (
    "Blue", "Green", "Silver", "Golden", "Northern", "Pacific", "Atlantic", "Royal", "Bright",
    "Rapid", "Prime", "United", "Global", "Summit", "Crystal", "Eagle", "Falcon", "Harbor",
    "Maple", "Oak", "Red", "Swift", "True", "Nova", "Apex", "Alpine", "Amber", "Arctic",
    "Bold", "Cedar", "Coastal", "Copper", "Delta", "Eastern", "Emerald", "Evergreen", "First",
    "Grand", "Iron", "Jade", "Lunar", "Metro", "Noble", "Orion", "Polar", "Quantum", "Sapphire",
    "Solar", "Sterling", "Titan",
)  # fmt: skip
_NOUNS = (
    "River", "Mountain", "Star", "Bridge", "Stone", "Wave", "Field", "Point", "Lake", "Valley",
    "Forest", "Gate", "Tower", "Harbour", "Peak", "Light", "Cloud", "Ridge", "Bay", "Rock",
    "Anchor", "Arrow", "Beacon", "Canyon", "Castle", "Crown", "Dawn", "Falls", "Garden", "Grove",
    "Haven", "Horizon", "Island", "Key", "Meadow", "Mill", "Oasis", "Pine", "Shore", "Spring",
)  # fmt: skip
_TRADES = (
    "Trading", "Logistics", "Systems", "Foods", "Machinery", "Textiles", "Software",
    "Chemicals", "Electronics", "Consulting", "Media", "Energy", "Pharma", "Plastics", "Tools",
    "Packaging", "Furniture", "Optics", "Robotics", "Instruments",
)  # fmt: skip
_LATIN_SUFFIX = ("Co., Ltd.", "Ltd", "Limited", "Inc.", "GmbH", "LLC", "AG", "S.A.", "Corp.")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
# Given-name characters, the most common first, drawn with weights falling by rank (as in
# life: 伟 is far more common than 瀚). Drawn from 40 equally, every one-character given name
# would be as common as 王伟, China's most common name, and strangers would share names far
# more often than they do.
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞文辉建国志宏海燕晨宇婷雪琳欣"
    "怡佳嘉俊浩然子涵梓轩博昊天睿思雨萱诗琪晓东春梅冬云龙凤亮斌峰波兵鑫林森彬琦璐瑶颖倩慧丹蕾"
    "薇莉莹婉晶佩淑珍洁琴瑞凯旭阳帆航宁安康乐悦昕彤彦钧霖铭哲瀚逸晖炜"
)
_GIVEN_WEIGHTS = tuple(itertools.accumulate(1 / (rank + 10) for rank in range(len(_GIVEN))))
_FIRST = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Thomas", "Susan", "Daniel", "Jessica", "Anna", "Peter",
    "Laura", "Markus", "Sophie", "Lukas", "Emma", "Paul", "Julia", "Felix", "Marie", "Jonas",
    "Clara", "Oliver", "Hannah", "Elias", "Lena", "Noah", "Mia", "Leon", "Nina", "Tom", "Sara",
    "Max", "Charles", "Karen", "Joseph", "Nancy", "Christopher", "Lisa", "Matthew", "Betty",
    "Andrew", "Sandra", "Joshua", "Ashley", "Kevin", "Emily", "Brian", "Michelle", "George",
    "Amanda", "Stefan", "Katharina", "Andreas", "Sabine", "Tobias", "Johanna", "Florian", "Lea",
    "Sebastian", "Greta", "Moritz", "Frieda", "Henrik", "Ida", "Anton", "Luisa", "Jakob", "Mila",
    "Vincent", "Charlotte", "Adrian", "Nora",
)  # fmt: skip
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "White", "Harris", "Clark", "Lewis",
    "Walker", "Young", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
    "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Braun",
    "Zimmermann", "Krüger", "Hartmann", "Lange", "Allen", "King", "Wright", "Scott", "Torres",
    "Hill", "Green", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Turner",
    "Phillips", "Campbell", "Parker", "Evans", "Edwards", "Collins", "Schmitt", "Werner",
    "Schwarz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann",
    "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz",
)  # fmt: skip
# Names are drawn with weights falling by rank, the lists' first (most common) names the most
# often, as in life: Smith and 王 are common, Scholz and 杜 less so. Drawn equally from few
# names, every name would be as common as the most common one, and strangers would share full
# names far more often than they do.
_SURNAME_WEIGHTS = tuple(itertools.accumulate(1 / (rank + 6) for rank in range(len(_SURNAMES))))
_FIRST_WEIGHTS = tuple(itertools.accumulate(1 / (rank + 10) for rank in range(len(_FIRST))))
_LAST_WEIGHTS = tuple(itertools.accumulate(1 / (rank + 10) for rank in range(len(_LAST))))
_STREETS_CN = ("科技园路", "深南大道", "人民路", "解放路", "中山路", "建设路", "文化路", "和平路")
_STREETS_EN = ("High Street", "Station Road", "Main Street", "Park Avenue", "Church Lane")
_MAIL_HOSTS = ("gmail.com", "outlook.com", "163.com", "qq.com", "example.com")
_START = dt.date(1950, 1, 1)


@attrs.define
class _Original:
    """What a generated customer is made of, before it becomes a `Customer`."""

    kind: CustomerKind
    name: str
    contact: str
    phone: str | None
    email: str | None
    address: Address | None
    birthday: dt.date | None
    # How the name may be written differently (the parts of a Chinese company's name).
    parts: tuple[str, ...] = ()


class _Maker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.phones: set[str] = set()
        self.serial = 0
        # Registered company names are unique: a Chinese one within its city's registry (for
        # its trade), a Latin one within the CRM (trade names are protected). Unrelated
        # companies of one name are drawn again (see `_unique`).
        self.company_names: set[tuple[str, ...]] = set()

    def phone(self) -> str:
        while True:
            number = f"+861{self.rng.choice('3456789')}{self.rng.randrange(10**9):09d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def email(self, local: str) -> str:
        self.serial += 1
        return f"{local}{self.serial}@{self.rng.choice(_MAIL_HOSTS)}"

    def address(self, chinese: bool) -> tuple[Address, str]:
        rng = self.rng
        city, region, post = rng.choice(_CITIES)
        postcode = f"{post}{rng.randrange(3) * 10 + rng.randrange(1, 10):02d}"
        if chinese:
            street = f"{rng.choice(_STREETS_CN)}{rng.randint(1, 999)}号"
        else:
            street = f"{rng.randint(1, 300)} {rng.choice(_STREETS_EN)}"
        return Address(street=street, city=f"{city}市", region=region, postcode=postcode), city

    def original(self) -> _Original:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:  # noqa: PLR2004
            return self._chinese_company()
        if roll < 0.6:  # noqa: PLR2004
            return self._latin_company()
        if roll < 0.88:  # noqa: PLR2004
            name = self._chinese_person()
            return self._person(name, chinese=True)
        return self._person(self._latin_person(), chinese=False)

    def _latin_person(self) -> str:
        rng = self.rng
        [first] = rng.choices(_FIRST, cum_weights=_FIRST_WEIGHTS)
        [last] = rng.choices(_LAST, cum_weights=_LAST_WEIGHTS)
        return f"{first} {last}"

    def _chinese_person(self) -> str:
        rng = self.rng
        given = "".join(rng.choices(_GIVEN, cum_weights=_GIVEN_WEIGHTS, k=rng.choice((1, 2, 2))))
        return rng.choices(_SURNAMES, cum_weights=_SURNAME_WEIGHTS)[0] + given

    def _chinese_company(self) -> _Original:
        rng = self.rng
        address, city = self.address(chinese=True)
        while True:
            if rng.random() < 0.1:  # noqa: PLR2004
                core = "".join(rng.choices(_LATIN_BRAND, k=rng.choice((2, 3))))
            else:
                core = "".join(rng.sample(_BRAND, 2))
            industry = rng.choice(_INDUSTRY)
            if self._unique(city, core, industry):
                break
        prefix = f"{city}市" if rng.random() < 0.7 else ""  # noqa: PLR2004
        parts = (prefix, core, industry, rng.choice(_SUFFIX), city)
        return _Original(
            kind=CustomerKind.COMPANY,
            name="".join(parts[:4]),
            contact=self._chinese_person(),
            phone=self.phone() if rng.random() < 0.9 else None,  # noqa: PLR2004
            email=self.email("info") if rng.random() < 0.7 else None,  # noqa: PLR2004
            address=address if rng.random() < 0.8 else None,  # noqa: PLR2004
            birthday=None,
            parts=parts,
        )

    def _latin_company(self) -> _Original:
        rng = self.rng
        address, _ = self.address(chinese=False)
        while True:
            core = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_TRADES)}"
            if self._unique(core):
                break
        suffix = rng.choice(_LATIN_SUFFIX)
        return _Original(
            kind=CustomerKind.COMPANY,
            name=f"{core} {suffix}",
            contact=self._latin_person(),
            phone=self.phone() if rng.random() < 0.9 else None,  # noqa: PLR2004
            email=self.email("sales") if rng.random() < 0.7 else None,  # noqa: PLR2004
            address=address if rng.random() < 0.8 else None,  # noqa: PLR2004
            birthday=None,
            parts=(core, suffix),
        )

    def _unique(self, *name: str) -> bool:
        """Whether no company registered so far has this `name`; it is taken if not."""
        if name in self.company_names:
            return False
        self.company_names.add(name)
        return True

    def _person(self, name: str, *, chinese: bool) -> _Original:
        rng = self.rng
        address, _ = self.address(chinese=chinese)
        local = "user" if chinese else name.split(maxsplit=1)[0].lower()
        return _Original(
            kind=CustomerKind.PERSON,
            name=name,
            contact=name,
            phone=self.phone() if rng.random() < 0.9 else None,  # noqa: PLR2004
            email=self.email(local) if rng.random() < 0.6 else None,  # noqa: PLR2004
            address=address if rng.random() < 0.7 else None,  # noqa: PLR2004
            birthday=(
                _START + dt.timedelta(days=rng.randrange(20_000))
                if rng.random() < 0.8  # noqa: PLR2004
                else None
            ),
        )


# --- how a copy differs --------------------------------------------------------------------------


def _typo(rng: random.Random, name: str, alphabet: str) -> str:
    """`name` with one insertion, deletion, transposition or substitution."""
    if len(name) < 2:  # noqa: PLR2004
        return name + rng.choice(alphabet)
    at = rng.randrange(len(name) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return name[:at] + rng.choice(alphabet) + name[at:]
    if kind == 1:
        return name[:at] + name[at + 1 :]
    if kind == 2:  # noqa: PLR2004
        return name[:at] + name[at + 1] + name[at] + name[at + 2 :]
    return name[:at] + rng.choice(alphabet) + name[at + 1 :]


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _chinese_company_name(rng: random.Random, parts: tuple[str, ...]) -> str:
    prefix, core, industry, suffix, city = parts
    changes = rng.sample(("suffix", "region", "bracket", "typo", "wide"), rng.randint(1, 2))
    if "suffix" in changes:
        suffix = rng.choice([s for s in _SUFFIX if s != suffix])
    if "region" in changes:
        prefix = "" if prefix else rng.choice((f"{city}市", city))
    body = core + industry
    if "typo" in changes:
        body = _typo(rng, body, _BRAND)
    if "bracket" in changes:
        prefix, suffix = "", f"{rng.choice(('（', '('))}{city}{rng.choice(('）', ')'))}{suffix}"
    name = prefix + body + suffix
    return _full_width(name) if "wide" in changes else name


def _latin_name(rng: random.Random, name: str, parts: tuple[str, ...]) -> str:
    if parts:  # a company: another legal form, the case or a typo
        core, suffix = parts
        change = rng.randrange(3)
        if change == 0:
            return f"{core} {rng.choice([s for s in _LATIN_SUFFIX if s != suffix])}"
        if change == 1:
            return f"{core.upper()} {suffix.replace('.', '').replace(',', '')}"
        return f"{_typo(rng, core, 'abcdefghijklmnopqrstuvwxyz')} {suffix}"
    first, last = name.split(" ", 1)
    change = rng.randrange(4)
    if change == 0:
        return f"{last} {first}"
    if change == 1:
        return f"{last.upper()}, {first}"
    return _typo(rng, name, "abcdefghijklmnopqrstuvwxyz")


def _copy_name(rng: random.Random, o: _Original) -> str:
    if o.kind is CustomerKind.COMPANY and len(o.parts) == 5:  # noqa: PLR2004
        return _chinese_company_name(rng, o.parts)
    if o.name.isascii() or o.parts:
        return _latin_name(rng, o.name, o.parts)
    change = rng.randrange(3)  # a Chinese person
    if change == 0:
        return f"{o.name[0]} {o.name[1:]}"
    if change == 1:
        return o.name + rng.choice(("先生", "女士"))
    return _typo(rng, o.name, _GIVEN)


def _copy(rng: random.Random, o: _Original) -> _Original:
    email = o.email
    if email is not None and rng.random() < 0.3:  # noqa: PLR2004
        local, _, host = email.partition("@")
        email = f"{local.capitalize()}@{host}"
    return attrs.evolve(
        o,
        name=_copy_name(rng, o),
        phone=o.phone if rng.random() >= 0.3 else None,  # noqa: PLR2004
        email=email if rng.random() >= 0.3 else None,  # noqa: PLR2004
        address=o.address if rng.random() >= 0.3 else None,  # noqa: PLR2004
        birthday=o.birthday if rng.random() >= 0.2 else None,  # noqa: PLR2004
    )


def _customer(o: _Original, serial: int, rng: random.Random) -> Customer:
    contact = Contact(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        name=o.contact,
        phones=(PhoneNumber(o.phone),) if o.phone else (),
        emails=(EmailAddress(o.email),) if o.email else (),
    )
    return Customer(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        name=o.name,
        owner_id="sales-00",
        kind=o.kind,
        code=f"C-{serial:07d}",
        address=o.address,
        birthday=o.birthday,
        contacts=[contact],
    )


def generate_duplicates(
    size: int,
    *,
    seed: int = 0,
    duplicate_share: float = 0.15,
) -> GeneratedCustomers:
    """`size` customers, about `duplicate_share` of the originals copied once or twice.

    The same `seed` gives the same customers (ids included) and the same truth.

    Args:
        size: how many customers in all, copies included.
        seed: the seed of the random choices.
        duplicate_share: the share of originals that get copies (a fifth of them two).
    """
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    maker = _Maker(rng)
    made: list[tuple[_Original, int]] = []  # with the number of its original
    originals = 0
    while len(made) < size:
        original = maker.original()
        made.append((original, originals))
        if rng.random() < duplicate_share:
            for _ in range(2 if rng.random() < 0.2 else 1):  # noqa: PLR2004
                if len(made) < size:
                    made.append((_copy(rng, original), originals))
        originals += 1
    rng.shuffle(made)
    customers = []
    for serial, (o, _) in enumerate(made):
        customers.append(_customer(o, serial, rng))
    groups: dict[int, list[UUID]] = {}
    for customer, (_, number) in zip(customers, made, strict=True):
        groups.setdefault(number, []).append(customer.id)
    true = {
        (a, b) if a < b else (b, a)
        for ids in groups.values()
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
    }
    return GeneratedCustomers(customers=customers, true_pairs=frozenset(true))
