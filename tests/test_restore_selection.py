"""Which backup `restore` picks, and which it refuses, directly on a synthetic bucket mirror (no Worker run).

A backup is complete only when its manifest says so: the backup Worker writes `complete: true` last, after every
object (workers/backup/index.js); a run that died leaves no manifest or one not marked complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from parsify_infra import restore as restore_module
from parsify_infra.restore import (
    BACKUP_ID,
    DATABASE_NAME,
    Backup,
    RestoreRefused,
    RestoreReport,
    find_backup,
    restore,
)
from tests.conftest import run_cli

OLDER, MIDDLE, NEWER = "2026-11-25T02-15-00-000Z", "2026-11-26T02-15-00-000Z", "2026-11-27T02-15-00-000Z"


# A backup as the Worker lays it out (workers/backup/index.js: finishDatabase writes `database`, `backupId` and
# `complete: failures.length === 0` into the manifest, last; object keys are schema.<invocation>.sql and
# tables/<NNNN>.<invocation>.sql under backups/<database>/<backupId>/), and the cases an attacker, a mistaken copy
# or a tampered mirror would produce (found by an adversarial review written from that layout).
def _object(text: str) -> dict[str, Any]:
    data = text.encode()
    return {"bytes": len(data), "chunkBytes": max(len(data), 1), "chunks": [hashlib.sha256(data).hexdigest()]}


def _layout(source: Path, in_folder: str, folder_id: str, schema: str = "CREATE TABLE items (id INTEGER PRIMARY KEY, "
            "v TEXT);\n", rows: str | None = None, **manifest: Any) -> Path:
    """The backup of database `in_folder` with id `folder_id` (its SQL: `schema`, and `rows` or one row of items);
    `manifest` overrides the manifest's keys (so the folder's names are not called database and backupId)."""
    folder = source / "backups" / in_folder / folder_id
    (folder / "tables").mkdir(parents=True)
    rows = f"INSERT INTO items VALUES (1, '{in_folder}');\n" if rows is None else rows
    (folder / "schema.1-cron.sql").write_text(schema)
    (folder / "tables/0000.1-cron.sql").write_text(rows)
    (folder / "manifest.json").write_text(json.dumps({
        "format": "parsify-d1-backup/3", "database": in_folder, "backupId": folder_id, "complete": True,
        "load": ["schema.1-cron.sql", "tables/0000.1-cron.sql"],
        "tables": {"items": {"object": "tables/0000.1-cron.sql", "rows": 1, "sourceRows": 1, "sourceRowsAtEnd": 1}},
        "objects": {"schema.1-cron.sql": _object(schema), "tables/0000.1-cron.sql": _object(rows)}, **manifest}))
    return folder


def _backup(source: Path, backup_id: str, complete: bool | None) -> None:
    """core's backup `backup_id`: marked complete or not, or (None) a run that died before its manifest."""
    folder = _layout(source, "core", backup_id, complete=bool(complete))
    if complete is None:
        (folder / "manifest.json").unlink()


def _restore(source: Path, out: Path, *argv: str) -> tuple[int, str]:
    return run_cli("restore", "--source", str(source), "--output", str(out), *argv)


def _chosen(backup: Backup) -> tuple[str, str, Path, str]:
    """What restore goes on with: the database, the backup id, its folder, and the backup its manifest is of."""
    return backup.database, backup.backup_id, backup.directory, backup.manifest["backupId"]


def test_the_latest_complete_backup_is_chosen_not_the_oldest(tmp_path: Path) -> None:
    for backup_id in (OLDER, MIDDLE):
        _backup(tmp_path, backup_id, complete=True)
    _backup(tmp_path, NEWER, complete=False)
    core = tmp_path / "backups" / "core"
    assert _chosen(find_backup(tmp_path, "core")) == ("core", MIDDLE, core / MIDDLE, MIDDLE)
    assert _chosen(find_backup(tmp_path, "core", on_date="2026-11-25")) == ("core", OLDER, core / OLDER, OLDER)


def test_a_complete_backup_asked_for_by_id_is_that_one_even_when_newer_exist(tmp_path: Path) -> None:
    # The DBA restores a known-good backup from before a bad deploy, not the latest.
    for backup_id in (OLDER, MIDDLE):
        _backup(tmp_path, backup_id, complete=True)
    core = tmp_path / "backups" / "core"
    assert _chosen(find_backup(tmp_path, "core", backup_id=OLDER)) == ("core", OLDER, core / OLDER, OLDER)


