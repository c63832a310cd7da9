"""The public API is deliberate: exported names are sorted, documented and in the reference."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PUBLIC = {
    "crmkit": "crmkit.md",
    "crmkit.credit": "credit.md",
    "crmkit.customers": "customers.md",
    "crmkit.pipeline": "pipeline.md",
    "crmkit.storage": "storage.md",
    "crmkit.storage.sql": "storage.md",
    "crmkit.errors": "errors.md",
    "crmkit.events": "events.md",
    "crmkit.migrate": "migrate.md",
    "crmkit.testing.contract": "contract.md",
    "crmkit.testing.duplicates": "duplicates.md",
    "crmkit.testing.strategies": "strategies.md",
    "crmkit.views": "views.md",
}


def _isort(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_all_is_sorted_complete_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    # Sorted as ruff's RUF022 sorts: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=_isort), f"{name}.__all__ is not sorted"
    for attribute in exported:
        value = getattr(module, attribute)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
            assert inspect.getdoc(value), f"{name}.{attribute} has no docstring"
    own = [
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and (v.__module__ == name or v.__module__.startswith(f"{name}."))
    ]
    missing = sorted(set(own) - set(exported))
    assert not missing, f"{name} defines public names missing from __all__: {missing}"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_method_and_property_is_documented(name: str) -> None:
    module = importlib.import_module(name)
    undocumented = []
    for exported in module.__all__:
        cls = getattr(module, exported)
        if not inspect.isclass(cls):
            continue
        for attribute, raw in vars(cls).items():
            if attribute.startswith("_"):
                continue
            member = raw.__func__ if isinstance(raw, classmethod | staticmethod) else raw
            if isinstance(member, property) or inspect.isfunction(member):
                # getdoc also finds a docstring inherited from a base (e.g. a Protocol).
                doc = inspect.getdoc(member) or inspect.getdoc(getattr(cls, attribute, None))
                if not doc:
                    undocumented.append(f"{exported}.{attribute}")
    assert not undocumented, f"{name}: no docstring on {undocumented}"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_exported_module_is_in_the_api_reference(name: str) -> None:
    page = (ROOT / "docs" / "reference" / PUBLIC[name]).read_text("utf-8")
    # mkdocstrings renders every name of the module's __all__ from this directive.
    assert f"::: {name}\n" in page


def test_importing_crmkit_loads_neither_sqlalchemy_nor_numpy() -> None:
    code = (
        "import sys, crmkit, crmkit.customers, crmkit.storage; "
        "heavy = ('sqlalchemy', 'numpy', 'alembic', 'phonenumbers'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_sql_store_loads_sqlalchemy_when_used() -> None:
    code = (
        "import sys, crmkit; crmkit.open('sqlite://', create=True); "
        "print('sqlalchemy' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"


def test_an_aggregate_is_declared_with_the_public_names_of_crmkit_storage() -> None:
    import crmkit.storage
    from crmkit.storage import _aggregates, _registry

    declaration = {"Aggregate": _aggregates, "Parent": _aggregates, "UniqueKey": _aggregates}
    for name, private in {**declaration, "register": _registry}.items():
        exported = getattr(crmkit.storage, name)
        assert name in crmkit.storage.__all__
        assert exported is getattr(private, name)
        # Reprs, tracebacks and the reference name the public place.
        assert exported.__module__ == "crmkit.storage", name


def test_the_contract_suite_shows_only_public_imports() -> None:
    import crmkit.testing.contract

    imports = re.findall(
        r"^\s*(?:from|import) (crmkit[\w.]*)", crmkit.testing.contract.__doc__ or "", re.M
    )
    assert "crmkit.storage" in imports
    assert [m for m in imports if any(p.startswith("_") for p in m.split("."))] == []
