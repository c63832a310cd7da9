"""How the duplicate finder normalises names and email addresses before it compares them.

Every key is built from the text as written in four steps, so that what a person types in
different ways compares equal:

1. Unicode NFKC: full-width letters, digits and brackets become their ordinary forms
   (``"ＡＢＣ（深圳）"`` -> ``"ABC(深圳)"``);
2. case folding (``"ACME"`` and ``"acme"``, ``"Straße"`` and ``"strasse"``);
3. punctuation becomes a space, runs of whitespace become one space, and the spaces between
   Chinese (CJK) characters go;
4. what does not tell two companies or people apart goes: legal-form suffixes (`COMPANY_SUFFIXES`:
   ``"有限公司"``, ``"Co., Ltd."``, ``"GmbH"``, ...), Chinese region prefixes and bracketed
   regions (`REGIONS`: ``"深圳市"``, ``"广东省"``, ``"（深圳）"``), titles of persons
   (``"Mr"``, ``"先生"``); a person's name is compared as its sorted words, so
   ``"Wang Wei"`` and ``"Wei Wang"`` are one key.

A company whose name is nothing but a region and a suffix (``"上海有限公司"``) keeps the region:
a key is never emptied by normalising.
"""

# Full-width letters and brackets are what this module is about:
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "ALIAS_PROVIDERS",
    "COMPANY_SUFFIXES",
    "REGIONS",
    "company_key",
    "email_key",
    "person_key",
]

COMPANY_SUFFIXES: tuple[str, ...] = (
    # Chinese legal forms, longest first where one ends another.
    "集团股份有限公司",
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "责任公司",
    "总公司",
    "集团",
    "公司",
    # Latin legal forms, as words once dots are dropped ("Co., Ltd." -> "co ltd").
    "co",
    "company",
    "corp",
    "corporation",
    "inc",
    "incorporated",
    "ltd",
    "limited",
    "llc",
    "llp",
    "lp",
    "plc",
    "gmbh",
    "mbh",
    "kg",
    "ag",
    "ug",
    "sa",
    "sarl",
    "sas",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "ab",
    "pty",
    "pte",
    "kk",
)
"""Legal-form suffixes dropped from the end of company names (repeatedly: ``"Co., Ltd."``).

Chinese ones are matched as text at the end of the name, Latin ones as whole words after dots
are dropped (``"S.A."`` is ``"sa"``). Extend the list for a host's market with
``DuplicateRules(suffixes=(...))``.
"""

REGIONS: tuple[str, ...] = (
    # Provinces, autonomous regions, municipalities and special administrative regions.
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门",
    # Major cities.
    "深圳", "广州", "东莞", "佛山", "珠海", "中山", "惠州", "汕头", "杭州", "宁波", "温州",
    "绍兴", "嘉兴", "金华", "台州", "苏州", "南京", "无锡", "常州", "南通", "扬州", "徐州",
    "武汉", "成都", "西安", "长沙", "郑州", "青岛", "济南", "烟台", "潍坊", "厦门", "福州",
    "泉州", "合肥", "大连", "沈阳", "哈尔滨", "长春", "昆明", "南宁", "贵阳", "南昌",
    "石家庄", "太原", "兰州", "乌鲁木齐", "呼和浩特", "海口", "三亚", "中国",
)  # fmt: skip
"""Chinese regions (provinces, municipalities, major cities, and 中国) dropped from the start of
company names and from brackets anywhere in them (``"深圳市"``, ``"广东省深圳市"``,
``"（深圳）"``). Each may be followed by its administrative word (市, 省, 自治区, ...). Extend
with ``DuplicateRules(regions=(...))``.
"""

