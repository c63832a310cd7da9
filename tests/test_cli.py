"""The ``crmkit`` migration commands, run as ``main([...])``: what they print, what they refuse
(one line on stderr, exit status 1), and that the commands their messages suggest work.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import crmkit
from crmkit import migrate
from crmkit.__main__ import main
from crmkit.storage.sql import build_tables

from .contract.conftest import RUN, server_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``crmkit argv``: its exit status, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    if code:
        assert out == ""
        assert err.startswith("crmkit: ")
        assert err.count("\n") == 1, err  # one line
    else:
        assert err == ""
    return code, out, err


def suggested(message: str, command: str) -> list[str]:
    """The arguments of the `crmkit COMMAND ...` command quoted in `message`."""
    start = message.index(f"`crmkit {command} ")
    return shlex.split(message[start + 1 : message.index("`", start + 1)])[1:]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


def test_migrate_then_current_and_verify_agree(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "current", url) == (0, "none (no crmkit revision recorded)\n", "")
    code, _, err = run(capsys, "verify", url)
    assert code == 1
    assert f"has no crmkit tables; run `crmkit migrate {url}`" in err
    assert (
        run(capsys, "migrate", url)[1] == "crmkit's tables upgraded from nothing to revision 0010\n"
    )
    assert run(capsys, "current", url) == (0, "0010 (head)\n", "")
    assert run(capsys, "verify", url) == (
        0,
        "crmkit's tables are at revision 0010, as this crmkit needs\n",
        "",
    )


def test_migrate_to_an_older_revision_is_refused_and_downgrade_does_it(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "migrate", url)
    code, _, err = run(capsys, "migrate", url, "--revision", "0001")
    assert code == 1
    assert "are at revision 0010, past 0001; an upgrade never goes back" in err
    assert suggested(err, "downgrade") == ["downgrade", url, "--revision", "0001"]
    assert migrate.current(url) == "0010"

    assert run(capsys, "downgrade", url, "--revision", "0001")[1] == (
        "crmkit's tables downgraded from 0010 to revision 0001\n"
    )
    assert (
        run(capsys, "current", url)[1]
        == "0001 (this crmkit's newest is 0010; see `crmkit verify`)\n"
    )
    code, _, err = run(capsys, "verify", url)
    assert code == 1
    assert "has crmkit schema revision 0001, but this crmkit needs 0010" in err
    assert run(capsys, "downgrade", url, "--revision", "0001")[1] == (
        "crmkit's tables are already at revision 0001\n"
    )
    assert run(capsys, "migrate", url, "--revision", "0001")[1] == (
        "crmkit's tables are already at revision 0001 (the newest is 0010)\n"
    )
    code, _, err = run(capsys, "downgrade", url, "--revision", "0002")
    assert code == 1
    assert "a downgrade never goes forward" in err
    assert run(capsys, "migrate", url)[1] == "crmkit's tables upgraded from 0001 to revision 0010\n"
    assert run(capsys, "downgrade", url, "--revision", "base")[1] == (
        "crmkit's tables downgraded from 0010 to base: removed\n"
    )
    assert not [t for t in sa.inspect(sa.create_engine(url)).get_table_names() if "customers" in t]


def test_downgrade_needs_an_explicit_revision(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["downgrade", url])
    assert exited.value.code == 2
    assert "--revision" in capsys.readouterr().err


def test_a_database_newer_than_this_crmkit_is_named_so(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "migrate", url)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE crmkit_alembic_version SET version_num = '9999'"))
    engine.dispose()
    newer = "has crmkit schema revision 9999, newer than this crmkit knows (it ends at 0010)"
    for command in (["migrate", url], ["verify", url], ["downgrade", url, "--revision", "0001"]):
        code, _, err = run(capsys, *command)
        assert code == 1
        assert newer in err
        assert "Can't locate" not in err
    assert run(capsys, "current", url)[1] == (
        "9999 (this crmkit's newest is 0010; see `crmkit verify`)\n"
    )


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database(request: pytest.FixtureRequest, url: str) -> Iterator[tuple[str, str]]:
    """A URL and a table prefix of this test's own, on each SQL backend."""
    if request.param != "sqlite":
        url = server_url(request.param)
    prefix = f"crmkit_c{RUN}_"
    engine = sa.create_engine(url)

    def drop() -> None:
        with engine.begin() as connection:
            build_tables(prefix=prefix).metadata.drop_all(connection)
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {prefix}alembic_version"))

    drop()
    yield url, prefix
    drop()
    engine.dispose()


