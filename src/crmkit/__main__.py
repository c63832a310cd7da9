"""The ``crmkit`` command: ``crmkit demo`` and ``crmkit migrate URL``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import crmkit
from crmkit.errors import CrmkitError


def _demo(args: argparse.Namespace) -> int:
    from crmkit.demo import run_demo

    run_demo(args.path, customers=args.customers)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from crmkit import migrate

    before = migrate.current(args.url, prefix=args.prefix, schema=args.schema)
    migrate.upgrade(args.url, revision=args.revision, prefix=args.prefix, schema=args.schema)
    after = migrate.current(args.url, prefix=args.prefix, schema=args.schema)
    if before == after:
        print(f"crmkit's tables are up to date (revision {after})")
    else:
        print(f"crmkit's tables upgraded from {before or 'nothing'} to revision {after}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmkit", description="crmkit, the CRM domain library")
    parser.add_argument("--version", action="version", version=f"crmkit {crmkit.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="fill an SQLite file with demo data and show it")
    demo.add_argument("--path", default="crm-demo.db", help="the SQLite file (replaced)")
    demo.add_argument("--customers", type=int, default=200, help="how many customers")
    demo.set_defaults(run=_demo)

    migrate = commands.add_parser("migrate", help="create or upgrade crmkit's tables")
    migrate.add_argument("url", help="SQLAlchemy database URL")
    migrate.add_argument("--revision", default="head", help="target revision (default: newest)")
    migrate.add_argument("--prefix", default="crmkit_", help="table name prefix")
    migrate.add_argument("--schema", default=None, help="database schema (PostgreSQL)")
    migrate.set_defaults(run=_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``crmkit`` command with `argv` (the process's arguments by default)."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except CrmkitError as e:
        print(f"crmkit: {e}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
