"""Restoring a D1 backup written by `workers/backup`: choose, verify, rebuild as SQL, optionally apply.

The source is a local mirror of the backup bucket (same key layout), e.g. made with
`rclone copy r2:parsify-prod-backups/backups/core ./mirror/backups/core`. Nothing is reported as
restored before every object matches its manifest (size, SHA-256 per chunk) and every table's row
count matches too; a backup without a manifest is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlean as sqlite3  # type: ignore[import-untyped]  # SQLite 3.50, the generation D1 runs (README: libraries)
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, ValidationError

from parsify_infra.errors import InputError
from parsify_infra.jsonfile import read_json

# Names as the backup Worker writes them (workers/backup/index.js): databaseName() of a DB_ binding, backupId() of
# the cron's time (toISOString with ':' and '.' as '-'), and object keys under the backup's prefix (schema, post,
# tables/NNNN). Anything else in a path could name a folder outside the backup, so it is refused.
DATABASE_NAME = r"[a-z0-9][a-z0-9-]*"
BACKUP_ID = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z"
ObjectName = Annotated[str, StringConstraints(pattern=r"^(tables/)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")]


class RestoreRefused(Exception):
    """The backup is incomplete or does not match its manifest: exit status 1, one line."""


@dataclass
class Backup:
    database: str
    backup_id: str
    directory: Path
    manifest: dict[str, Any]


class _ObjectEntry(BaseModel):
    bytes: int = Field(ge=0)
    chunkBytes: int = Field(ge=1)
    chunks: list[str]


class TableRecord(BaseModel):
    """One table of a backup (format 3): where its rows are, how many, and the source's count at the bound
    at the start and at the end of the run (workers/backup/index.js tableRecord)."""

    model_config = ConfigDict(extra="allow")
    object: str | None
    rows: int = Field(ge=0)
    sourceRows: int = Field(ge=0)
    sourceRowsAtEnd: int = Field(ge=0)
    external: bool = False


class _Manifest(BaseModel):
    """The keys restore relies on (the Worker writes more)."""

    model_config = ConfigDict(extra="allow")
    format: Literal["parsify-d1-backup/3"]
    database: str
    backupId: str
    complete: StrictBool  # the Worker writes a JSON boolean: "false" or 1 is no verdict on the backup
    load: list[str] = Field(min_length=1)  # each one among the objects, checked below
    tables: dict[str, TableRecord]
    objects: dict[ObjectName, _ObjectEntry]


def count_problem(name: str, record: TableRecord) -> str | None:
    """The Worker's rule (countProblem in workers/backup/index.js), checked again on what was downloaded:
    a table nobody wrote to during the run has exactly the source's row count in its export."""
    if record.external:
        return None
    if record.sourceRows == record.sourceRowsAtEnd and record.rows != record.sourceRows:
        return (f"table {name}: {record.rows} rows exported, but the source had {record.sourceRows} at the bound "
                "and was not written during the run")
    return None


def _manifest(directory: Path, database: str) -> dict[str, Any] | None:
    """The manifest of the backup in `directory` (None when there is none), refused when it is malformed or
    describes another backup than the folder it is in (a mirror copied into the wrong folder)."""
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = read_json(path)
        parsed = _Manifest.model_validate(data)
    except InputError as exc:
        raise RestoreRefused(f"{exc}; refusing this backup") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        # A bad object name fails as the key of `objects` (loc: objects, the name, "[key]"), not as a value.
        problem = (f"key {loc[0]}: {loc[1]!r} is not an object name the backup Worker writes" if loc[-1:] == ["[key]"]
                   else f"key {'.'.join(loc) or '(top level)'}: {first['msg']}")
        raise RestoreRefused(f"{path}: {problem}; the manifest is malformed and the backup is refused") from None
    for name in parsed.load:
        if name not in parsed.objects:
            raise RestoreRefused(f"{path}: key load: {name} is not among the manifest's objects; the backup is refused")
    for key, found, expected in (("database", parsed.database, database),
                                 ("backupId", parsed.backupId, directory.name)):
        if found != expected:
            raise RestoreRefused(f"{path}: key {key}: this manifest is of {found}, not {expected}; the backup is "
                                 "refused (was the mirror copied into the wrong folder?)")
    return dict(data)


