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
from crmkit.errors import ValidationError

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