@pytest.mark.parametrize("complete", [False, None], ids=["marked incomplete", "no manifest"])
def test_a_backup_not_marked_complete_is_refused_even_when_asked_for_by_id(tmp_path: Path,
                                                                           complete: bool | None) -> None:
    _backup(tmp_path, NEWER, complete=complete)
    with pytest.raises(RestoreRefused, match=r"no complete manifest\.json; the backup is incomplete and is refused"):
        find_backup(tmp_path, "core", backup_id=NEWER)
    with pytest.raises(RestoreRefused, match="no complete backup from 2026-11-27"):
        find_backup(tmp_path, "core", on_date="2026-11-27")
    with pytest.raises(RestoreRefused, match=r"no complete backup \(none has a manifest marked complete\)"):
        find_backup(tmp_path, "core")


def test_the_restore_report_gives_rows_in_all_and_seconds_to_the_millisecond() -> None:
    # The DBA's record of a restore (`restore --format json`): the time is reported to the millisecond.
    report = RestoreReport(database="core", backup_id="2026-11-27T0215Z", tables={"a": 2, "b": 3}, output=None,
                           sqlite="core.sqlite", seconds=12.34567, too_long_for_d1={})
    assert report.as_dict() == {"database": "core", "backupId": "2026-11-27T0215Z", "tables": {"a": 2, "b": 3},
                                "rows": 5, "output": None, "sqlite": "core.sqlite", "seconds": 12.346,
                                "verified": True, "statementsTooLongForD1": {}}


def test_a_backup_laid_out_as_the_worker_writes_it_is_restored(tmp_path: Path) -> None:
    _layout(tmp_path, "core", NEWER)
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core")[0] == 0
    assert "INSERT INTO items VALUES (1, 'core');" in (tmp_path / "o.sql").read_text()


@pytest.mark.parametrize("complete", ["false", "true", 1, None], ids=["'false'", "'true'", "1", "null"])
def test_a_manifest_whose_complete_is_not_a_json_boolean_is_refused(tmp_path: Path, complete: object) -> None:
    # "false" is a non-empty string: read loosely it was truthy, and a backup marked incomplete was restored.
    _layout(tmp_path, "core", NEWER, complete=complete)
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, f"restore refused: {tmp_path}/backups/core/{NEWER}/manifest.json: key complete: Input "
                                 "should be a valid boolean; the manifest is malformed and the backup is refused\n")
    assert not (tmp_path / "o.sql").exists()


@pytest.mark.parametrize(("key", "value", "described"), [
    ("database", "billing", "billing, not core"), ("backupId", OLDER, f"{OLDER}, not {NEWER}")],
    ids=["another database's backup copied into core's folder", "a backup copied under another id"])
def test_a_manifest_of_another_backup_than_its_folder_is_refused(tmp_path: Path, key: str, value: str,
                                                                  described: str) -> None:
    _layout(tmp_path, "core", NEWER, **{key: value})
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, f"restore refused: {tmp_path}/backups/core/{NEWER}/manifest.json: key {key}: this "
                                 f"manifest is of {described}; the backup is refused (was the mirror copied into the "
                                 "wrong folder?)\n")
    assert not (tmp_path / "o.sql").exists()


@pytest.mark.parametrize("name", ["../outside.sql", "/etc/hostname", "tables/../../outside.sql", ".hidden.sql"],
                         ids=["climbs out", "absolute", "climbs out of tables/", "hidden file"])
def test_a_manifest_naming_an_object_outside_the_backup_is_refused(tmp_path: Path, name: str) -> None:
    folder = _layout(tmp_path, "core", NEWER)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["objects"][name] = _object("CREATE TABLE evil (x);\n")
    manifest["load"].append(name)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, f"restore refused: {folder}/manifest.json: key objects: {name!r} is not an object "
                                 "name the backup Worker writes; the manifest is malformed and the backup is refused\n")
    assert not (tmp_path / "o.sql").exists()


