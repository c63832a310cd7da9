"""The "Embedding in your app" recipes, each run as a real app on an SQLite file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from fastapi.testclient import TestClient

from crmkit.customers import CustomerRegistered

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


def rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        engine.dispose()


def test_fastapi_request_transaction_carries_crmkit_and_the_apps_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fastapi.db'}"
    app, crm = load("fastapi_app").create_app(url)
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    body = {"code": "C-1", "name": "上海云杉科技", "owner": "li.na", "campaign": "expo"}
    with TestClient(app) as client:
        created = client.post("/customers", json=body)
        assert created.status_code == 201, created.text
        assert client.get("/customers/C-1").json() == {"name": "上海云杉科技", "owner": "li.na"}
        clash = client.post("/customers", json=body | {"campaign": "again"})
    assert clash.status_code >= 400
    assert [e.owner_id for e in published] == ["li.na"]
    assert rows(url, "crmkit_customers") == 1
    assert rows(url, "app_signups") == 1  # the failed request left nothing behind


def test_flask_sqlalchemy_session_commits_crmkit_with_the_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flask.db'}"
    app, crm = load("flask_app").create_app(url)
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    client = app.test_client()
    body = {"code": "C-1", "name": "Acme", "owner": "li.na", "campaign": "web"}
    assert client.post("/customers", json=body | {"dry_run": True}).status_code == 200
    assert published == []
    assert rows(url, "crmkit_customers") == 0
    assert client.post("/customers", json=body).status_code == 201
    assert [e.owner_id for e in published] == ["li.na"]
    assert rows(url, "crmkit_customers") == 1
    assert rows(url, "signup") == 1


def test_plain_session_commits_or_rolls_back_both(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'session.db'}"
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
