"""Restoring a D1 backup written by `workers/backup`: choose, verify, rebuild as SQL, optionally apply.

The source is a local mirror of the backup bucket (same key layout), e.g. made with
`rclone copy r2:parsify-prod-backups/backups/core ./mirror/backups/core`. Nothing is reported as
restored before every object matches its manifest (size, SHA-256 per chunk) and every table's row
count matches too; a backup without a manifest is refused.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parsify_infra.errors import InputError
from parsify_infra.jsonfile import read_json


class RestoreRefused(Exception):
    """The backup is incomplete or does not match its manifest: exit status 1, one line."""


@dataclass
class Backup:
    database: str
    backup_id: str
    directory: Path
    manifest: dict[str, Any]


def _manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except InputError as exc:
        raise RestoreRefused(f"{exc}; refusing this backup") from None
    return data if isinstance(data, dict) else None


def find_backup(source: Path, database: str, on_date: str | None = None, backup_id: str | None = None) -> Backup:
    """The requested backup, or the latest complete one (of `on_date` when given)."""
    base = source / "backups" / database
    if not base.is_dir():
        raise InputError(f"{base}: no backups of database '{database}' in {source}")
    if backup_id:
        directory = base / backup_id
        if not directory.is_dir():
            raise InputError(f"{directory}: no such backup")
        manifest = _manifest(directory)
        if manifest is None or not manifest.get("complete"):
            raise RestoreRefused(f"{directory}: no complete manifest.json; the backup is incomplete and is refused")
        return Backup(database, backup_id, directory, manifest)
    for directory in sorted((d for d in base.iterdir() if d.is_dir()), reverse=True):
        if on_date and not directory.name.startswith(on_date):
            continue
        manifest = _manifest(directory)
        if manifest and manifest.get("complete"):
            return Backup(database, directory.name, directory, manifest)
    when = f" from {on_date}" if on_date else ""
    raise RestoreRefused(f"{base}: no complete backup{when} (every candidate lacks a manifest)")


def verify_objects(backup: Backup) -> None:
    for name, meta in backup.manifest["objects"].items():
        path = backup.directory / name
        if not path.is_file():
            raise RestoreRefused(f"{path}: missing, but listed in the manifest")
        data = path.read_bytes()
        if len(data) != meta["bytes"]:
            raise RestoreRefused(f"{path}: {len(data)} bytes, the manifest says {meta['bytes']}")
        size = meta["chunkBytes"]
        for index, digest in enumerate(meta["chunks"]):
            if hashlib.sha256(data[index * size:(index + 1) * size]).hexdigest() != digest:
                raise RestoreRefused(f"{path}: chunk {index + 1} does not match its SHA-256 in the manifest")


def backup_sql(backup: Backup) -> str:
    """Schema first, then every table: a file `wrangler d1 execute --file` and the D1 import API accept."""
    parts = [(backup.directory / "schema.sql").read_text(encoding="utf-8")]
    parts += [(backup.directory / "tables" / f"{table}.sql").read_text(encoding="utf-8")
              for table in backup.manifest["tables"]]
    return "".join(parts)


def apply_sql(sql: str, connection: sqlite3.Connection) -> None:
    connection.executescript(f"BEGIN;\n{sql}\nCOMMIT;")


def load_and_count(sql: str, manifest: dict[str, Any], database: str) -> None:
    """Load the SQL into `database` (a path, or ":memory:") and check each table's row count against the
    manifest. One load serves both the check and the restore."""
    connection = sqlite3.connect(database)
    try:
        apply_sql(sql, connection)
        for table, expected in manifest["tables"].items():
            quoted = '"' + table.replace('"', '""') + '"'
            (count,) = connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()
            if count != expected:
                raise RestoreRefused(f"table {table}: {count} rows in the backup, the manifest says {expected}")
    except sqlite3.Error as exc:
        raise RestoreRefused(f"the backup's SQL does not load: {exc}") from None
    finally:
        connection.close()


@dataclass
class RestoreReport:
    database: str
    backup_id: str
    tables: dict[str, int]
    output: str | None
    sqlite: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "backupId": self.backup_id, "tables": self.tables,
                "rows": sum(self.tables.values()), "output": self.output, "sqlite": self.sqlite,
                "seconds": round(self.seconds, 3), "verified": True}


def restore(source: Path, database: str, on_date: str | None = None, backup_id: str | None = None,
            output: Path | None = None, into_sqlite: Path | None = None) -> RestoreReport:
    started = time.perf_counter()
    backup = find_backup(source, database, on_date, backup_id)
    verify_objects(backup)
    sql = backup_sql(backup)
    if into_sqlite is None:
        load_and_count(sql, backup.manifest, ":memory:")
    else:
        if into_sqlite.exists():
            raise InputError(f"{into_sqlite}: already exists; restore into a new database file")
        # Build beside the target and rename at the end: never a half-restored database under its name.
        partial = into_sqlite.with_name(into_sqlite.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            load_and_count(sql, backup.manifest, str(partial))
        except RestoreRefused:
            partial.unlink(missing_ok=True)
            raise
        partial.rename(into_sqlite)
    if output is not None:
        output.write_text(sql, encoding="utf-8")
    return RestoreReport(database, backup.backup_id, dict(backup.manifest["tables"]),
                         str(output) if output else None, str(into_sqlite) if into_sqlite else None,
                         time.perf_counter() - started)