def find_backup(source: Path, database: str, on_date: str | None = None, backup_id: str | None = None) -> Backup:
    """The requested backup, or the latest complete one (of `on_date` when given)."""
    if not source.is_dir():
        raise InputError(f"{source}: no such folder (--source is the folder that holds backups/)")
    for option, value, pattern in (("--database", database, DATABASE_NAME), ("--backup-id", backup_id, BACKUP_ID)):
        if value is not None and not re.fullmatch(pattern, value):
            raise InputError(f"{option} {value!r}: not a name the backup Worker writes (it must match {pattern})")
    base = source / "backups" / database
    if not base.is_dir():
        held = sorted(p.name for p in (source / "backups").iterdir()) if (source / "backups").is_dir() else []
        raise InputError(f"{base}: no backups of database '{database}' in {source} (--source is the folder that "
                         f"holds backups/; it holds {', '.join(held) or 'no databases'})")
    if backup_id:
        directory = base / backup_id
        if not directory.is_dir():
            raise InputError(f"{directory}: no such backup")
        manifest = _manifest(directory, database)
        if manifest is None or not manifest.get("complete"):
            raise RestoreRefused(f"{directory}: no complete manifest.json; the backup is incomplete and is refused")
        return Backup(database, backup_id, directory, manifest)
    # Only folders named as the Worker names a backup: a planted "<id> " sorts after the real one.
    backups = (d for d in base.iterdir() if d.is_dir() and re.fullmatch(BACKUP_ID, d.name))
    for directory in sorted(backups, reverse=True):
        if on_date and not directory.name.startswith(on_date):
            continue
        manifest = _manifest(directory, database)
        if manifest and manifest.get("complete"):
            return Backup(database, directory.name, directory, manifest)
    when = f" from {on_date}" if on_date else ""
    days = sorted({d.name[:10] for d in base.iterdir() if d.is_dir()})
    if on_date and on_date not in days:
        raise RestoreRefused(f"{base}: no backup from {on_date}; backups exist for {', '.join(days[-5:]) or 'no day'}")
    raise RestoreRefused(f"{base}: no complete backup{when} (none has a manifest marked complete)")


def verify_objects(backup: Backup) -> None:
    """Every table's count rule, then every object's size and the SHA-256 of each chunk, read one chunk at a
    time (1 GB backups)."""
    for table, record in backup.manifest["tables"].items():
        if problem := count_problem(table, TableRecord.model_validate(record)):
            raise RestoreRefused(f"{backup.directory}: {problem}")
    for name, meta in backup.manifest["objects"].items():
        path = backup.directory / name
        if not path.is_file():
            raise RestoreRefused(f"{path}: missing, but listed in the manifest")
        if not path.resolve().is_relative_to(backup.directory.resolve()):  # a link to another backup's file
            raise RestoreRefused(f"{path}: a link to {path.resolve()}, outside the backup; the backup is refused")
        size = path.stat().st_size
        if size != meta["bytes"]:
            raise RestoreRefused(f"{path}: {size} bytes, the manifest says {meta['bytes']}")
        with path.open("rb") as stream:
            for index, digest in enumerate(meta["chunks"]):
                if hashlib.sha256(stream.read(meta["chunkBytes"])).hexdigest() != digest:
                    raise RestoreRefused(f"{path}: chunk {index + 1} does not match its SHA-256 in the manifest")


BLOCK_BYTES = 8 * 1024 * 1024


def sql_blocks(path: Path) -> Iterator[str]:
    """The file's SQL in blocks of about 8 MiB, each ending on a complete statement (a text value may hold
    ';\n' itself, so SQLite's own tokenizer decides), so a restore never holds a whole table in memory."""
    pending = b""
    with path.open("rb") as stream:
        while data := stream.read(BLOCK_BYTES):
            pending += data
            cut = pending.rfind(b";\n")
            while cut != -1:
                text = pending[:cut + 2].decode("utf-8")
                if sqlite3.complete_statement(text):
                    yield text
                    pending = pending[cut + 2:]
                    break
                cut = pending.rfind(b";\n", 0, cut)
    if pending.strip():
        yield pending.decode("utf-8")  # an incomplete last statement: loading it fails, as it must


D1_STATEMENT_BYTES = 100_000  # D1's limit on the length of one SQL statement


def long_statements(block: str) -> int:
    """How many statements of a block exceed D1's statement limit, so `wrangler d1 execute` would refuse
    them (the Worker writes large values in pieces, so a backup has none; the SQLite restore is unaffected)."""
    # Every statement of a backup ends with ";\n". A text value may hold ";\n" too: pieces are joined until
    # SQLite's tokenizer sees a complete statement. Only a statement over a quarter of the limit in characters
    # can exceed it in UTF-8 bytes.
    count, statement = 0, ""
    for piece in block.split(";\n"):
        statement += piece + ";\n"
        if sqlite3.complete_statement(statement):
            count += len(statement) * 4 > D1_STATEMENT_BYTES and len(statement[:-2].encode()) > D1_STATEMENT_BYTES
            statement = ""
    return count


ERROR_CHARACTERS = 120  # SQLite quotes the text it stopped at: a row's data, which may be long or confidential


def _one_line(exc: Exception) -> str:
    """SQLite's message as one line (it quotes text across new lines), cut short after ERROR_CHARACTERS."""
    text = " ".join(str(exc).split())
    return text if len(text) <= ERROR_CHARACTERS else text[:ERROR_CHARACTERS] + "…"