ALIAS_PROVIDERS: dict[str, tuple[str, bool]] = {
    "gmail.com": ("gmail.com", True),
    "googlemail.com": ("gmail.com", True),
    "outlook.com": ("outlook.com", False),
    "hotmail.com": ("hotmail.com", False),
    "live.com": ("live.com", False),
    "icloud.com": ("icloud.com", False),
    "me.com": ("icloud.com", False),
    "fastmail.com": ("fastmail.com", False),
    "proton.me": ("proton.me", False),
    "protonmail.com": ("proton.me", False),
    "yahoo.com": ("yahoo.com", False),
}
"""Mail hosts whose aliases `email_key` folds when asked to: the host's canonical domain, and
whether dots in the local part are ignored (Gmail's are). Each ignores a ``+tag``."""

_ADMIN = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam"})
_CHINESE_TITLES = ("先生", "女士", "小姐", "老师", "总", "经理")
_CJK = "\u2e80-\u2fff\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}\U00020000-\U0003134f]")
_SPACE_BETWEEN_CJK = re.compile(
    f"(?<=[{_CJK}\U00020000-\U0003134f]) (?=[{_CJK}\U00020000-\U0003134f])"
)
_BRACKETED = re.compile(r"[(\[{【〔]([^()\[\]{}【】〔〕]*)[)\]}】〕]")
# Everything that is not a letter, a digit, a mark or a CJK character is punctuation here.
_NOT_WORD = re.compile(r"[^\w]|_")
_DOTS = re.compile(r"(?<=\w)[.·](?=\w|\s|$)")
_CHINESE_MIN_CORE = 2  # a key keeps at least this many characters when a region is dropped


