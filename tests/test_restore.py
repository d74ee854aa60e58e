"""Restore and drill: a real backup (made by the backup Worker on workerd) restored, verified, refused."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from parsify_infra import restore as restore_module
from parsify_infra.drill import compare_databases, run_drill
from tests.conftest import REPO, run_cli, shared_scope

BACKUP_ID = "2026-11-27T02-15-00-000Z"


@pytest.fixture(scope=shared_scope)  # built once, except while mutmut measures (conftest.shared_scope)
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A drill's working folder: seed.sqlite, and mirror/ with the backup the Worker wrote."""
    work = tmp_path_factory.mktemp("drill")
    report = run_drill(REPO / "workers", 3000, workdir=work)
    assert report.passed, report.problems
    return work


@pytest.fixture
def mirror(drilled: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "mirror"
    shutil.copytree(drilled / "mirror", copy)
    return copy


def test_drill_restores_every_row_and_reports_the_recovery_time() -> None:
    status, text = run_cli("drill", "--rows", "2000", "--format", "json")
    report = json.loads(text)
    assert status == 0 and report["passed"] is True
    assert report["rows"] == 2000 and {t["table"] for t in report["tables"]} == {"customers", "invoices", "events"}
    assert all(t["identical"] and t["sourceRows"] == t["restoredRows"] for t in report["tables"])
    assert 0 < report["recoveryTimeSeconds"] < report["rtoSeconds"] == 3600
    assert report["problems"] == []


def test_restore_writes_sql_that_rebuilds_the_database(drilled: Path, mirror: Path, tmp_path: Path) -> None:
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--output",
                           str(tmp_path / "core.sql"), "--into-sqlite", str(tmp_path / "core.sqlite"))
    assert status == 0, text
    assert f"backup {BACKUP_ID}: 3,000 rows in 3 tables, verified" in text
    assert _identical(drilled / "seed.sqlite", tmp_path / "core.sqlite")
    # The SQL file alone (what `wrangler d1 execute --file` gets) rebuilds the same database.
    rebuilt = sqlite3.connect(tmp_path / "from-file.sqlite")
    rebuilt.executescript((tmp_path / "core.sql").read_text())
    rebuilt.close()
    assert _identical(drilled / "seed.sqlite", tmp_path / "from-file.sqlite")
    sql = (tmp_path / "core.sql").read_text()
    assert "BEGIN" not in sql and sql.startswith("PRAGMA defer_foreign_keys = on;")


def _identical(source: Path, restored: Path) -> bool:
    problems, tables = compare_databases(source, restored)
    return not problems and len(tables) == 3 and all(t.difference is None for t in tables)


def _object(backup: Path, table: str) -> Path:
    """The file of a table's rows, as the manifest names it (tables/<n>.<invocation>.sql)."""
    return backup / json.loads((backup / "manifest.json").read_text())["tables"][table]["object"]


def _edit_manifest(backup: Path, edit) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    edit(manifest)
    (backup / "manifest.json").write_text(json.dumps(manifest))


def test_latest_complete_backup_is_chosen_and_an_incomplete_one_is_refused(mirror: Path, tmp_path: Path) -> None:
    newer = mirror / "backups/core/2026-11-28T02-15-00-000Z"
    shutil.copytree(mirror / "backups/core" / BACKUP_ID, newer)
    (newer / "manifest.json").unlink()  # a run that died before its manifest
    partial = mirror / "backups/core/2026-11-27T09-15-00-000Z"
    shutil.copytree(mirror / "backups/core" / BACKUP_ID, partial)
    _edit_manifest(partial, lambda m: m.update(complete=False, backupId=partial.name))  # a table failed: never restored
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--format", "json",
                           "--output", str(tmp_path / "a.sql"))
    assert status == 0 and json.loads(text)["backupId"] == BACKUP_ID
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--backup-id",
                           newer.name, "--output", str(tmp_path / "b.sql"))
    assert status == 1 and "no complete manifest.json; the backup is incomplete and is refused" in text
    assert not (tmp_path / "b.sql").exists()
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--backup-id",
                           newer.name, "--output", str(tmp_path / "b.sql"), "--format", "json")
    assert status == 1 and json.loads(text)["verified"] is False and "is refused" in json.loads(text)["refused"]
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--date", "2026-11-28",
                           "--output", str(tmp_path / "c.sql"))
    assert status == 1 and "no complete backup from 2026-11-28" in text
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--backup-id",
                           partial.name, "--output", str(tmp_path / "d.sql"))
    assert status == 1 and "no complete manifest.json; the backup is incomplete and is refused" in text


def _rows(count: int):
    return lambda m: m["tables"]["customers"].update(rows=count, sourceRows=count, sourceRowsAtEnd=count)


@pytest.mark.parametrize("damage, expected", [
    (lambda d: _object(d, "invoices").write_text(_object(d, "invoices").read_text().replace("EUR", "USD")),
     "chunk 1 does not match its SHA-256"),
    (lambda d: _object(d, "events").write_bytes(_object(d, "events").read_bytes()[:-10]), "bytes, the manifest says"),
    (lambda d: _object(d, "customers").unlink(), "missing, but listed in the manifest"),
    # The Worker's count rule: a table not written during the run has exactly the source's rows.
    (lambda d: _edit_manifest(d, lambda m: m["tables"]["customers"].update(rows=299)),
     "table customers: 299 rows exported, but the source had 300 at the bound and was not written during the run"),
    (lambda d: _edit_manifest(d, _rows(301)), "table customers: 300 rows in the backup, the manifest says 301"),
    (lambda d: (d / "manifest.json").write_text('{"complete": true}'),
     "Field required; the manifest is malformed and the backup is refused"),
    (lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text().replace('"chunks"', '"chunkz"')),
     ": Field required; the manifest is malformed"),
    (lambda d: _edit_manifest(d, lambda m: m.update(format="parsify-d1-backup/9")),
     "key format: Input should be 'parsify-d1-backup/3'"),
    (lambda d: _edit_manifest(d, lambda m: m["load"].append("tables/9999.x.sql")),
     "key load: tables/9999.x.sql is not among the manifest's objects"),
], ids=["tampered", "truncated", "missing object", "count rule", "row count", "manifest without objects",
        "manifest without chunks", "unknown format", "load names an unlisted object"])