@pytest.mark.parametrize(("argv", "error"), [
    (["--database", "core", "--backup-id", f"../billing/{NEWER}"],
     f"--backup-id '../billing/{NEWER}': not a name the backup Worker writes (it must match {BACKUP_ID})"),
    (["--database", "core/../billing"],
     f"--database 'core/../billing': not a name the backup Worker writes (it must match {DATABASE_NAME})"),
    (["--database", "../backups/billing"],
     f"--database '../backups/billing': not a name the backup Worker writes (it must match {DATABASE_NAME})"),
], ids=["a backup id that climbs to another database", "a database name with ..", "a database name that climbs out"])
def test_a_path_in_the_names_is_bad_input_not_another_databases_backup(tmp_path: Path, argv: list[str],
                                                                       error: str) -> None:
    _layout(tmp_path, "core", OLDER)
    _layout(tmp_path, "billing", NEWER)
    assert _restore(tmp_path, tmp_path / "o.sql", *argv) == (2, error)
    assert not (tmp_path / "o.sql").exists()


# What the DBA reads when the restore cannot even start: each message names the folder, what is there instead, and
# what to give (README "Restore runbook").
def test_a_source_that_is_not_a_mirror_says_what_it_holds(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert _restore(missing, tmp_path / "o.sql", "--database", "core") == (
        2, f"{missing}: no such folder (--source is the folder that holds backups/)")
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core") == (
        2, f"{tmp_path}/backups/core: no backups of database 'core' in {tmp_path} (--source is the folder that holds "
           "backups/; it holds no databases)")
    _layout(tmp_path, "billing", NEWER)
    _layout(tmp_path, "audit-eu", NEWER)
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core") == (
        2, f"{tmp_path}/backups/core: no backups of database 'core' in {tmp_path} (--source is the folder that holds "
           "backups/; it holds audit-eu, billing)")
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "billing", "--backup-id", OLDER) == (
        2, f"{tmp_path}/backups/billing/{OLDER}: no such backup")


def test_a_day_without_backups_lists_the_last_five_days_that_have_one(tmp_path: Path) -> None:
    (tmp_path / "backups" / "core").mkdir(parents=True)  # a mirror made before the first backup ran
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core", "--date", "2026-11-27") == (
        1, f"restore refused: {tmp_path}/backups/core: no backup from 2026-11-27; backups exist for no day\n")
    for day in range(20, 26):
        _layout(tmp_path, "core", f"2026-11-{day}T02-15-00-000Z")
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core", "--date", "2026-11-27") == (
        1, f"restore refused: {tmp_path}/backups/core: no backup from 2026-11-27; backups exist for 2026-11-21, "
           "2026-11-22, 2026-11-23, 2026-11-24, 2026-11-25\n")


@pytest.mark.parametrize(("manifest", "problem"), [
    ('{"format": ', "invalid JSON at line 1: Expecting value; refusing this backup"),
    ("[]", "key (top level): Input should be a valid dictionary or instance of _Manifest; the manifest is malformed "
           "and the backup is refused"),
], ids=["cut short", "not an object"])
def test_an_unreadable_manifest_is_refused_in_one_line(tmp_path: Path, manifest: str, problem: str) -> None:
    folder = _layout(tmp_path, "core", NEWER)
    (folder / "manifest.json").write_text(manifest)
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core") == (
        1, f"restore refused: {folder}/manifest.json: {problem}\n")


def test_a_wrong_value_deep_in_the_manifest_names_its_whole_key(tmp_path: Path) -> None:
    folder = _layout(tmp_path, "core", NEWER)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["tables"]["items"]["rows"] = -1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core") == (
        1, f"restore refused: {folder}/manifest.json: key tables.items.rows: Input should be greater than or equal "
           "to 0; the manifest is malformed and the backup is refused\n")


def test_an_object_that_links_outside_its_backup_is_refused(tmp_path: Path) -> None:
    # A mirror holds files (rclone copies objects); a link to another database's file, even with a matching hash in
    # the manifest, would load that database's rows as this one's.
    folder = _layout(tmp_path, "core", NEWER)
    billing = _layout(tmp_path, "billing", NEWER)
    table = folder / "tables/0000.1-cron.sql"
    table.unlink()
    table.symlink_to(billing / "tables/0000.1-cron.sql")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["objects"]["tables/0000.1-cron.sql"] = _object(table.read_text())
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert _restore(tmp_path, tmp_path / "o.sql", "--database", "core") == (
        1, f"restore refused: {table}: a link to {table.resolve()}, outside the backup; the backup is refused\n")
    assert not (tmp_path / "o.sql").exists()