def plain(text: str) -> str:
    """NFKC, case folded, punctuation as spaces, one space between words, none between CJK."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = " ".join(_NOT_WORD.sub(" ", _DOTS.sub("", folded)).split())
    return _SPACE_BETWEEN_CJK.sub("", words)


@functools.lru_cache(maxsize=32)
def _company_rules(
    suffixes: tuple[str, ...], regions: tuple[str, ...]
) -> tuple[tuple[str, ...], frozenset[str], re.Pattern[str], frozenset[str]]:
    """Chinese suffixes (longest first), Latin suffix words, the region prefix and region names."""
    written = [plain(s) for s in suffixes]
    chinese = tuple(sorted({s for s in written if _CJK_CHAR.search(s)}, key=len, reverse=True))
    latin = frozenset(w for s in written if not _CJK_CHAR.search(s) for w in s.split())
    names = sorted({plain(r) for r in regions if r.strip()}, key=len, reverse=True)
    admin = "|".join(_ADMIN)
    alternatives = "|".join(map(re.escape, names))
    prefix = re.compile(f"^({alternatives})(?:{admin})?" if names else "^$^")
    everyone = frozenset(names) | frozenset(n + a for n in names for a in _ADMIN)
    return chinese, latin, prefix, everyone


def company_key(
    name: str,
    *,
    suffixes: Iterable[str] = COMPANY_SUFFIXES,
    regions: Iterable[str] = REGIONS,
) -> str:
    """The key a company's name is compared by: normalised, without legal form and region.

    Args:
        name: the name as written.
        suffixes: legal-form suffixes to drop from the end (see `COMPANY_SUFFIXES`).
        regions: Chinese regions to drop from the start and from brackets (see `REGIONS`).

    Examples:
        >>> company_key("深圳市云杉科技有限公司")
        '云杉科技'
        >>> company_key("云杉科技（深圳）有限责任公司")
        '云杉科技'
        >>> company_key("ＡＣＭＥ Trading Co., Ltd.")
        'acme trading'
        >>> company_key("Müller Maschinenbau GmbH & Co. KG")
        'müller maschinenbau'
    """
    return company_parts(name, tuple(suffixes), tuple(regions))[0]


def company_parts(
    name: str, suffixes: tuple[str, ...], regions: tuple[str, ...]
) -> tuple[str, frozenset[str]]:
    """The `company_key` of `name`, and the regions its name names (without 市, 省, ...).

    Examples:
        >>> key, places = company_parts("广东省深圳市云杉科技有限公司", COMPANY_SUFFIXES, REGIONS)
        >>> key, sorted(places)
        ('云杉科技', ['广东', '深圳'])
    """
    chinese, latin, prefix, region_names = _company_rules(suffixes, regions)
    folded = unicodedata.normalize("NFKC", name).casefold()
    named: set[str] = set()

    def bracket(match: re.Match[str]) -> str:
        inside = plain(match.group(1))
        if inside in region_names:
            named.add(place(inside))
            return " "
        dropped = not inside or inside in chinese or inside in latin
        return " " if dropped else f" {match.group(1)} "

    key = plain(_BRACKETED.sub(bracket, folded))
    full = key
    for _ in range(3):  # "集团有限公司" after "股份": a few rounds, never a loop without end
        before = key
        for suffix in chinese:
            if key.endswith(suffix) and len(key) > len(suffix):
                key = key[: -len(suffix)].rstrip()
        words = key.split(" ")
        while len(words) > 1 and words[-1] in latin:
            words.pop()
        key = " ".join(words)
        if key == before:
            break
    for _ in range(2):  # "广东省深圳市"
        found = prefix.match(key)
        if found and len(key) - found.end() >= _CHINESE_MIN_CORE:
            named.add(found.group(1))
            key = key[found.end() :].lstrip()
    return key or full, frozenset(named)


@functools.lru_cache(maxsize=4096)
def place(name: str) -> str:
    """A city's or region's name normalised, without its administrative word (市, 省, ...).

    Examples:
        >>> place("深圳市"), place("Hamburg"), place("新疆维吾尔自治区")
        ('深圳', 'hamburg', '新疆')
    """
    written = plain(name)
    for word in _ADMIN:
        if written.endswith(word) and len(written) - len(word) >= _CHINESE_MIN_CORE:
            return written[: -len(word)]
    return written


def person_key(name: str) -> str:
    """The key a person's name is compared by: normalised, without titles, words sorted.

    Sorting the words makes swapped given and family names one key (``"Wang Wei"``,
    ``"WEI, Wang"``). A Chinese name written in characters is one word (``"王 伟"`` is
    ``"王伟"``), and keeps its order: family name first is how it is always written.

    Examples:
        >>> person_key("Wang Wei"), person_key("WEI, Wang"), person_key("Dr. Wei Wang")
        ('wang wei', 'wang wei', 'wang wei')
        >>> person_key("王 伟先生")
        '王伟'
    """
    key = plain(name)
    words = [w for w in key.split(" ") if w not in _TITLES]
    if len(words) == 1 and _CJK_CHAR.search(words[0]):
        word = words[0]
        for title in _CHINESE_TITLES:
            if word.endswith(title) and len(word) - len(title) >= _CHINESE_MIN_CORE:
                word = word[: -len(title)]
                break
        return word
    return " ".join(sorted(words)) or key


def email_key(address: str, *, aliases: bool = False) -> str:
    """The key an email address is compared by: lower case and, if asked, without aliases.

    Lower case throughout: the standard lets the part before the ``@`` be case-sensitive, but
    no mail host in common use treats it so. With `aliases`, the hosts in `ALIAS_PROVIDERS`
    have their ``+tag`` dropped, and Gmail its dots: turn it on only where the host's users
    are known to use such aliases, since the same letters may belong to someone else elsewhere.

    Examples:
        >>> email_key("Li.Wei@Example.COM")
        'li.wei@example.com'
        >>> email_key("Li.Wei+crm@googlemail.com", aliases=True)
        'liwei@gmail.com'
    """
    local, _, host = unicodedata.normalize("NFKC", address).strip().lower().rpartition("@")
    if aliases and host in ALIAS_PROVIDERS:
        host, no_dots = ALIAS_PROVIDERS[host]
        local = local.split("+", 1)[0]
        if no_dots:
            local = local.replace(".", "")
    return f"{local}@{host}"
