"""Import and export files: cells, columns, the mapping, and every kind of refused row.

Rows go into the memory store (the contract suite runs imports over every store); each test
reads like a file a user might bring.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crmkit
from crmkit import FixedClock, PhoneNumber
from crmkit.customers import (
    ColumnMapping,
    CustomerRegistered,
    CustomerUpdated,
    CustomField,
    CustomFieldSchema,
    FieldType,
    ImportReport,
    RowError,
    Tier,
    export_customers,
    import_contacts,
    import_customers,
)
from crmkit.customers._files import (
    custom_value_in,
    custom_value_out,
    list_in,
    list_out,
    quiet_hours_in,
)
from crmkit.errors import ValidationError
from crmkit.testing import strategies as cs


def open_crm(**options: object) -> crmkit.CRM:
    return crmkit.open("memory://", clock=FixedClock("2026-03-02T09:30:00+08:00"), **options)  # type: ignore[arg-type]


def csv_file(*lines: str) -> io.StringIO:
    return io.StringIO("\n".join(lines) + "\n")


def load(crm: crmkit.CRM, text: str, **options: object) -> ImportReport:
    return import_customers(crm, io.StringIO(text), actor="li.na", **options)  # type: ignore[arg-type]


def errors(report: ImportReport) -> list[str]:
    return [str(e) for e in report.errors]


def stored(crm: crmkit.CRM) -> list[crmkit.customers.Customer]:
    with crm.unit_of_work(actor="t", read_only=True) as uow:
        return uow.customers.page(limit=1000)


# --- cells ---------------------------------------------------------------------------------------


@given(st.lists(cs.keys(max_size=12) | cs.texts(max_size=12), max_size=4))
def test_a_list_cell_reads_back_as_written(items: list[str]) -> None:
    assert list_in(list_out(items)) == items


def test_a_list_cell_is_split_on_bars_and_trimmed() -> None:
    assert list_in(" vip | north |") == ["vip", "north"]
    assert list_out(["a|b", "c"]) == '["a|b", "c"]'


@given(cs.custom_values())
def test_a_custom_value_cell_reads_back_as_the_same_value_of_the_same_type(value: object) -> None:
    back = custom_value_in(custom_value_out(value), from_text=True, declared=None)  # type: ignore[arg-type]
    assert type(back) is type(value)
    assert str(back) == str(value)


def test_custom_value_cells_are_json_when_plain_text_would_read_back_otherwise() -> None:
    assert custom_value_out("Acme") == "Acme"
    assert custom_value_out("42") == '"42"'
    assert custom_value_out(42) == "42"
    assert custom_value_out(Decimal("12.50")) == "12.50"
    assert custom_value_out(Decimal("42")) == '{"decimal": "42"}'
    assert custom_value_out(dt.date(2026, 1, 31)) == '{"date": "2026-01-31"}'
    assert custom_value_out("") == '""'
    assert custom_value_out(True) == "true"


def test_quiet_hours_are_a_span_of_two_times_of_day() -> None:
    assert quiet_hours_in("21:00-8:00") == (dt.time(21), dt.time(8))
    assert quiet_hours_in("") is None
    with pytest.raises(ValidationError, match="is not a span of hours"):
        quiet_hours_in("evenings")
    with pytest.raises(ValidationError, match="a time of day that is none"):
        quiet_hours_in("25:00-08:00")


# --- columns and mapping -------------------------------------------------------------------------


def test_a_mapping_names_crmkit_columns_ignores_some_and_fills_one_list_from_two() -> None:
    crm = open_crm()
    mapping = {"Company": "name", "Sales": "owner_id", "Remark": None, "Tel": "phones"}
    report = import_customers(
        crm,
        csv_file("Company,Sales,Remark,Label,Label 2", "Acme,li.na,call after 3pm,vip,north"),
        actor="li.na",
        mapping={**mapping, "Label": "tags", "Label 2": "tag"},
    )
    assert report == ImportReport(read=1, added=1)
    (acme,) = stored(crm)
    assert (acme.name, acme.owner_id) == ("Acme", "li.na")
    assert acme.tags == {"vip", "north"}


def test_phone_numbers_without_a_country_code_take_the_region() -> None:
    crm = open_crm()
    customers = "external_id,name,owner_id\nC1,Acme,li\n"
    assert load(crm, customers).ok
    contacts = csv_file("Customer,Name,Tel,Mobile", "C1,Wang Wei,0755 8888 1234,138 0013 8000")
    report = import_contacts(
        crm,
        contacts,
        actor="li",
        region="CN",
        mapping={
            "Customer": "customer_external_id",
            "Name": "name",
            "Tel": "phone",
            "Mobile": "phone",
        },
    )
    assert report.ok, report.errors
    (acme,) = stored(crm)
    assert acme.contacts[0].phones == (
        PhoneNumber("+8675588881234"),
        PhoneNumber("+8613800138000"),
    )


def test_an_unknown_column_refuses_the_file_as_row_1_unless_told_to_ignore_it() -> None:
    crm = open_crm()
    text = "name,owner_id,nmae\nAcme,li,x\n"
    report = load(crm, text)
    assert report.read == 0
    unknown = "is not a column of a customers file (map it, or ignore it with ignore_unknown)"
    assert errors(report) == [f"row 1, nmae: {unknown}"]
    assert stored(crm) == []
    assert load(crm, text, mapping=ColumnMapping(ignore_unknown=True)).added == 1


def test_a_column_mapped_to_no_crmkit_column_is_refused_saying_so() -> None:
    report = load(open_crm(), "Firma,owner_id\nAcme,li\n", mapping={"Firma": "company"})
    assert errors(report) == [
        "row 1, Firma: is mapped to 'company', which is not a column of a customers file"
    ]


def test_a_column_given_twice_is_refused() -> None:
    report = load(open_crm(), "name,owner_id,Name\nAcme,li,Acme\n", mapping={"Name": "name"})
    assert errors(report) == ["row 1, Name: is a second column for name"]


def test_a_byte_order_mark_before_the_header_is_no_part_of_it(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "customers.csv"
    path.write_bytes("name,owner_id\nAcme,li\n".encode("utf-8-sig"))
    crm = open_crm()
    assert import_customers(crm, path, actor="li") == ImportReport(read=1, added=1)
    lines = path.with_suffix(".jsonl")
    lines.write_bytes(b'\xef\xbb\xbf{"name": "Bolt", "owner_id": "li"}\n')
    assert import_customers(crm, lines, actor="li") == ImportReport(read=1, added=1)


def test_json_lines_nest_the_address_and_custom_fields_and_count_lines() -> None:
    crm = open_crm()
    text = (
        '{"external_id": "C1", "name": "Acme", "owner_id": "li", "tags": ["vip"], '
        '"address": {"city": "深圳市", "country": "CN"}, "custom": {"budget": 12.50}}\n'
        "\n"
        "not json\n"
        "[1, 2]\n"
    )
    report = load(crm, text, format="jsonl")
    assert (report.read, report.added, report.failed) == (3, 1, 2)
    assert [(e.row, e.field) for e in report.errors] == [(3, ""), (4, "")]
    assert "is not JSON" in report.errors[0].message
    assert report.errors[1].message == "must be a JSON object, not list"
    (acme,) = stored(crm)
    assert acme.address is not None
    assert (acme.address.city, acme.address.country) == ("深圳市", "CN")
    assert acme.custom_fields == {"budget": Decimal("12.50")}
    cleared = '{"external_id": "C1", "address": null, "anniversaries": null, "custom": {"b": ""}}'
    assert load(crm, cleared, format="jsonl") == ImportReport(read=1, updated=1)
    (acme,) = stored(crm)
    assert (acme.address, acme.anniversaries) == (None, ())
    assert acme.custom_fields == {"budget": Decimal("12.50"), "b": ""}


# --- refused rows: every kind of problem, named by row and column --------------------------------


@pytest.mark.parametrize(
    ("header", "cells", "column", "message"),
    [
        ("name,owner_id", ",li", "name", "is required"),
        ("name,owner_id,kind", "Acme,li,shop", "kind", "'shop' is not one of 'company', 'person'"),
        ("name,owner_id,birthday", "Acme,li,31/01/2026", "birthday", "is not an ISO 8601 date"),
        ("name,owner_id", f"{'x' * 201},li", "name", "is 201 characters long; at most 200"),
        ("name,owner_id,country", "Acme,li,China", "country", "is not an ISO 3166-1 alpha-2"),
        ("name,owner_id,timezone", "Acme,li,Mars/Base", "timezone", "is not an IANA time zone"),
        ("name,owner_id,anniversaries", "Acme,li,[{", "anniversaries", "is not JSON"),
        ("name,owner_id,id", "Acme,li,nope", "id", "'nope' is not a UUID"),
    ],
)
def test_a_bad_cell_refuses_its_row_naming_the_column(
    header: str, cells: str, column: str, message: str
) -> None:
    crm = open_crm()
    report = load(crm, f"{header}\nGood,li{',' * header.count(',', 13)}\n{cells}\n")
    assert report.added == 1
    assert report.failed == 1
    (error,) = report.errors
    assert (error.row, error.field) == (3, column)
    assert message in error.message


def test_bad_phones_and_emails_are_refused_with_their_position_in_the_list() -> None:
    crm = open_crm()
    load(crm, "external_id,name,owner_id\nC1,Acme,li\n")
    report = import_contacts(
        crm,
        csv_file(
            "customer_external_id,name,phones,emails",
            "C1,Wang,+86 138 0013 8000|12345,wang@example.cn",
            "C1,Li,,li@example.cn|li at example",
        ),
        actor="li",
    )
    assert errors(report) == [
        "row 2, phones: [1]: not a valid phone number (no default region; start with +)",
        "row 3, emails: [1]: not a valid email address (An email address must have an @-sign.)",
    ]
    assert stored(crm)[0].contacts == []


def test_custom_values_follow_the_declared_type_and_a_float_never_becomes_money() -> None:
    schema = CustomFieldSchema(
        [
            CustomField(name="budget", type=FieldType.DECIMAL),
            CustomField(name="seats", type=FieldType.INTEGER),
            CustomField(name="since", type=FieldType.DATE),
            CustomField(name="segment", type=FieldType.TEXT),
        ]
    )
    crm = open_crm(custom_fields=schema)
    header = "name,owner_id,custom.budget,custom.seats,custom.since,custom.segment"
    report = load(crm, f"{header}\nAcme,li,12.50,3,2026-01-31,42\nBolt,li,1.5e3,2.5,,\n")
    assert errors(report) == ["row 3, custom.seats: must be a integer value, not Decimal"]
    (acme,) = stored(crm)
    assert acme.custom_fields == {
        "budget": Decimal("12.50"),
        "seats": 3,
        "since": dt.date(2026, 1, 31),
        "segment": "42",
    }
    undeclared = load(crm, "name,owner_id,custom.other\nCid,li,x\n")
    assert errors(undeclared) == ["row 2, custom.other: is not a declared custom field"]


def test_a_code_taken_fails_only_its_row_and_the_rest_of_the_batch_lands() -> None:
    crm = open_crm()
    load(crm, "name,owner_id,code\nAcme,li,C-1\n")
    report = load(crm, "name,owner_id,code\nBolt,li,C-2\nCopy,li,C-1\nDart,li,C-3\n")
    assert (report.added, report.failed) == (2, 1)
    assert errors(report) == ["row 3, code: a customer with code 'C-1' already exists"]
    assert sorted(c.name for c in stored(crm)) == ["Acme", "Bolt", "Dart"]


def test_a_row_with_the_wrong_number_of_cells_is_refused() -> None:
    report = load(open_crm(), "name,owner_id\nAcme,li,extra\nBolt,li\n")
    assert errors(report) == ["row 2: has 3 cells; the header has 2"]
    assert report.added == 1


def test_a_contact_of_an_unknown_customer_is_refused() -> None:
    crm = open_crm()
    report = import_contacts(crm, csv_file("customer_external_id,name", "C9,Wang"), actor="li")
    assert errors(report) == ["row 2, customer_external_id: no customer has the external id 'C9'"]
    report = import_contacts(crm, csv_file("name", "Wang"), actor="li")
    assert errors(report) == [
        "row 2, customer_external_id: is required (or customer_id): whose contact is it?"
    ]


def test_errors_name_the_column_as_the_file_does() -> None:
    report = load(open_crm(), "Company,owner_id\n,li\n", mapping={"Company": "name"})
    assert report.errors == (RowError(2, "Company", "is required"),)


def test_the_report_keeps_at_most_max_errors_but_counts_every_failed_row() -> None:
    text = "name,owner_id\n" + ",li\n" * 5
    report = load(open_crm(), text, max_errors=2)
    assert (report.failed, len(report.errors)) == (5, 2)


# --- updates, duplicates in a file, events and progress ------------------------------------------


def test_a_later_row_with_the_same_external_id_updates_what_the_earlier_wrote() -> None:
    crm = open_crm()
    report = load(crm, "external_id,name,owner_id,tier\nC1,Acme,li,A\nC1,Acme Ltd,li,\n")
    assert (report.added, report.updated) == (1, 1)
    (acme,) = stored(crm)
    assert (acme.name, acme.tier) == ("Acme Ltd", None)


def test_columns_a_file_lacks_stay_as_they_are_and_empty_cells_empty_optional_fields() -> None:
    crm = open_crm()
    load(crm, "external_id,name,owner_id,source,tags,lifecycle\nC1,Acme,li,fair,vip,customer\n")
    report = load(crm, "external_id,source,lifecycle,name\nC1,,,Acme\n")
    assert report == ImportReport(read=1, updated=1)
    (acme,) = stored(crm)
    assert (acme.source, acme.lifecycle.value) == (None, "customer")
    assert acme.tags == {"vip"}
    assert load(crm, "external_id,source\nC1,\n") == ImportReport(read=1, unchanged=1)


def test_a_tier_code_takes_the_reference_service_level_unless_the_file_gives_one() -> None:
    crm = open_crm()
    load(crm, "name,owner_id,tier\nAcme,li,A\n")
    load(crm, "name,owner_id,tier,tier_service_level\nBolt,li,A,weekly call\n")
    tiers = {c.name: c.tier for c in stored(crm)}
    assert tiers == {
        "Acme": Tier(code="A", service_level="dedicated service"),
        "Bolt": Tier(code="A", service_level="weekly call"),
    }


def test_events_are_recorded_for_rows_written_and_progress_is_told_per_batch() -> None:
    crm = open_crm()
    seen: list[type] = []
    crm.subscribe(CustomerRegistered, lambda e: seen.append(type(e)))
    crm.subscribe(CustomerUpdated, lambda e: seen.append(type(e)))
    done: list[int] = []
    rows = "".join(f"C{i},Customer {i},li\n" for i in range(5))
    report = load(crm, "external_id,name,owner_id\n" + rows, batch_size=2, progress=done.append)
    assert report.added == 5
    assert done == [2, 4, 5]
    assert seen == [CustomerRegistered] * 5
    load(crm, "external_id,name\nC1,Renamed\nC2,Customer 2\n")
    assert seen[5:] == [CustomerUpdated]


def test_bad_arguments_are_refused_before_anything_is_read() -> None:
    crm = open_crm()
    bad: list[tuple[dict[str, object], str]] = [
        ({"batch_size": 0}, "batch_size"),
        ({"region": "XX"}, "region"),
        ({"format": "xlsx"}, "format"),
        ({"progress": 3}, "progress"),
        ({"mapping": {"a": 1}}, "columns['a']"),
    ]
    for options, field in bad:
        with pytest.raises(ValidationError) as refused:
            load(crm, "name,owner_id\nAcme,li\n", **options)
        assert refused.value.issues[0].path == field
    with pytest.raises(ValidationError, match="file: cannot open"):
        import_customers(crm, "/no/such/file.csv", actor="li")
    assert stored(crm) == []


def test_an_export_has_a_column_per_custom_field_and_json_lines_nest() -> None:
    crm = open_crm()
    load(crm, 'external_id,name,owner_id,custom.a,custom.b\nC1,Acme,li,1,x\nC2,Bolt,li,,"y|z"\n')
    out = io.StringIO()
    assert export_customers(crm, out) == 2
    header, *rows = out.getvalue().splitlines()
    assert header.endswith(",anniversaries,do_not_contact,custom.a,custom.b")
    assert [r.split(",")[-2:] for r in rows] == [["1", "x"], ["", "y|z"]]
    out = io.StringIO()
    export_customers(crm, out, format="jsonl")
    first = json.loads(out.getvalue().splitlines()[0])
    assert (first["custom"], first["address"]) == ({"a": 1, "b": "x"}, None)
