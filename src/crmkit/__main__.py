"""The ``crmkit`` command: ``crmkit demo``, and ``crmkit migrate URL`` with its companions.

``migrate`` creates or upgrades crmkit's tables; ``current`` tells their revision; ``verify``
checks it is the one this crmkit needs; ``downgrade`` goes back explicitly; ``stamp`` records
a revision without running a migration (to adopt tables made otherwise). ``relay`` delivers
the outbox's events to the handlers a host function subscribes, as a worker. ``import`` and
``export`` move customers and contacts in and out as CSV or JSON Lines; an import with refused
rows lists them and exits with status 1. Errors are one line on stderr, with exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import crmkit
import crmkit.events
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
    newest = migrate.head()
    if before != after:
        print(f"crmkit's tables upgraded from {before or 'nothing'} to revision {after}")
    elif after == newest:
        print(f"crmkit's tables are up to date (revision {after})")
    else:
        print(f"crmkit's tables are already at revision {after} (the newest is {newest})")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    from crmkit import migrate

    before = migrate.current(args.url, prefix=args.prefix, schema=args.schema)
    migrate.downgrade(args.url, revision=args.revision, prefix=args.prefix, schema=args.schema)
    after = migrate.current(args.url, prefix=args.prefix, schema=args.schema)
    if before == after:
        print(f"crmkit's tables are already at revision {after or 'base'}")
    elif after is None:
        print(f"crmkit's tables downgraded from {before} to base: removed")
    else:
        print(f"crmkit's tables downgraded from {before} to revision {after}")
    return 0


def _stamp(args: argparse.Namespace) -> int:
    from crmkit import migrate

    before = migrate.current(args.url, prefix=args.prefix, schema=args.schema)
    migrate.stamp(args.url, revision=args.revision, prefix=args.prefix, schema=args.schema)
    after = migrate.current(args.url, prefix=args.prefix, schema=args.schema)
    print(
        f"crmkit's tables recorded as revision {after or 'base'} (was {before or 'none'}); "
        "no migration was run"
    )
    return 0


def _current(args: argparse.Namespace) -> int:
    from crmkit import migrate

    at, newest = migrate.current(args.url, prefix=args.prefix, schema=args.schema), migrate.head()
    if at is None:
        print("none (no crmkit revision recorded)")
    elif at == newest:
        print(f"{at} (head)")
    else:
        # verify says whether it is behind or newer than this crmkit knows.
        print(f"{at} (this crmkit's newest is {newest}; see `crmkit verify`)")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from crmkit import migrate

    migrate.verify(args.url, prefix=args.prefix, schema=args.schema)
    print(f"crmkit's tables are at revision {migrate.head()}, as this crmkit needs")
    return 0


def _transfer_crm(args: argparse.Namespace) -> crmkit.CRM:
    # The command has no subscribers: the import's events stay in the outbox for the host's
    # relay worker (`crmkit relay`), instead of being marked delivered to nobody.
    return crmkit.open(args.url, tenant=args.tenant, relay_on_commit=False)


def _progress_bar() -> Any:  # noqa: ANN401 (a tqdm bar; tqdm has no type hints)
    """A progress bar of rows on stderr (none unless stderr is a terminal)."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    return tqdm(unit=" rows", file=sys.stderr, disable=None)


