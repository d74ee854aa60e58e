"""The restore drill: back up a seeded database on the local Workers runtime, restore it, compare
every table row for row, and report the recovery time (the handbook's monthly backup test)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parsify_infra.errors import InputError
from parsify_infra.restore import RestoreRefused, restore

RTO_SECONDS = 3600  # the handbook: recovery in under one hour
D1_MAX_COLUMNS = 100  # "Maximum number of columns per table" (d1/platform/limits; ../shared/reference section 5)
SEED_TABLES = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, plan TEXT, created TEXT);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                       amount_cents INTEGER, currency TEXT, memo TEXT);
CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT, kind TEXT, payload BLOB, score REAL);
CREATE INDEX invoices_customer ON invoices(customer_id);
"""


def seed_database(path: Path, rows: int, payload_bytes: int = 64) -> None:
    """A deterministic database of about `rows` rows in three tables: quotes, unicode, NULLs, BLOBs,
    reals and a foreign key, generated inside SQLite (fast enough for a 1 GB benchmark)."""
    customers = max(1, rows // 10)
    invoices = max(1, rows * 4 // 10)
    events = max(1, rows - customers - invoices)
    connection = sqlite3.connect(path)
    connection.executescript(SEED_TABLES + f"""
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {customers})
    INSERT INTO customers SELECT i, 'customer' || i || '@example.com',
      CASE WHEN i % 9 = 0 THEN NULL ELSE 'O''Brien "' || i || '" — ünïcode' END,
      CASE i % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'pro' ELSE 'team' END, date('2024-01-01', '+' || (i % 700) || ' days')
    FROM n;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {invoices})
    INSERT INTO invoices SELECT i, 1 + (i % {customers}), i * 37 % 100000, 'EUR',
      'line one' || char(10) || 'line two; -- not a comment ' || i FROM n;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {events})
    INSERT INTO events SELECT i, datetime('2026-01-01', '+' || i || ' seconds'), 'kind' || (i % 17),
      CASE WHEN i % 4 = 0 THEN NULL ELSE randomblob({payload_bytes}) END, i / 7.0 FROM n;
    """)
    connection.commit()
    connection.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# What a backup carries: SQLite's own tables (sqlite_*) and D1's (_cf_*) are not the application's.
_APP_OBJECTS = ("SELECT m.type, m.name, m.tbl_name, m.sql, l.type FROM {db}.sqlite_schema AS m "
                "LEFT JOIN pragma_table_list AS l ON l.schema = '{db}' AND l.name = m.name "
                "WHERE substr(m.name, 1, 7) <> 'sqlite_' AND substr(m.name, 1, 4) <> '_cf_' AND m.sql IS NOT NULL "
                "ORDER BY m.rowid")


def _objects(connection: sqlite3.Connection, db: str = "main") -> list[tuple[str, str, str, str, str | None]]:
    return connection.execute(_APP_OBJECTS.format(db=db)).fetchall()


def _columns(connection: sqlite3.Connection, table: str, db: str = "main") -> list[str]:
    # table_info leaves out generated columns, which cannot be inserted.
    return [row[1] for row in connection.execute(f"SELECT * FROM pragma_table_info(?, '{db}')", (table,))]


def _own_content_fts(sql: str) -> bool:
    """An FTS5 table that stores its own text (not content='' or an external content table)."""
    return "content=" not in sql.replace(" ", "").lower()


def copy_into(seed: Path, target: Path) -> None:
    """Copy a SQLite database into the local D1 database file (miniflare stopped), as D1 would hold it after
    an import: tables (and FTS5 tables with their text, never their shadow tables), rows, AUTOINCREMENT
    counters, then indexes, views and triggers (so no trigger fires on the copy)."""
    connection = sqlite3.connect(target)
    try:
        connection.execute("ATTACH DATABASE ? AS seed", (str(seed),))
        objects = _objects(connection, "seed")
        tables = [o for o in objects if o[0] == "table" and o[4] in ("table", "virtual")]
        for _, _, _, sql, _ in tables:
            connection.execute(sql)
        for _, name, _, sql, kind in tables:
            if kind == "virtual" and not _own_content_fts(sql):
                continue
            columns = _columns(connection, name, "seed")
            listed = ", ".join(["rowid"] * (kind == "virtual") + [_quote(c) for c in columns])
            connection.execute(f"INSERT INTO main.{_quote(name)} ({listed}) SELECT {listed} FROM seed.{_quote(name)}")
        if connection.execute("SELECT 1 FROM seed.sqlite_schema WHERE name = 'sqlite_sequence'").fetchone():
            connection.execute("DELETE FROM main.sqlite_sequence")
            connection.execute("INSERT INTO main.sqlite_sequence SELECT * FROM seed.sqlite_sequence")
        for kind in ("index", "view", "trigger"):
            for _, _, _, sql, _ in (o for o in objects if o[0] == kind):
                connection.execute(sql)
        for _, name, _, sql, kind in tables:
            if kind == "virtual" and not _own_content_fts(sql) and "content=''" not in sql.replace(" ", "").lower():
                connection.execute(f"INSERT INTO main.{_quote(name)} ({_quote(name)}) VALUES ('rebuild')")
        connection.commit()
    except sqlite3.Error as exc:
        raise InputError(f"{seed}: cannot be copied into the local D1 database: {exc}") from None
    finally:
        connection.close()


def _node(workers: Path, *argv: str) -> dict[str, Any]:
    if not (workers / "node_modules" / "miniflare").is_dir():
        raise InputError(f"{workers}/node_modules: miniflare is not installed; run `make drill` once "
                         "(npm ci in workers/) first")
    result = subprocess.run(["node", str(workers / "drill" / "run-backup.mjs"), *argv], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        reason = next((line.strip() for line in lines if "Error" in line), lines[-1] if lines else "no output")
        raise InputError(f"the local Workers runtime failed: {reason}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@dataclass
class TableComparison:
    name: str
    source_rows: int
    restored_rows: int
    difference: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.name, "sourceRows": self.source_rows, "restoredRows": self.restored_rows,
                "identical": self.difference is None, "difference": self.difference}


def _rows(connection: sqlite3.Connection, table: str, columns: list[str], virtual: bool) -> list[tuple[Any, ...]]:
    """Every row, in an order that does not depend on how it was loaded: a virtual table's rowid is part of
    its content; a table's rows are compared as a sorted multiset of their columns (rowids of tables
    without an INTEGER PRIMARY KEY are not data, as `sqlite3 .dump` treats them)."""
    listed = ", ".join(["rowid"] * virtual + [_quote(c) for c in columns]) or "rowid"
    order = ", ".join(str(i + 1) for i in range(len(columns) + virtual)) or "1"
    # Text is compared as the bytes it holds: a value that is not valid UTF-8 is data too.
    connection.text_factory = bytes
    try:
        return connection.execute(f"SELECT {listed} FROM {_quote(table)} ORDER BY {order}").fetchall()
    finally:
        connection.text_factory = str


def _first_difference(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> str | None:
    if a == b:
        return None
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    source, restored = (repr(rows[first])[:200] if first < len(rows) else "no row" for rows in (a, b))
    return f"sorted row {first + 1}: source {source}, restored {restored}"


def compare_databases(expected: Path, actual: Path) -> tuple[list[str], list[TableComparison]]:
    """Every object (tables, indexes, views, triggers, by name and SQL), the AUTOINCREMENT counters and
    every row of every table. Returns the object differences and a comparison per table."""
    left, right = sqlite3.connect(expected), sqlite3.connect(actual)
    try:
        source = {(o[0], o[1]): o for o in _objects(left)}
        restored = {(o[0], o[1]): o for o in _objects(right)}
        problems = [f"{kind} {name}: missing from the restore" for kind, name in source.keys() - restored.keys()]
        problems += [f"{kind} {name}: not in the source" for kind, name in restored.keys() - source.keys()]
        # SQLite keeps an object's SQL as written; whitespace after its last token is not part of it.
        problems += [f"{key[0]} {key[1]}: its SQL differs" for key in source.keys() & restored.keys()
                     if source[key][3].rstrip() != restored[key][3].rstrip()]
        sequence = "SELECT name, seq FROM sqlite_sequence ORDER BY name"
        has_sequence = [c.execute("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'").fetchone()
                        for c in (left, right)]
        if has_sequence[0] and (not has_sequence[1] or
                                left.execute(sequence).fetchall() != right.execute(sequence).fetchall()):
            problems.append("sqlite_sequence: the AUTOINCREMENT counters differ")
        tables = []
        for (kind, name), (_, _, _, _, table_kind) in sorted(source.items()):
            if kind != "table" or table_kind not in ("table", "virtual") or (kind, name) not in restored:
                continue
            virtual = table_kind == "virtual"
            columns = _columns(left, name)
            a, b = _rows(left, name, columns, virtual), _rows(right, name, columns, virtual)
            tables.append(TableComparison(name, len(a), len(b), _first_difference(a, b)))
    finally:
        left.close()
        right.close()
    return problems, tables


@dataclass
class DrillReport:
    source: str
    database_bytes: int
    backup_seconds: float
    backup_invocations: int
    restore_seconds: float
    problems: list[str]
    tables: list[TableComparison]
    # The afternoon verification of the backup on workerd: seconds, and workerd's resident memory before it
    # and at its peak (bench/backup_bench.py reports them against a Worker's 128 MB).
    verification: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        return sum(t.restored_rows for t in self.tables)

    @property
    def identical(self) -> bool:
        return not self.problems and all(t.difference is None for t in self.tables)

    @property
    def passed(self) -> bool:
        return self.identical and self.restore_seconds < RTO_SECONDS

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "identical": self.identical, "source": self.source, "rows": self.rows,
                "tables": [t.as_dict() for t in self.tables], "databaseBytes": self.database_bytes,
                "backupSeconds": round(self.backup_seconds, 3), "backupInvocations": self.backup_invocations,
                "restoreSeconds": round(self.restore_seconds, 3), "recoveryTimeSeconds": round(self.restore_seconds, 3),
                "rtoSeconds": RTO_SECONDS, "problems": self.problems}

    def text(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"Restore drill {verdict} ({self.source}): {len(self.tables)} "
                 f"table{'' if len(self.tables) == 1 else 's'} restored, {self.rows:,} rows, "
                 f"{self.database_bytes / 1e6:.1f} MB.",
                 f"  backup on the local Workers runtime: {self.backup_seconds:.2f} s "
                 f"({self.backup_invocations} invocation{'' if self.backup_invocations == 1 else 's'})",
                 f"  restore (verify manifest and checksums, rebuild, apply, count): {self.restore_seconds:.2f} s",
                 f"  recovery time: {self.restore_seconds:.2f} s (handbook target: under {RTO_SECONDS // 60} minutes)",
                 "  objects (tables, indexes, views, triggers, AUTOINCREMENT counters): "
                 + ("identical" if not self.problems else "; ".join(self.problems))]
        width = max((len(t.name) for t in self.tables), default=5)
        lines += [f"  {t.name:<{width}}  {t.source_rows:>10,} rows  "
                  + ("identical" if t.difference is None else f"DIFFERENT: {t.difference}") for t in self.tables]
        return "\n".join(lines) + "\n"


def run_drill(workers: Path, rows: int = 50_000, payload_bytes: int = 64, workdir: Path | None = None,
              from_sqlite: Path | None = None, restored: Path | None = None,
              keep_backup: Path | None = None) -> DrillReport:
    """Back up a database on the local Workers runtime (a seeded one, or a copy of `from_sqlite`), restore
    it, and compare every object and row with the source. `restored` keeps the restored database."""
    if from_sqlite is not None:
        _check_source(from_sqlite)
    if restored is not None and restored.exists():
        raise InputError(f"{restored}: already exists; the drill writes the restored database to a new file")
    if restored is not None and not restored.parent.is_dir():
        raise InputError(f"{restored}: its folder {restored.parent} does not exist")
    if keep_backup is not None and keep_backup.exists():
        raise InputError(f"{keep_backup}: already exists; --keep-backup writes the backup to a new folder")
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="parsify-drill-")) if own else workdir
    assert work is not None
    try:
        seed = from_sqlite or work / "seed.sqlite"
        if from_sqlite is None:
            seed_database(seed, rows, payload_bytes)
        persist = work / "persist"
        copy_into(seed, Path(_node(workers, "init", str(persist))["sqlite"]))
        backup = _node(workers, "backup", str(persist), str(work / "mirror"))
        if keep_backup is not None:
            shutil.copytree(work / "mirror", keep_backup)
        source = str(from_sqlite) if from_sqlite else f"a seeded database of {rows:,} rows"
        size = seed.stat().st_size
        if backup["status"] != "complete" or backup.get("failures"):
            reasons = [f["error"] for f in backup.get("failures") or []] or [str(backup.get("error"))]
            state = "is incomplete" if backup["status"] == "complete" else f"run ended {backup['status']}"
            return DrillReport(source, size, backup["seconds"], backup.get("invocations", 0), 0.0,
                               [f"the backup of the copy (database 'core') {state}, so nothing was restored"
                                f"{' and ' + str(restored) + ' was not written' if restored else ''}: "
                                f"{'; '.join(reasons)} (README, Backups: known limits)"], [])
        target = work / "restored.sqlite"
        started = time.perf_counter()
        try:
            restore(work / "mirror", "core", into_sqlite=target)
        except RestoreRefused as exc:
            return DrillReport(source, size, backup["seconds"], backup["invocations"], 0.0,
                               [f"the restore refused the backup: {exc}"], [])
        restore_seconds = time.perf_counter() - started
        problems, tables = compare_databases(seed, target)
        if restored is not None:
            shutil.copyfile(target, restored)
        return DrillReport(source, size, backup["seconds"], backup["invocations"], restore_seconds, problems, tables,
                           backup.get("verification"))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _check_source(path: Path) -> None:
    """A readable SQLite database, or one line naming the file (exit 2)."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; --from-sqlite takes a SQLite database file")
    if not path.is_file():
        raise InputError(f"{path}: no such file (--from-sqlite takes a SQLite database, e.g. one made from "
                         "`wrangler d1 export`)")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
            wide = connection.execute(
                "SELECT m.name, count(*) FROM sqlite_schema AS m, pragma_table_info(m.name) AS c "
                "WHERE m.type = 'table' GROUP BY m.name HAVING count(*) > ? LIMIT 1", (D1_MAX_COLUMNS,)).fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise InputError(f"{path}: not a SQLite database ({exc})") from None
    if wide:
        raise InputError(f"{path}: table {wide[0]} has {wide[1]} columns; D1 allows {D1_MAX_COLUMNS}, so this database "
                         "cannot be a copy of a D1 database")
