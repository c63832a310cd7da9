"""First contact: what a new user meets in the first ten minutes, tried as they would try it.

Wrong URLs, a missing driver, a missing folder, a refused open, the README's quickstart run
twice, the recipes run as scripts, the test suite's own output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import crmkit
from crmkit import Money
from crmkit.customers import Contact
from crmkit.errors import SchemaVersionError, ValidationError

ROOT = Path(__file__).parents[1]
SRC = Path(crmkit.__file__).parents[1]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run Python as a user would, with this checkout's crmkit first on the path."""
    environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refused(url: object, **options: object) -> str:
    with pytest.raises(ValidationError) as caught:
        crmkit.open(url, **options)  # type: ignore[arg-type]
    return str(caught.value)


# --- crmkit.open says what to do --------------------------------------------------------------


def test_postgres_scheme_suggests_the_url_to_write() -> None:
    message = refused("postgres://li:secret@db.example.cn/crm")
    assert "'postgresql+psycopg://li:***@db.example.cn/crm'" in message
    assert "secret" not in message


def test_mysql_without_a_driver_suggests_pymysql_and_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # not installed
    message = refused("mysql://root@db.example.cn/crm")
    assert "'mysql+pymysql://root@db.example.cn/crm'" in message
    assert "pip install 'crmkit[mysql]'" in message


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql+psycopg://li@db.example.cn/crm", "psycopg", "postgres"),
        ("mysql+pymysql://li@db.example.cn/crm", "pymysql", "mysql"),
    ],
)
def test_a_missing_driver_names_the_extra(
    url: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # not installed
    assert f"pip install 'crmkit[{extra}]'" in refused(url)


def test_a_bare_path_shows_the_sqlite_url_and_the_accepted_forms() -> None:
    message = refused("crm.db")
    assert "'sqlite:///crm.db'" in message
    assert "'memory://'" in message
    assert "postgresql+psycopg://" in message


@pytest.mark.parametrize("word", ["memory", ":memory:"])
def test_memory_without_the_scheme_shows_memory_url(word: str) -> None:
    assert "'memory://'" in refused(word)


def test_a_path_object_shows_the_sqlite_url(tmp_path: Path) -> None:
    assert f"'sqlite:///{tmp_path / 'crm.db'}'" in refused(tmp_path / "crm.db")


def test_a_missing_sqlite_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    message = refused(f"sqlite:///{folder / 'crm.db'}", create=True)
    assert f"the folder {str(folder)!r}" in message
    assert "does not exist" in message
    assert not folder.exists()


def test_a_refused_open_leaves_no_sqlite_file_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with pytest.raises(SchemaVersionError, match=r"create=True"):
        crmkit.open(url)
    assert list(tmp_path.iterdir()) == []
    with crmkit.open(url, create=True):  # the hint works
        pass
    assert (tmp_path / "crm.db").exists()


# --- values a new user writes -----------------------------------------------------------------


def test_a_phone_number_as_text_says_to_parse_it() -> None:
    with pytest.raises(ValidationError) as caught:
        Contact(name="李明", phones=["139 1234 5678"])
    assert str(caught.value) == (
        "phones[0]: must be a PhoneNumber, not a str: use "
        "PhoneNumber.parse('139 1234 5678', region='CN') "
        "(region: the country of numbers written without a country code)"
    )
    with pytest.raises(ValidationError, match=r"PhoneNumber\.parse\('\+1 650 253 0000'\)$"):
        Contact(name="Li", phones=["+1 650 253 0000"])


@pytest.mark.parametrize(("written", "code"), [("RMB", "CNY"), ("cny", "CNY"), ("usd ", "USD")])
def test_a_currency_name_or_lower_case_code_suggests_the_iso_code(written: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Money(1, written)
    assert str(caught.value).endswith(f"is not an ISO 4217 currency code; write {code!r}")
    with pytest.raises(ValidationError) as unknown:
        Money(1, "XYZ")
    assert str(unknown.value) == "currency: 'XYZ' is not an ISO 4217 currency code"