def test_restore_refuses_a_backup_that_does_not_match_its_manifest(mirror: Path, tmp_path: Path, damage,
                                                                   expected: str) -> None:
    damage(mirror / "backups/core" / BACKUP_ID)
    target, sql = tmp_path / "restored.sqlite", tmp_path / "restored.sql"
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--backup-id", BACKUP_ID,
                           "--into-sqlite", str(target), "--output", str(sql))
    assert status == 1 and text.startswith("restore refused:") and expected in text
    assert sorted(tmp_path.iterdir()) == [tmp_path / "mirror"], "no database or SQL file, partial or not"


def test_wrong_places_and_days_are_named_before_anything_is_read(mirror: Path, tmp_path: Path) -> None:
    for argv, status_expected, expected in [
        (["--source", str(tmp_path / "nowhere"), "--output", str(tmp_path / "a.sql")], 2,
         "nowhere: no such folder (--source is the folder that holds backups/)"),
        (["--source", str(mirror / "backups"), "--output", str(tmp_path / "a.sql")], 2,
         "(--source is the folder that holds backups/; it holds no databases)"),
        (["--source", str(mirror), "--output", str(tmp_path / "missing" / "a.sql")], 2,
         "a.sql: its folder"),
        (["--source", str(mirror), "--date", "2026-11-21", "--output", str(tmp_path / "a.sql")], 1,
         "no backup from 2026-11-21; backups exist for 2026-11-27"),
    ]:
        status, text = run_cli("restore", "--database", "core", *argv)
        assert status == status_expected and expected in text and len(text.strip().splitlines()) == 1, text
    assert not (tmp_path / "a.sql").exists()


def test_restore_never_overwrites_a_database(mirror: Path, tmp_path: Path) -> None:
    existing = tmp_path / "prod.sqlite"
    existing.write_bytes(b"precious")
    status, text = run_cli("restore", "--source", str(mirror), "--database", "core", "--into-sqlite", str(existing))
    assert status == 2 and "already exists" in text and existing.read_bytes() == b"precious"


def test_sql_is_streamed_in_blocks_that_end_on_whole_statements(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Values that hold ';\n' themselves, across block boundaries: SQLite's tokenizer decides where to cut.
    statements = [f"INSERT INTO t VALUES ({i}, 'a;\nb;\n' || '{'x' * (i % 7)}');\n" for i in range(200)]
    path = tmp_path / "t.sql"
    path.write_text("".join(statements))
    monkeypatch.setattr(restore_module, "BLOCK_BYTES", 64)
    blocks = list(restore_module.sql_blocks(path))
    assert len(blocks) > 50 and "".join(blocks) == path.read_text()
    assert all(sqlite3.complete_statement(block) for block in blocks)
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (id, v)")
    for block in blocks:
        connection.executescript(block)
    assert connection.execute("SELECT count(*), min(v) FROM t").fetchone() == (200, "a;\nb;\n")


def test_a_block_never_waits_for_more_than_the_next_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every read here ends just after a ';\n' inside a value: the cut goes back to the last whole statement, so a
    # block holds at most one read and the statement it ended in, and memory stays bounded on a 1 GB object.
    first = "INSERT INTO t VALUES ('" + "y" * 40 + "');\n"  # 67 bytes: each later read ends 61 bytes into a statement
    statement = "INSERT INTO t VALUES ('" + "x" * 35 + ";\n');\n"  # 64 bytes; the value's ';\n' ends at byte 60
    path = tmp_path / "t.sql"
    path.write_text(first + statement * 300)
    monkeypatch.setattr(restore_module, "BLOCK_BYTES", 64)
    blocks = list(restore_module.sql_blocks(path))
    assert "".join(blocks) == path.read_text() and all(sqlite3.complete_statement(block) for block in blocks)
    assert max(len(block) for block in blocks) <= 2 * 64 and len(blocks) >= 300


def test_a_statement_longer_than_a_read_is_one_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A read that holds no ';\n' at all waits for the next one.
    statements = [f"INSERT INTO t VALUES ({i}, '{'z' * 300}');\n" for i in range(3)]
    path = tmp_path / "t.sql"
    path.write_text("".join(statements))
    monkeypatch.setattr(restore_module, "BLOCK_BYTES", 64)
    assert list(restore_module.sql_blocks(path)) == statements


def test_statements_too_long_for_d1_are_counted() -> None:
    short = "INSERT INTO t VALUES (1, 'x');\n"
    long = "INSERT INTO t VALUES (2, '" + "é" * 60_000 + "');\n"  # 120 KB of UTF-8 in 60,000 characters
    assert restore_module.long_statements(short * 10) == 0
    assert restore_module.long_statements(short + long + short + long) == 2
    assert restore_module.long_statements("INSERT INTO t VALUES (3, '" + "x" * 99_000 + "');\n" + short) == 0