def test_tables_without_a_revision_are_adopted_with_the_stamp_command_suggested(
    database: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, prefix = database
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        build_tables(prefix=prefix).metadata.create_all(connection)
    engine.dispose()
    for command in ("migrate", "verify"):
        code, _, err = run(capsys, command, url, "--prefix", prefix)
        assert code == 1
        assert "has no crmkit tables" not in err
        assert (
            f"has crmkit's tables ({prefix}accounts, {prefix}assignment_books, "
            f"{prefix}change_counters" in err
        )
        assert f"but no revision recorded in {prefix}alembic_version" in err
    stamp = suggested(err, "stamp")
    assert stamp[0] == "stamp"
    assert stamp[-2:] == ["--prefix", prefix]
    code, out, _ = run(capsys, *stamp)
    assert (code, out) == (
        0,
        "crmkit's tables recorded as revision 0010 (was none); no migration was run\n",
    )
    assert (
        run(capsys, *suggested(err, "migrate"))[1]
        == "crmkit's tables are up to date (revision 0010)\n"
    )
    assert run(capsys, "verify", url, "--prefix", prefix)[0] == 0


def test_stamping_an_empty_database_is_refused(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "stamp", url)
    assert code == 1
    assert "has none of crmkit's tables to record revision head for" in err
    assert suggested(err, "migrate") == ["migrate", url]
    assert migrate.current(url) is None


def test_a_url_that_is_no_url_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("migrate", "current", "verify", "stamp"):
        code, _, err = run(capsys, command, "not a url")
        assert code == 1
        assert err.startswith("crmkit: url: cannot open 'not a url'")


@pytest.fixture
def migrated(url: str) -> str:
    """The URL of a database with crmkit's tables."""
    migrate.upgrade(url)
    return url


def a_file(folder: Path, name: str, text: str) -> Path:
    """A file `name` in `folder` holding `text`."""
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def test_import_reports_refused_rows_and_fails_and_export_writes_what_landed(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    file = a_file(
        tmp_path, "customers.csv", "Company,owner_id,Tel\nAcme,li.na,\n,li.na,\nBolt,li.na,\n"
    )
    mapping = a_file(tmp_path, "mapping.json", '{"Company": "name", "Tel": null}')
    code = main(["import", url, str(file), "--mapping", str(mapping), "--batch", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == (
        "3 rows read: 2 added, 0 updated, 0 unchanged, 1 failed\nrow 3, Company: is required\n"
    )
    assert err == ""  # no progress bar but on a terminal
    exported = tmp_path / "out.jsonl"
    assert run(capsys, "export", url, str(exported)) == (
        0,
        f"2 customers written to {exported}\n",
        "",
    )
    names = [
        line.split('"name": ')[1].split(",")[0]
        for line in exported.read_text("utf-8").split("\n")
        if line
    ]
    assert sorted(names) == ['"Acme"', '"Bolt"']
    code, out, _ = run(capsys, "export", url, "--format", "csv")
    assert out.startswith("id,external_id,name,")
    assert out.count("\n") == 3
    # The events wait in the outbox for the host's relay worker.
    with crmkit.open(url) as crm:
        assert crm.relay().delivered == 2


def test_import_of_contacts_takes_a_region_and_succeeds(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    customers = a_file(tmp_path, "c.csv", "external_id,name,owner_id\nERP-1,Acme,li\n")
    contacts = a_file(
        tmp_path,
        "p.jsonl",
        '{"customer_external_id": "ERP-1", "name": "Wang Wei", "phones": ["138 0013 8000"]}\n',
    )
    assert run(capsys, "import", url, str(customers))[0] == 0
    code, out, _ = run(capsys, "import", url, str(contacts), "--contacts", "--region", "CN")
    assert (code, out) == (0, "1 rows read: 1 added, 0 updated, 0 unchanged, 0 failed\n")
    code, out, _ = run(capsys, "export", url, "--contacts")
    assert "+8613800138000" in out


def test_import_of_a_missing_file_is_one_line_on_stderr(
    migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    code, _, err = run(capsys, "import", url, "no-such.csv")
    assert code == 1
    assert "file: cannot open 'no-such.csv'" in err


def test_import_refuses_unknown_columns_unless_told_to_ignore_them(
    migrated: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated
    file = a_file(tmp_path, "customers.csv", "name,owner_id,notes\nAcme,li,call back\n")
    assert main(["import", url, str(file)]) == 1
    out = capsys.readouterr().out
    unknown = "is not a column of a customers file (map it, or ignore it with ignore_unknown)"
    assert out.splitlines() == [
        "0 rows read: 0 added, 0 updated, 0 unchanged, 0 failed",
        f"row 1, notes: {unknown}",
    ]
    assert run(capsys, "import", url, str(file), "--ignore-unknown")[1] == (
        "1 rows read: 1 added, 0 updated, 0 unchanged, 0 failed\n"
    )