def _import(args: argparse.Namespace) -> int:
    import json

    from crmkit.customers import ColumnMapping, import_contacts, import_customers

    mapping = None
    if args.mapping:
        try:
            mapping = json.loads(Path(args.mapping).read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise crmkit.ValidationError.of("--mapping", f"cannot read {args.mapping}: {e}") from e
    if mapping is not None or args.ignore_unknown:
        mapping = ColumnMapping(mapping or {}, ignore_unknown=args.ignore_unknown)
    run = import_contacts if args.contacts else import_customers
    with _transfer_crm(args) as crm, _progress_bar() as bar:
        report = run(
            crm,
            args.file,
            actor=args.actor,
            format=args.format,
            mapping=mapping,
            region=args.region,
            batch_size=args.batch,
            progress=lambda done: bar.update(done - bar.n),
        )
    print(report.summary())
    for error in report.errors:
        print(error)
    if report.failed > len(report.errors):
        print(f"... and more ({report.failed} rows failed in all)")
    return 0 if report.ok else 1


def _export(args: argparse.Namespace) -> int:
    from crmkit.customers import export_contacts, export_customers

    run = export_contacts if args.contacts else export_customers
    to_stdout = args.file == "-"
    what = "contacts" if args.contacts else "customers"
    with _transfer_crm(args) as crm, _progress_bar() as bar:
        written = run(
            crm,
            sys.stdout if to_stdout else args.file,
            format=args.format or (None if not to_stdout else "csv"),
            progress=lambda done: bar.update(done - bar.n),
        )
    if not to_stdout:
        print(f"{written} {what} written to {args.file}")
    return 0


def _subscriber(spec: str) -> Callable[[crmkit.CRM], object]:
    """The function ``MODULE:FUNCTION`` names (found from the current folder too)."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise crmkit.ValidationError.of(
            "--subscribe", f"{spec!r} must be MODULE:FUNCTION, e.g. myapp.events:subscribe"
        )
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as e:
        raise crmkit.ValidationError.of("--subscribe", f"cannot load {spec}: {e}") from e
    if not callable(function):
        raise crmkit.ValidationError.of("--subscribe", f"{spec} is not a function")
    return function  # type: ignore[no-any-return]


def _relay(args: argparse.Namespace) -> int:
    from crmkit.storage.sql import SqlStore, build_tables

    subscribers = [_subscriber(spec) for spec in args.subscribe]
    made = SqlStore.from_url(args.url)
    try:
        store = SqlStore(made.engine, tables=build_tables(prefix=args.prefix, schema=args.schema))
        store.verify_schema()
        crm = crmkit.CRM(store, relay_on_commit=False)
        for subscribe in subscribers:
            subscribe(crm)
        if args.once:
            report = crm.relay()
            print(_summary(report))
            return 0
        stop = threading.Event()

        def on_signal(_: int, __: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        print(f"relaying crmkit's events every {args.poll} s; stop with Ctrl-C or SIGTERM")
        sys.stdout.flush()
        purged_at: float | None = None
        while not stop.is_set():
            if purged_at is None or time.monotonic() - purged_at >= _PURGE_EVERY:
                crm.purge_delivered(older_than=args.keep_days * 86400)
                purged_at = time.monotonic()
            report = crm.relay()
            if report.delivered or report.retried or report.parked:
                print(_summary(report))
                sys.stdout.flush()
            stop.wait(args.poll)
        return 0
    finally:
        made.close()


# Seconds between purges of old delivered events by the relay worker.
_PURGE_EVERY = 3600


def _summary(report: crmkit.events.RelayReport) -> str:
    events = "event" if report.delivered == 1 else "events"
    return (
        f"{report.delivered} {events} delivered, {report.retried} to be tried again, "
        f"{report.parked} parked"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmkit", description="crmkit, the CRM domain library")
    parser.add_argument("--version", action="version", version=f"crmkit {crmkit.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="fill an SQLite file with demo data and show it")
    demo.add_argument("--path", default="crm-demo.db", help="the SQLite file (replaced)")
    demo.add_argument("--customers", type=int, default=200, help="how many customers")
    demo.set_defaults(run=_demo)

    def on_tables(
        name: str, run: Callable[[argparse.Namespace], int], summary: str
    ) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument("url", help="SQLAlchemy database URL")
        command.add_argument("--prefix", default="crmkit_", help="table name prefix")
        command.add_argument("--schema", default=None, help="database schema (PostgreSQL)")
        command.set_defaults(run=run)
        return command

    migrate = on_tables("migrate", _migrate, "create or upgrade crmkit's tables")
    migrate.add_argument("--revision", default="head", help="target revision (default: newest)")
    on_tables("current", _current, "show the revision crmkit's tables are at")
    on_tables("verify", _verify, "check crmkit's tables are at the revision this crmkit needs")
    downgrade = on_tables("downgrade", _downgrade, "take crmkit's tables back to a revision")
    downgrade.add_argument(
        "--revision", required=True, help="the revision to go back to (base: remove them)"
    )
    stamp = on_tables(
        "stamp", _stamp, "record crmkit's tables as at a revision, without migrating them"
    )
    stamp.add_argument("--revision", default="head", help="the revision (default: newest)")
    relay = on_tables("relay", _relay, "deliver crmkit's events to the host's handlers")
    relay.add_argument(
        "--subscribe",
        action="append",
        required=True,
        metavar="MODULE:FUNCTION",
        help="a function that subscribes handlers to the CRM it is given (repeatable)",
    )
    relay.add_argument("--once", action="store_true", help="deliver what is due, then stop")
    relay.add_argument(
        "--poll", type=float, default=1.0, help="seconds between passes (default: 1)"
    )
    relay.add_argument(
        "--keep-days",
        type=float,
        default=7.0,
        help="delete delivered events older than this, every hour (default: 7)",
    )

    def transfer(name: str, run: Callable[[argparse.Namespace], int], summary: str) -> None:
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument("url", help="database URL (a SQLAlchemy URL)")
        if name == "import":
            command.add_argument("file", help="the CSV or JSON Lines file")
        else:
            command.add_argument("file", nargs="?", default="-", help="the file (- : stdout)")
        command.add_argument(
            "--contacts", action="store_true", help="contacts rather than customers"
        )
        command.add_argument(
            "--format", choices=["csv", "jsonl"], default=None, help="default: by file name"
        )
        command.add_argument("--tenant", default=crmkit.DEFAULT_TENANT, help="the tenant")
        command.set_defaults(run=run)
        if name == "import":
            command.add_argument("--actor", default="crmkit.import", help="who imports")
            command.add_argument(
                "--mapping", default=None, help="a JSON file: the file's column -> crmkit's"
            )
            command.add_argument(
                "--region", default=None, help="country of phone numbers without +, e.g. CN"
            )
            command.add_argument("--batch", type=int, default=500, help="rows per transaction")
            command.add_argument(
                "--ignore-unknown", action="store_true", help="ignore columns crmkit does not know"
            )

    transfer("import", _import, "import customers (or contacts) from CSV or JSON Lines")
    transfer("export", _export, "export customers (or contacts) to CSV or JSON Lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``crmkit`` command with `argv` (the process's arguments by default)."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except CrmkitError as e:
        # One line: a multi-line message (several invalid fields) is joined.
        print("crmkit: " + "; ".join(line.strip() for line in str(e).splitlines()), file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
