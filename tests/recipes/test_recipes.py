"""The "Embedding in your app" recipes, each run as a real app on SQLite, PostgreSQL and MariaDB.

On a server each test gets a database of its own, created for it and dropped afterwards: the
recipes use crmkit's default table names, as an app would.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import crmkit
from crmkit.customers import Customer, CustomerRegistered, register_customers
from crmkit.storage.sql import SqlStore

# Relative: under --import-mode=importlib the tests are not on sys.path as a package.
from ..contract.conftest import server_url  # noqa: TID252

EXAMPLES = Path(__file__).parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"crmkit_examples_{name}", EXAMPLES / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_NUMBERS = itertools.count()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database for one app."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    server = sa.make_url(server_url(request.param))
    name = f"crmkit_recipe_{os.getpid()}_{next(_NUMBERS)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    force = " WITH (FORCE)" if request.param == "postgres" else ""
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            # The apps' engines may still hold pooled connections to it.
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        engine.dispose()


def test_fastapi_request_transaction_carries_crmkit_and_the_apps_rows(url: str) -> None:
    app, crm = load("fastapi_app").create_app(url)
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    body = {"code": "C-1", "name": "上海云杉科技", "owner": "li.na", "campaign": "expo"}
    with TestClient(app) as client:
        created = client.post("/customers", json=body)
        assert created.status_code == 201, created.text
        assert client.get("/customers/C-1").json() == {"name": "上海云杉科技", "owner": "li.na"}
        missing = client.get("/customers/C-404")
        assert missing.status_code == 404, missing.text
        assert missing.json() == {"detail": "customer with code C-404 not found"}
        clash = client.post("/customers", json=body | {"campaign": "again"})
    assert clash.status_code >= 400
    assert [e.owner_id for e in published] == ["li.na"]
    app.state.engine.dispose()
    assert rows(url, "crmkit_customers") == 1
    assert rows(url, "app_signups") == 1  # the failed request left nothing behind


def test_flask_sqlalchemy_session_commits_crmkit_with_the_app(url: str) -> None:
    recipe = load("flask_app")
    app, crm = recipe.create_app(url)
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    client = app.test_client()
    body = {"code": "C-1", "name": "Acme", "owner": "li.na", "campaign": "web"}
    assert client.post("/customers", json=body | {"dry_run": True}).status_code == 200
    assert published == []
    assert rows(url, "crmkit_customers") == 0
    assert client.post("/customers", json=body).status_code == 201
    assert [e.owner_id for e in published] == ["li.na"]
    with app.app_context():
        recipe.db.engine.dispose()
    assert rows(url, "crmkit_customers") == 1
    assert rows(url, "signup") == 1


def test_plain_session_commits_or_rolls_back_both(url: str) -> None:
    recipe = load("session_script")
    crm, engine = recipe.open_crm(url)
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    recipe.import_customers(crm, engine, ["Acme", "Globex"], fail=True)
    assert published == []
    recipe.import_customers(crm, engine, ["Acme", "Globex"])
    assert len(published) == 2
    engine.dispose()
    assert rows(url, "crmkit_customers") == 2
    assert rows(url, "app_import_batches") == 1


def test_a_relay_worker_delivers_what_the_app_committed_once(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from crmkit.__main__ import main

    app = crmkit.CRM(SqlStore.from_url(url), relay_on_commit=False)  # the worker delivers
    app.create_all()
    with app.unit_of_work(actor="li.na") as uow:
        register_customers(uow, [Customer(name=n, owner_id="li.na") for n in ("Acme", "Globex")])
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    worker = ["relay", url, "--subscribe", "relay_worker:subscribe", "--once"]
    assert main(worker) == 0
    assert capsys.readouterr().out == "2 events delivered, 0 to be tried again, 0 parked\n"
    assert main(worker) == 0  # delivered and marked: nothing left
    assert capsys.readouterr().out.startswith("0 events delivered")
    app.close()
    assert rows(url, "app_welcome_mails") == 2


def test_the_relay_worker_runs_until_stopped(url: str) -> None:
    app = crmkit.CRM(SqlStore.from_url(url), relay_on_commit=False)
    app.create_all()
    command = [
        sys.executable, "-m", "crmkit", "relay", url,
        "--subscribe", "relay_worker:subscribe", "--poll", "0.05",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent / "src")}
    with subprocess.Popen(
        command, cwd=EXAMPLES, env=environment, stdout=subprocess.PIPE, text=True
    ) as worker:
        try:
            assert worker.stdout is not None
            assert worker.stdout.readline().startswith("relaying crmkit's events every 0.05 s")
            with app.unit_of_work(actor="li.na") as uow:
                register_customers(uow, [Customer(name="Acme", owner_id="li.na")])
            assert worker.stdout.readline() == "1 event delivered, 0 to be tried again, 0 parked\n"
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
            app.close()
    assert code == 0
    assert rows(url, "app_welcome_mails") == 1


def test_the_relay_command_refuses_a_subscriber_it_cannot_load(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from crmkit.__main__ import main

    url = f"sqlite:///{tmp_path / 'app.db'}"
    for spec, problem in [
        ("nocolon", "must be MODULE:FUNCTION"),
        ("no_such_module_h:subscribe", "cannot load no_such_module_h:subscribe"),
    ]:
        assert main(["relay", url, "--subscribe", spec, "--once"]) == 1
        assert problem in capsys.readouterr().err
