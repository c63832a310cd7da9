"""Helpers for testing code built on crmkit; `crmkit.testing.strategies` needs hypothesis."""
