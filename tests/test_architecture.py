"""The storage core names no capability: only the composition root wires them in.

Every module of crmkit is read (imports inside functions and under ``TYPE_CHECKING`` included);
a core module that imports a capability (``crmkit.customers``) or a capability's storage modules
fails the test. Adding a capability then edits `crmkit._composition` and nothing else of the core.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import crmkit

# Per capability: its package, and the prefixes of its storage modules.
CAPABILITIES = {
    "customers": (
        "crmkit.customers",
        ("crmkit.storage._customer", "crmkit.storage.sql._customer"),
    ),
    "pipeline": (
        "crmkit.pipeline",
        ("crmkit.storage._pipeline", "crmkit.storage.sql._pipeline"),
    ),
    "credit": (
        "crmkit.credit",
        ("crmkit.storage._credit", "crmkit.storage.sql._credit"),
    ),
}
# Not the core: the composition root, and the apps and helpers built on the capabilities.
WIRING_AND_APPS = {
    "crmkit._composition",
    "crmkit.demo",
    "crmkit._demo_sales",
    "crmkit._demo_credit",
    "crmkit.__main__",
    "crmkit.testing",
    "crmkit.views",  # read-only views gathering several capabilities (the Customer 360)
}


def _modules() -> dict[str, Path]:
    found = {"crmkit": Path(crmkit.__file__)}
    for info in pkgutil.walk_packages(crmkit.__path__, "crmkit."):
        spec = info.module_finder.find_spec(info.name, None)
        assert spec is not None
        assert spec.origin is not None
        found[info.name] = Path(spec.origin)
    return found


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def _capability_of(name: str) -> str | None:
    for capability, (package, storage) in CAPABILITIES.items():
        if _in(name, package) or name.startswith(storage):
            return capability
    return None


def _is_core(name: str) -> bool:
    return _capability_of(name) is None and not any(_in(name, m) for m in WIRING_AND_APPS)


def imports_of(path: Path, module: str) -> set[str]:
    """Every module `path` (the source of `module`) imports, anywhere in it."""
    tree = ast.parse(path.read_text("utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def capability_imports(path: Path, module: str) -> list[str]:
    """The capability modules that the core module `module` imports."""
    return sorted(m for m in imports_of(path, module) if _capability_of(m) is not None)


MODULES = _modules()
CORE = sorted(name for name in MODULES if _is_core(name))


@pytest.mark.parametrize("name", CORE)
def test_no_core_module_imports_a_capability(name: str) -> None:
    assert capability_imports(MODULES[name], name) == []


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from crmkit.customers import Customer\n"
        "def f():\n"
        "    import crmkit.storage.sql._customers\n"
        "from ._customers import CUSTOMERS\n",
        "utf-8",
    )
    assert capability_imports(source, "crmkit.storage.probe") == [
        "crmkit.customers",
        "crmkit.customers.Customer",
        "crmkit.storage._customers",
        "crmkit.storage._customers.CUSTOMERS",
        "crmkit.storage.sql._customers",
    ]


def test_the_core_is_most_of_crmkit() -> None:
    # The walk found the storage core, the converter and the CRM facade.
    for name in ("crmkit.storage", "crmkit.storage.memory", "crmkit._converter", "crmkit._crm"):
        assert name in CORE
    assert "crmkit.storage.sql._store" in CORE
