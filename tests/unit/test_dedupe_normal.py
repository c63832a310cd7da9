"""The duplicate finder's normalisation: what people type differently becomes one key."""

# ruff: noqa: RUF001 (full-width letters and brackets are what is tested)

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit.customers import COMPANY_SUFFIXES, REGIONS, company_key, email_key, person_key
from crmkit.customers._dedupe_normal import company_parts, place


@pytest.mark.parametrize(
    "written",
    [
        "深圳市云杉科技有限公司",
        "云杉科技有限责任公司",
        "云杉科技股份有限公司",
        "广东省深圳市云杉科技有限公司",
        "深圳云杉科技有限公司",
        "云杉科技（深圳）有限公司",
        "云杉科技(深圳市)有限公司",
        "云杉科技【深圳】集团有限公司",
        "云杉 科技 有限公司",
        "云杉科技",
    ],
)
def test_chinese_company_names_lose_legal_form_region_and_brackets(written: str) -> None:
    assert company_key(written) == "云杉科技"


@pytest.mark.parametrize(
    "written",
    [
        "Acme Trading Co., Ltd.",
        "ACME TRADING CO LTD",
        "Acme Trading Limited",
        "Acme Trading Inc.",
        "Acme-Trading GmbH",
        "Acme Trading LLC",
        "Acme Trading AG",
        "Acme Trading S.A.",
        "ＡＣＭＥ　Ｔｒａｄｉｎｇ　Ｃｏ．，Ｌｔｄ．",
        "  acme   trading  ",
    ],
)
def test_latin_company_names_lose_legal_form_case_punctuation_and_width(written: str) -> None:
    assert company_key(written) == "acme trading"


def test_full_width_letters_and_digits_in_a_chinese_name_become_half_width() -> None:
    assert (
        company_key("深圳市ＡＢＣ３Ｄ科技有限公司")
        == company_key("ABC3D科技有限公司")
        == "abc3d科技"
    )


def test_a_key_is_never_emptied() -> None:
    assert company_key("上海有限公司") == "上海"  # the region stays when nothing else would
    assert company_key("Ltd.") == "ltd"
    assert company_key("上海银行股份有限公司") == "银行"  # documented: regions go, even here


def test_suffixes_and_regions_are_extendable() -> None:
    assert company_key("Acme Trading Pvt") == "acme trading pvt"
    assert company_key("Acme Trading Pvt", suffixes=(*COMPANY_SUFFIXES, "pvt")) == "acme trading"
    assert company_key("昆山云杉科技有限公司") == "昆山云杉科技"
    assert company_key("昆山市云杉科技有限公司", regions=(*REGIONS, "昆山")) == "云杉科技"


def test_the_places_a_company_name_names_are_found() -> None:
    assert company_parts("云杉科技（深圳）有限公司", COMPANY_SUFFIXES, REGIONS) == (
        "云杉科技",
        frozenset({"深圳"}),
    )
    assert company_parts("Acme Ltd", COMPANY_SUFFIXES, REGIONS) == ("acme", frozenset())
    assert place("新疆维吾尔自治区") == "新疆"
    assert place("深圳市") == "深圳"
    assert place("  Hamburg ") == "hamburg"


@pytest.mark.parametrize(
    "written",
    ["Wang Wei", "Wei Wang", "WANG, Wei", "wang-wei", "Mr. Wang Wei", "ＷＡＮＧ　Ｗｅｉ"],
)
def test_person_names_compare_by_their_sorted_words(written: str) -> None:
    assert person_key(written) == "wang wei"


def test_chinese_person_names_keep_their_order_and_lose_spaces_and_titles() -> None:
    assert person_key("王 伟") == person_key("王伟先生") == person_key("王伟") == "王伟"
    assert person_key("伟王") != person_key("王伟")  # family name first: no swapping
    assert person_key("王总") == "王总"  # too short to lose a title


def test_email_keys_are_lower_case_and_fold_aliases_only_when_asked() -> None:
    assert email_key("Li.Wei+crm@GMAIL.com") == "li.wei+crm@gmail.com"
    assert email_key("Li.Wei+crm@GMAIL.com", aliases=True) == "liwei@gmail.com"
    assert email_key("l.i.wei@googlemail.com", aliases=True) == "liwei@gmail.com"
    assert email_key("li.wei+x@outlook.com", aliases=True) == "li.wei@outlook.com"
    assert email_key("li.wei+x@example.cn", aliases=True) == "li.wei+x@example.cn"


@given(st.text(max_size=40))
def test_normalising_any_text_gives_a_key_without_case_or_surrounding_space(text: str) -> None:
    for key in (company_key, person_key):
        found = key(text)
        assert found == found.strip()
        assert found.casefold() == found


@given(st.text(alphabet="abc XYZ.,-", max_size=30))
def test_case_and_punctuation_never_change_a_person_key(text: str) -> None:
    assert person_key(text.upper()) == person_key(text.lower().replace(",", " "))
