"""The documentation is tested: every example in the docs and the README runs, and so do the
doctests in crmkit's docstrings.

Every ``python`` block runs as a reader would run it, copied into a fresh file: alone, in a
fresh namespace, in a fresh empty working directory, so each block has its own imports and
setup. ``py`` blocks are illustrations that need something a page cannot provide (a host's
Alembic ``env.py``, a server); blocks that include a file (``--8<--``) show the recipes in
``examples/``, which ``tests/recipes`` runs.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import crmkit

ROOT = Path(__file__).parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    return [b for b in BLOCK.findall(page.read_text("utf-8")) if not b.startswith("--8<--")]


EXAMPLES = [
    pytest.param(page, number, source, id=f"{page.name}-{number}")
    for page in PAGES
    for number, source in enumerate(python_blocks(page), start=1)
]


@pytest.mark.parametrize(("page", "number", "source"), EXAMPLES)
def test_every_example_runs_on_its_own(
    page: Path, number: int, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a fresh, empty working directory: files go here
    # dont_inherit: not under this module's ``from __future__ import annotations``, as a
    # reader's file would not be (a class's annotations stay objects, not strings).
    code = compile(source, f"{page.name} (example {number})", "exec", dont_inherit=True)
    exec(code, {"__name__": "__main__"})  # noqa: S102 (the docs' own examples)


def test_pages_that_should_have_examples_have_them() -> None:
    pages = ("index", "getting-started", "money", "customers", "storage", "errors")
    for name in (*pages, "storage-internals"):
        assert python_blocks(ROOT / "docs" / f"{name}.md"), name


def test_every_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if f": {p.name}\n" not in nav]
    assert missing == []


def _modules() -> list[str]:
    return ["crmkit"] + [
        m.name
        for m in pkgutil.walk_packages(crmkit.__path__, "crmkit.")
        if ".migrations" not in m.name and m.name != "crmkit.__main__"
    ]


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
