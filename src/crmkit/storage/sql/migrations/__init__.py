"""crmkit's Alembic migration history (run it with `crmkit.migrate`)."""