def test_a_folder_not_named_as_the_worker_names_a_backup_is_never_chosen(tmp_path: Path) -> None:
    _layout(tmp_path, "core", OLDER)
    _layout(tmp_path, "core", f"{NEWER} ", backupId=f"{NEWER} ")  # planted: sorts after the real newest
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core", "--format", "json")
    assert status == 0 and json.loads(text)["backupId"] == OLDER, text


def test_the_restore_report_names_what_was_restored_and_where(tmp_path: Path) -> None:
    # The DBA's record (`restore --format json`), and nothing left behind: no .partial file, no stray database.
    _layout(tmp_path, "core", NEWER)
    out, sqlite = tmp_path / "out" / "core.sql", tmp_path / "out" / "core.sqlite"
    out.parent.mkdir()
    report = restore(tmp_path, "core", output=out, into_sqlite=sqlite).as_dict()
    assert {k: v for k, v in report.items() if k != "seconds"} == {
        "database": "core", "backupId": NEWER, "tables": {"items": 1}, "rows": 1, "output": str(out),
        "sqlite": str(sqlite), "verified": True, "statementsTooLongForD1": {}}
    assert sorted(p.name for p in out.parent.iterdir()) == ["core.sql", "core.sqlite"]


def test_a_verify_only_restore_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without --output or --sqlite the backup is loaded in memory only.
    _layout(tmp_path / "mirror", "core", NEWER)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    report = restore(tmp_path / "mirror", "core").as_dict()
    assert (report["output"], report["sqlite"], report["rows"]) == (None, None, 1)
    assert list((tmp_path / "cwd").iterdir()) == []


# PRAGMA foreign_key_check gives the rowid of the row, and none for a WITHOUT ROWID table
# (sqlite.org/pragma.html#pragma_foreign_key_check).
@pytest.mark.parametrize("without_rowid, row", [("", "row 7"), (" WITHOUT ROWID", "a row")])
def test_a_backup_that_breaks_a_foreign_key_is_refused_naming_the_row(tmp_path: Path, without_rowid: str,
                                                                      row: str) -> None:
    # D1 enforces foreign keys (a backup's SQL defers them to the end of its load, D1's import guidance).
    schema = ("CREATE TABLE owners (id INTEGER PRIMARY KEY);\n"
              f"CREATE TABLE items (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners(id)){without_rowid};\n")
    _layout(tmp_path, "core", NEWER, schema=schema, rows="INSERT INTO items VALUES (7, 42);\n")
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, f"restore refused: table items: {row} references a missing row of owners; the "
                                 "backup breaks a foreign key\n")
    assert not (tmp_path / "o.sql").exists() and not (tmp_path / "o.sql.partial").exists()


def test_rows_the_manifest_does_not_count_are_refused(tmp_path: Path) -> None:
    # The objects are intact (their hashes match) but hold another number of rows than the manifest says.
    tables = {"items": {"object": "tables/0000.1-cron.sql", "rows": 2, "sourceRows": 2, "sourceRowsAtEnd": 3}}
    _layout(tmp_path, "core", NEWER, tables=tables)
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, "restore refused: table items: 1 rows in the backup, the manifest says 2\n")


def test_a_table_that_breaks_the_workers_count_rule_is_refused_by_name(tmp_path: Path) -> None:
    # countProblem (workers/backup/index.js): not written during the run, so rows must equal the source's count.
    tables = {"items": {"object": "tables/0000.1-cron.sql", "rows": 1, "sourceRows": 2, "sourceRowsAtEnd": 2}}
    folder = _layout(tmp_path, "core", NEWER, tables=tables)
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, f"restore refused: {folder}: table items: 1 rows exported, but the source had 2 at "
                                 "the bound and was not written during the run\n")


