"""The demo command and its data generator."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pendulum
import pytest

import crmkit
from crmkit import PhoneNumber
from crmkit.__main__ import main
from crmkit.customers import BuyingRole, Customer
from crmkit.demo import generate_customers, generate_interactions


def test_the_generator_is_deterministic_for_a_seed() -> None:
    first, second = generate_customers(50, seed=3), generate_customers(50, seed=3)
    strip = [{k: v for k, v in crmkit.to_dict(c).items() if k != "id"} for c in first]
    again = [{k: v for k, v in crmkit.to_dict(c).items() if k != "id"} for c in second]
    for rows in (strip, again):
        for row in rows:
            for contact in row["contacts"]:
                contact.pop("id")
                contact.pop("reports_to")
    assert strip == again
    assert strip != [
        {k: v for k, v in crmkit.to_dict(c).items() if k != "id"}
        for c in generate_customers(50, seed=4)
    ]


def test_generated_customers_are_valid_with_unique_codes_and_real_mobile_numbers() -> None:
    customers = generate_customers(300, contacts_per_customer=3, seed=1)
    assert len({c.code for c in customers}) == 300
    numbers = [p.e164 for c in customers for person in c.contacts for p in person.phones]
    assert len(set(numbers)) == len(numbers)
    for c in customers[:60]:
        assert crmkit.from_dict(crmkit.to_dict(c), Customer, phone_region="CN") == c
        assert BuyingRole.DECISION_MAKER in c.contacts[0].roles
        assert all(p.reports_to == c.contacts[0].id for p in c.contacts[1:])
    for number in numbers[:200]:
        assert PhoneNumber.parse(number[3:], region="CN").e164 == number


def test_interactions_fall_in_the_half_year_before_now() -> None:
    now = pendulum.datetime(2026, 3, 2, 1, 30)
    customers = generate_customers(20)
    timeline = generate_interactions(customers, now=now, per_customer=4)
    assert len(timeline) == 80
    assert all(now.subtract(days=180) <= i.occurred_at <= now for i in timeline)
    assert {i.customer_id for i in timeline} == {c.id for c in customers}


def test_crmkit_demo_fills_an_sqlite_file_and_says_what_it_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    for _ in range(2):  # running it again replaces the file
        assert main(["demo", "--path", str(path), "--customers", "20"]) == 0
    out = capsys.readouterr().out
    for section in (
        "stored 20 customers, 40 contacts and 60 interactions",
        "20 CustomerRegistered",
        "Customers per salesperson",
        "Customer 360",
        "Incoming call from +86",
        "contacts[1].phones[0]: not a valid phone number for region CN",
        "ConcurrencyError",
        "Friday's reclaim moved 5 leads back to the pool",
        "run again: 0 moved (a reclaim is idempotent)",
        ": matches ",
        "blocked: ",
        "proposal: needs analysis recorded",
        "lost: ",
        "won: ",
        "Funnel of B2B sales (14 deals, values in CNY)",
        "Channels:",
        "The credit desk",
        ": block (limit_exceeded)",
        "approved by cfo.zhou",
        "CreditOverridden recorded",
        "kept as credit",
        "invoices are overdue (InvoiceOverdue recorded)",
        "Receivables ageing on",
        "customers: 3 rows read: 2 added, 0 updated, 0 unchanged, 1 failed",
        "refused row 4, birthday: '2026-02-30' is not an ISO 8601 date",
        "contacts: 1 rows read: 1 added",
        "The duplicate finder: 1 candidate pairs",
        "same E.164 phone +86",
        # The twin's name has full-width brackets round its city, as Chinese names do.
        "Dry run: merging '华创电子股份（成都）有限责任公司' into '成都华创电子股份有限公司'",  # noqa: RUF001
        "name: keep '成都华创电子股份有限公司', drop '华创电子股份（成都）有限责任公司' (survivor)",  # noqa: RUF001
        "merged: CustomersMerged recorded (1 records moved)",
        "Customer 360 after the merge: 成都华创电子股份有限公司 (C-000001)",
        "external id TS-001",
    ):
        assert section in out
    with sqlite3.connect(path) as db:
        # The 20 generated, and 12 new ones from the sales week's 14 conversions (two leads
        # were people two customers already had).
        # One more imported from the trade-show file (the other merged into its twin).
        assert db.execute("SELECT count(*) FROM crmkit_customers").fetchone() == (33,)
        # Each of the 40 generated contacts has a phone number and an email address, indexed;
        # each of the 12 converted ones a phone number.
        # And the imported contact's phone number.
        assert db.execute("SELECT count(*) FROM crmkit_contact_keys").fetchone() == (93,)
        assert db.execute("SELECT count(*) FROM crmkit_leads").fetchone() == (24,)
        assert db.execute("SELECT count(*) FROM crmkit_opportunities").fetchone() == (14,)


def test_crmkit_migrate_creates_then_finds_the_tables_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert main(["migrate", url]) == 0
    assert main(["migrate", url]) == 0
    out = capsys.readouterr().out
    assert "upgraded from nothing to revision" in out
    assert "up to date" in out
    crmkit.open(url).close()  # the schema check passes


def test_a_bad_url_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "nosuchdb://x"]) == 1
    assert "crmkit: url:" in capsys.readouterr().err


def test_an_unreachable_database_or_unknown_revision_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"]) == 1
    assert (
        "crmkit: reading crmkit's schema revision failed: unable to open" in capsys.readouterr().err
    )
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert main(["migrate", url, "--revision", "9001"]) == 1
    assert "crmkit: revision: Can't locate revision" in capsys.readouterr().err