def load_and_count(backup: Backup, database: str, output: Path | None) -> dict[str, int]:
    """Load the backup into `database` (an empty file, or ":memory:"), writing the SQL to `output` on the way,
    then check foreign keys and each table's row count against the manifest. One pass serves the check and
    the restore. Returns, per object, the statements too long for D1."""
    connection = sqlite3.connect(database, isolation_level=None)
    sink = output.open("w", encoding="utf-8") if output else None
    try:
        # The file is built beside its final name and renamed only when complete: no journal needed.
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        too_long: dict[str, int] = {}
        for name in backup.manifest["load"]:
            try:
                for block in sql_blocks(backup.directory / name):
                    if not sqlite3.complete_statement(block):  # only the last block can be: the object is cut short
                        raise RestoreRefused(f"{backup.directory / name}: ends inside a statement; the backup is "
                                             "refused")
                    connection.executescript(f"BEGIN;\n{block}\nCOMMIT;")
                    if sink:
                        sink.write(block)
                    if count := long_statements(block):
                        too_long[name] = too_long.get(name, 0) + count
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise RestoreRefused(f"{backup.directory / name}: does not load: {_one_line(exc)}") from None
        # D1 enforces foreign keys; the SQL defers them to the end of its load (D1's import guidance). Loaded
        # here in blocks with them off, the same check is made once at the end.
        if violation := connection.execute("PRAGMA foreign_key_check").fetchone():
            # A WITHOUT ROWID table has no rowid to name (sqlite.org/pragma.html#pragma_foreign_key_check).
            row = "a row" if violation[1] is None else f"row {violation[1]}"
            raise RestoreRefused(f"table {violation[0]}: {row} references a missing row of {violation[2]}; the "
                                 "backup breaks a foreign key")
        for table, record in backup.manifest["tables"].items():
            if record.get("object") is None:  # an external-content FTS table: its rows are another table's
                continue
            quoted = '"' + table.replace('"', '""') + '"'
            (count,) = connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()
            if count != record["rows"]:
                raise RestoreRefused(f"table {table}: {count} rows in the backup, the manifest says {record['rows']}")
        return too_long
    except sqlite3.Error as exc:
        raise RestoreRefused(f"the backup's SQL does not load: {_one_line(exc)}") from None
    finally:
        connection.close()
        if sink:
            sink.close()


@dataclass
class RestoreReport:
    database: str
    backup_id: str
    tables: dict[str, int]
    output: str | None
    sqlite: str | None
    seconds: float
    too_long_for_d1: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "backupId": self.backup_id, "tables": self.tables,
                "rows": sum(self.tables.values()), "output": self.output, "sqlite": self.sqlite,
                "seconds": round(self.seconds, 3), "verified": True,
                "statementsTooLongForD1": self.too_long_for_d1}


def _partial(target: Path) -> Path:
    """Where a result is built: beside its final name, renamed to it only when complete."""
    return target.with_name(target.name + ".partial")


def restore(source: Path, database: str, on_date: str | None = None, backup_id: str | None = None,
            output: Path | None = None, into_sqlite: Path | None = None) -> RestoreReport:
    started = time.perf_counter()
    # Where the results go is checked before anything is read: verifying a large backup takes minutes.
    if into_sqlite is not None and into_sqlite.exists():
        raise InputError(f"{into_sqlite}: already exists; restore into a new database file")
    if output is not None and output.exists() and not output.is_file():  # a folder, /dev/null: never renamed over
        raise InputError(f"{output}: not a regular file; --output writes a new SQL file or replaces one")
    targets = [target for target in (into_sqlite, output) if target is not None]
    for target in targets:
        if not target.parent.is_dir():
            raise InputError(f"{target}: its folder {target.parent} does not exist")
    # Never a half-restored database or SQL file under its name.
    try:
        for target in targets:
            try:
                _partial(target).unlink(missing_ok=True)  # left by a restore that was killed
                _partial(target).touch()
            except OSError as exc:
                raise InputError(f"{target}: cannot be written ({exc.strerror or exc})") from None
        backup = find_backup(source, database, on_date, backup_id)
        verify_objects(backup)
        too_long = load_and_count(backup, str(_partial(into_sqlite)) if into_sqlite else ":memory:",
                                  _partial(output) if output else None)
    except BaseException:
        for target in targets:
            with contextlib.suppress(OSError):  # the error being raised says what went wrong, not this clean-up
                _partial(target).unlink()
        raise
    for target in targets:
        _partial(target).rename(target)
    return RestoreReport(database, backup.backup_id,
                         {name: record["rows"] for name, record in backup.manifest["tables"].items()},
                         str(output) if output else None, str(into_sqlite) if into_sqlite else None,
                         time.perf_counter() - started, too_long)