def test_statements_too_long_for_d1_are_counted_per_object(tmp_path: Path) -> None:
    # D1 refuses a statement over 100,000 bytes (reference cloudflare-defaults-and-limits.md, D1: "Max SQL statement
    # length"); the SQLite restore loads them, and the report says how many `wrangler d1 execute` would refuse.
    words = "word " * 20_001  # 100,005 characters, with blanks, as text usually has
    euros = "€" * 34_000  # 34,000 characters but 102,000 bytes: the limit is in bytes
    separators = "x;\n" * 34_000  # a value holding the statement separator is still one statement
    short = "s" * 60_000  # a statement under the limit, even beside long ones
    rows = "".join(f"INSERT INTO items VALUES ({i}, '{text}');\n"
                   for i, text in enumerate((words, euros, separators, short), start=1))
    tables = {"items": {"object": "tables/0000.1-cron.sql", "rows": 4, "sourceRows": 4, "sourceRowsAtEnd": 4}}
    _layout(tmp_path, "core", NEWER, rows=rows, tables=tables)
    report = restore(tmp_path, "core").as_dict()
    assert (report["rows"], report["statementsTooLongForD1"]) == (4, {"tables/0000.1-cron.sql": 3})


@pytest.mark.parametrize("size, too_long", [(100_000, {}), (100_001, {"tables/0000.1-cron.sql": 1})])
def test_the_statement_limit_on_both_sides(tmp_path: Path, size: int, too_long: dict[str, int]) -> None:
    # The statement's text up to its terminating ";": exactly 100,000 bytes is allowed, one more is not. It follows
    # another statement of the same block, which must not count towards it.
    head, tail = "INSERT INTO items VALUES (1, '", "')"
    statement = head + "x" * (size - len(head) - len(tail)) + tail
    tables = {"items": {"object": "tables/0000.1-cron.sql", "rows": 2, "sourceRows": 2, "sourceRowsAtEnd": 2}}
    _layout(tmp_path, "core", NEWER, rows=f"INSERT INTO items VALUES (0, 'before');\n{statement};\n", tables=tables)
    assert restore(tmp_path, "core").as_dict()["statementsTooLongForD1"] == too_long


def test_the_report_times_the_restore_it_made(tmp_path: Path) -> None:
    # The seconds a DBA records are the restore's own: never more than the time around the call.
    _layout(tmp_path, "core", NEWER)
    before = time.perf_counter()
    seconds = restore(tmp_path, "core").seconds
    assert 0 <= seconds <= time.perf_counter() - before


