"""First contact: what a new user meets in the first ten minutes, tried as they would try it.

Wrong URLs, a missing driver, a missing folder, a refused open, the README's quickstart run
twice, the recipes run as scripts, the test suite's own output.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

import crmkit
from crmkit import Money
from crmkit.customers import Contact, Customer
from crmkit.errors import DuplicateError, SchemaVersionError, ValidationError
from crmkit.testing import strategies as cs

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


# --- the README -------------------------------------------------------------------------------


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_install_section_lists_every_core_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    install = _section((ROOT / "README.md").read_text("utf-8"), "Install").lower()
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        assert name.lower() in install, name
    for extra in project["optional-dependencies"]:
        if extra not in ("dev", "docs"):
            assert f"crmkit[{extra}]" in install, extra


def test_no_extra_is_advertised_before_something_uses_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert "analytics" not in project["optional-dependencies"]
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "analytics" not in page.read_text("utf-8"), page.name


def test_crmkit_testing_without_hypothesis_names_the_extra(tmp_path: Path) -> None:
    blocked = "import sys; sys.modules['hypothesis'] = None; "
    done = run("-c", blocked + "from crmkit.testing import strategies", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: crmkit.testing needs hypothesis: pip install 'crmkit[testing]'"
    )


def test_the_readme_quickstart_run_twice_says_the_code_is_taken(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    code = re.search(r"```python\n(.*?)```", _section(readme, "Quickstart"), re.DOTALL)
    assert code is not None
    (tmp_path / "quickstart.py").write_text(code.group(1), "utf-8")
    first = run("quickstart.py", cwd=tmp_path)
    assert (first.returncode, first.stderr) == (0, "")
    second = run("quickstart.py", cwd=tmp_path)
    assert (second.returncode, second.stderr) == (0, "")
    taken = "a customer with code 'C-0001' already exists"
    assert second.stdout.splitlines() == [taken, *first.stdout.splitlines()]


def test_a_duplicate_on_sqlite_shows_no_sql_in_its_traceback(tmp_path: Path) -> None:
    crm = crmkit.open(f"sqlite:///{tmp_path / 'crm.db'}", create=True)
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(Customer(name="上海云杉科技", owner_id="li", code="C-0001"))
    with (
        pytest.raises(DuplicateError) as caught,
        crm.unit_of_work(actor="li") as uow,
    ):
        uow.customers.add(Customer(name="上海云杉科技", owner_id="li", code="C-0001"))
    crm.close()
    assert str(caught.value) == "a customer with code 'C-0001' already exists"
    assert caught.value.__cause__ is not None  # the driver's error, kept for debugging
    shown = "".join(traceback.format_exception(caught.value))
    assert "INSERT" not in shown
    assert "[SQL:" not in shown
    assert "[parameters:" not in shown


# --- the recipes, run as scripts --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(recipe: str, tmp_path: Path) -> Iterator[str]:
    """Run ``python examples/<recipe>.py`` as a user would, and give the URL it serves."""
    port = _free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PORT": str(port),
        "CRMKIT_URL": f"sqlite:///{tmp_path / 'app.db'}",
    }
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / f"{recipe}.py")],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    _, errors = server.communicate(timeout=5)
                    pytest.fail(f"{recipe} did not serve: {errors.decode()}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.communicate(timeout=10)


def post(url: str, body: dict[str, str]) -> int:
    data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (http://)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        status: int = response.status
        return status


NEW = {"code": "C-1", "name": "上海云杉科技", "owner": "li.na", "campaign": "expo"}


def test_the_fastapi_recipe_serves_when_run_and_answers_404_for_unknown_codes(
    tmp_path: Path,
) -> None:
    pytest.importorskip("uvicorn")
    with serving("fastapi_app", tmp_path) as base:
        assert post(f"{base}/customers", NEW) == 201
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{base}/customers/C-404", timeout=10)  # noqa: S310
        assert caught.value.code == 404
        assert b"customer with code C-404 not found" in caught.value.read()


def test_the_flask_recipe_serves_when_run(tmp_path: Path) -> None:
    with serving("flask_app", tmp_path) as base:
        assert post(f"{base}/customers", NEW) == 201


def test_the_session_recipe_runs_as_a_script(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples" / "session_script.py"), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "2 customers stored\n"
    assert (tmp_path / "crm_app.db").exists()


# --- the test suite itself --------------------------------------------------------------------


def test_skipped_tests_are_summarised_by_reason(tmp_path: Path) -> None:
    without_servers = dict.fromkeys(("CRMKIT_TEST_POSTGRES_URL", "CRMKIT_TEST_MYSQL_URL"), "")
    done = run(
        "-m",
        "pytest",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        str(ROOT / "tests" / "contract" / "test_services.py"),
        cwd=ROOT,
        env={**without_servers, "CI": ""},
    )
    assert done.returncode == 0, done.stdout
    assert "SKIPPED [" not in done.stdout  # not one line per skipped test
    summary = done.stdout.split("skipped, by reason", 1)[1].splitlines()[1:-1]
    assert [line for line in summary if line] == [
        "    4 CRMKIT_TEST_POSTGRES_URL is not set: the postgres contract tests need a server",
        "    4 CRMKIT_TEST_MYSQL_URL is not set: the mysql contract tests need a server",
    ]
    assert "8 passed, 8 skipped" in done.stdout.splitlines()[-1]


def test_drawing_a_customer_builds_no_strategies_per_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    # Strategies built inside a draw are built and validated again for every example: that
    # made drawing a customer slow enough to fail Hypothesis's too_slow health check under
    # pytest -n 4 on two cores.
    built = 0
    original = SearchStrategy.__init__

    def counting(self: SearchStrategy[object], *args: object, **kwargs: object) -> None:
        nonlocal built
        built += 1
        original(self, *args, **kwargs)

    @settings(
        max_examples=50, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(cs.customers())
    def draw(customer: Customer) -> None:
        assert isinstance(customer, Customer)

    draw()  # build what is built once
    monkeypatch.setattr(SearchStrategy, "__init__", counting)
    draw()
    # About 18 per customer are Hypothesis's own (integers drawn for sizes and the reporting
    # tree); rebuilding the field strategies per draw made it about 300.
    assert built < 50 * 60, f"{built} strategies built for 50 customers"
