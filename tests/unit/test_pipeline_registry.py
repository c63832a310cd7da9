"""`Pipelines`: the host's pipelines by key, one per product line."""

from __future__ import annotations

import pytest

from crmkit.errors import ValidationError
from crmkit.pipeline import Pipelines, b2b_pipeline, transactional_pipeline


def test_pipelines_are_found_by_key_in_the_order_given() -> None:
    retail, b2b = transactional_pipeline("retail", "Shops"), b2b_pipeline()
    pipelines = Pipelines(retail, b2b)
    assert pipelines.get("b2b") is b2b
    assert pipelines.get("retail") is retail
    assert pipelines.keys() == ("retail", "b2b")
    assert list(pipelines) == [retail, b2b]
    assert len(pipelines) == 2
    assert "retail" in pipelines
    assert "transactional" not in pipelines
    assert 3 not in pipelines
    assert repr(pipelines) == "Pipelines('retail', 'b2b')"


@pytest.mark.parametrize("key", ["transactional", "", None, 3])
def test_an_unknown_key_is_an_error_naming_it_and_the_keys_known(key: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Pipelines(b2b_pipeline()).get(key)  # type: ignore[arg-type]
    (issue,) = caught.value.issues
    assert issue.path == "pipeline"
    assert repr(key) in issue.problem
    assert "'b2b'" in issue.problem


def test_bad_pipelines_are_refused_each_named() -> None:
    with pytest.raises(ValidationError) as caught:
        Pipelines(b2b_pipeline(), "retail", b2b_pipeline(name="Other"))  # type: ignore[arg-type]
    assert [(i.path, i.problem) for i in caught.value.issues] == [
        ("pipelines[1]", "must be a Pipeline, not str"),
        ("pipelines[2].key", "'b2b' appears twice"),
    ]
    with pytest.raises(ValidationError, match="at least one"):
        Pipelines()