def test_what_a_killed_restore_left_is_replaced(tmp_path: Path) -> None:
    # A restore killed mid-way (out of memory, a closed terminal) leaves its .partial files: the next one starts over.
    _layout(tmp_path / "mirror", "core", NEWER)
    out, sqlite = tmp_path / "core.sql", tmp_path / "core.sqlite"
    (tmp_path / "core.sql.partial").write_text("INSERT INTO items VALUES (99, 'half a statem")
    stale = sqlite3.connect(tmp_path / "core.sqlite.partial")
    stale.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)")  # loading again would say "already exists"
    stale.close()
    report = restore(tmp_path / "mirror", "core", output=out, into_sqlite=sqlite)
    assert report.tables == {"items": 1}
    assert out.read_text() == ("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\n"
                               "INSERT INTO items VALUES (1, 'core');\n")
    assert sqlite3.connect(sqlite).execute("SELECT * FROM items").fetchall() == [(1, "core")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["core.sql", "core.sqlite", "mirror"]


@pytest.mark.parametrize("unwritable", ["sqlite", "output"])
def test_a_target_that_cannot_be_written_is_named_in_one_line(tmp_path: Path, unwritable: str) -> None:
    # /proc accepts no new files, even from root. The other target is not left half-made.
    _layout(tmp_path, "core", NEWER)
    paths = {"sqlite": tmp_path / "core.sqlite", "output": tmp_path / "core.sql", unwritable: Path("/proc/core.x")}
    status, text = run_cli("restore", "--source", str(tmp_path), "--database", "core",
                           "--into-sqlite", str(paths["sqlite"]), "--output", str(paths["output"]))
    # The system's reason in brackets: procfs refuses a new file to root (ENOENT) and to anyone else (EACCES).
    assert status == 2 and re.fullmatch(r"/proc/core\.x: cannot be written \((No such file or directory|"
                                        r"Permission denied)\)", text), text
    assert "\n" not in text.strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups"]


def test_the_sql_file_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    # A rescue shell or a minimal container often runs in the C locale, whose encoding is ASCII; D1 takes UTF-8.
    # The same restore here (a UTF-8 locale) and in the C locale writes the same bytes.
    rows = "INSERT INTO items VALUES (1, 'Zoë paid 5 €');\n"
    _layout(tmp_path, "core", NEWER, rows=rows)
    restore(tmp_path, "core", output=tmp_path / "here.sql")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(["parsify-infra", "restore", "--source", str(tmp_path), "--database", "core", "--output",
                           str(tmp_path / "c-locale.sql")], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c-locale.sql").read_bytes() == (tmp_path / "here.sql").read_bytes()
    assert (tmp_path / "here.sql").read_bytes().decode("utf-8").endswith(rows)


def test_a_table_without_an_object_does_not_end_the_count_check(tmp_path: Path) -> None:
    # An external-content FTS table has no object and no rows of its own (workers/backup/index.js: object null,
    # external true); the tables after it are still counted.
    schema = ("CREATE VIRTUAL TABLE docs USING fts5(body, content='items', content_rowid='id');\n"
              "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\n")
    tables = {"docs": {"object": None, "rows": 0, "sourceRows": 0, "sourceRowsAtEnd": 0, "external": True},
              "items": {"object": "tables/0000.1-cron.sql", "rows": 2, "sourceRows": 2, "sourceRowsAtEnd": 3}}
    _layout(tmp_path, "core", NEWER, schema=schema, tables=tables)
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, "restore refused: table items: 1 rows in the backup, the manifest says 2\n")


@pytest.mark.parametrize("block_bytes", [restore_module.BLOCK_BYTES, 64], ids=["one block", "a block a statement"])
def test_long_statements_are_counted_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   block_bytes: int) -> None:
    # A table's object is read in blocks (restore.sql_blocks): its count is the sum over them.
    monkeypatch.setattr(restore_module, "BLOCK_BYTES", block_bytes)
    rows = "".join(f"INSERT INTO items VALUES ({i}, '{'x' * 100_001}');\n" for i in (1, 2, 3))
    tables = {"items": {"object": "tables/0000.1-cron.sql", "rows": 3, "sourceRows": 3, "sourceRowsAtEnd": 3}}
    _layout(tmp_path, "core", NEWER, rows=rows, tables=tables)
    assert restore(tmp_path, "core").as_dict()["statementsTooLongForD1"] == {"tables/0000.1-cron.sql": 3}


def _chunked(text: str, chunk_bytes: int) -> dict[str, Any]:
    """An object's manifest entry with a SHA-256 per chunk of `chunk_bytes` (the Worker's chunks)."""
    data = text.encode()
    return {"bytes": len(data), "chunkBytes": chunk_bytes, "chunks": [
        hashlib.sha256(data[start:start + chunk_bytes]).hexdigest() for start in range(0, len(data), chunk_bytes)]}


@pytest.mark.parametrize("tamper, expected", [
    (None, None), (lambda t: t.replace("'b'", "'B'"),
                        "tables/0000.1-cron.sql: chunk 2 does not match its SHA-256 in the manifest")])
def test_each_chunk_is_checked_against_its_own_hash(tmp_path: Path, tamper: Any, expected: str | None) -> None:
    # The manifest has a SHA-256 per chunk of chunkBytes (workers/backup/index.js): an intact object of several
    # chunks verifies, and a change in its second chunk is named there.
    schema = "CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT);\n"
    rows = "INSERT INTO items VALUES (1, 'a');\nINSERT INTO items VALUES (2, 'b');\n"
    tables = {"items": {"object": "tables/0000.1-cron.sql", "rows": 2, "sourceRows": 2, "sourceRowsAtEnd": 2}}
    objects = {"schema.1-cron.sql": _chunked(schema, 16), "tables/0000.1-cron.sql": _chunked(rows, 36)}
    folder = _layout(tmp_path, "core", NEWER, rows=rows, tables=tables, objects=objects)
    if tamper:
        (folder / "tables/0000.1-cron.sql").write_text(tamper(rows))
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    if expected is None:
        assert status == 0 and (tmp_path / "o.sql").read_text() == schema + rows, text
    else:
        assert (status, text) == (1, f"restore refused: {folder}/{expected}\n")


