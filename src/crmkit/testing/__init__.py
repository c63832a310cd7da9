"""Helpers for testing code built on crmkit: `crmkit.testing.strategies` (hypothesis).

They need the ``testing`` extra: ``pip install 'crmkit[testing]'``.
"""

try:
    import hypothesis  # noqa: F401 (only checked for: every helper here is built on it)
except ModuleNotFoundError as e:
    if e.name != "hypothesis":
        raise
    raise ModuleNotFoundError(
        "crmkit.testing needs hypothesis: pip install 'crmkit[testing]'", name="hypothesis"
    ) from None