def test_an_object_that_ends_inside_a_statement_is_refused(tmp_path: Path) -> None:
    # Its hashes match (the object was written so), but its last statement never ends: the load says so.
    rows = "INSERT INTO items VALUES (1, 'a');\nINSERT INTO items VALUES (2, 'unfinish"
    folder = _layout(tmp_path, "core", NEWER, rows=rows)
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, f"restore refused: {folder}/tables/0000.1-cron.sql: ends inside a statement; the "
                                 "backup is refused\n")


@pytest.mark.parametrize("rows, problem", [
    ("INSERT INTO nope VALUES (1);\n", "no such table: nope"),
    ("INSERT INTO items VALUES (1, X'0\n1');\n", "unrecognized token: \"X'0 1'\""),  # SQLite quotes across lines
    # SQLite quotes the row's data it stopped at: at most 120 characters of its message reach a terminal or a CI
    # log; a message of exactly 120 is shown whole
    ("INSERT INTO items VALUES (1 '" + "n" * 2000 + "');\n", 'near "\'' + "n" * 113 + "…"),
    ("INSERT INTO items VALUES (1 '" + "n" * 97 + "');\n", 'near "\'' + "n" * 97 + "'\": syntax error"),
    ("INSERT INTO items VALUES (1 '" + "n" * 98 + "');\n", 'near "\'' + "n" * 98 + "'\": syntax erro…"),
])
def test_sql_that_does_not_load_is_refused_in_one_line_naming_its_object(tmp_path: Path, rows: str,
                                                                          problem: str) -> None:
    folder = _layout(tmp_path, "core", NEWER, rows=rows)
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, f"restore refused: {folder}/tables/0000.1-cron.sql: does not load: {problem}\n")


@pytest.mark.parametrize("output", ["folder", "/dev/null"])
def test_an_output_that_is_not_a_regular_file_is_never_replaced(tmp_path: Path, output: str) -> None:
    # The SQL file is built beside its name and renamed over it: never over a folder or a device.
    _layout(tmp_path, "core", NEWER)
    target = tmp_path if output == "folder" else Path(output)
    status, text = _restore(tmp_path, target, "--database", "core")
    assert (status, text) == (2, f"{target}: not a regular file; --output writes a new SQL file or replaces one")
    assert target.is_dir() if output == "folder" else target.is_char_device()
    assert not Path(f"{target}.partial").exists()


def test_a_refusal_in_the_c_locale_is_one_line_and_exit_1(tmp_path: Path) -> None:
    # The C locale's ASCII cannot write "Grüße": the console script escapes it instead of failing on it.
    _layout(tmp_path, "core", NEWER, rows="INSERT INTO items VALUES (2 'Grüße');\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    env.pop("PYTHONIOENCODING", None)
    done = subprocess.run(["parsify-infra", "restore", "--source", str(tmp_path), "--database", "core", "--output",
                           str(tmp_path / "o.sql")], capture_output=True, env=env, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stdout.endswith(b": does not load: near \"'Gr\\xfc\\xdfe'\": syntax error\n"), done.stdout


def test_a_table_whose_name_holds_a_double_quote_is_counted(tmp_path: Path) -> None:
    # SQLite quotes an identifier with "" for each " in it (sqlite.org/lang_keywords.html); the Worker exports any name.
    schema = 'CREATE TABLE "say ""hi""" (id INTEGER PRIMARY KEY);\n'
    tables = {'say "hi"': {"object": "tables/0000.1-cron.sql", "rows": 2, "sourceRows": 2, "sourceRowsAtEnd": 2}}
    _layout(tmp_path, "core", NEWER, schema=schema, rows='INSERT INTO "say ""hi""" VALUES (1), (2);\n', tables=tables)
    assert restore(tmp_path, "core").tables == {'say "hi"': 2}


def test_a_table_the_manifest_lists_but_the_sql_never_creates_is_refused(tmp_path: Path) -> None:
    tables = {"items": {"object": "tables/0000.1-cron.sql", "rows": 1, "sourceRows": 1, "sourceRowsAtEnd": 1},
              "ghosts": {"object": "tables/0000.1-cron.sql", "rows": 0, "sourceRows": 0, "sourceRowsAtEnd": 0}}
    _layout(tmp_path, "core", NEWER, tables=tables)
    status, text = _restore(tmp_path, tmp_path / "o.sql", "--database", "core")
    assert (status, text) == (1, "restore refused: the backup's SQL does not load: no such table: ghosts\n")
