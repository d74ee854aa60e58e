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
from itertools import zip_longest
from pathlib import Path
from typing import Any

from parsify_infra.errors import InputError
from parsify_infra.restore import restore

RTO_SECONDS = 3600  # the handbook: recovery in under one hour
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


def copy_into(seed: Path, target: Path) -> None:
    """Copy the seed's tables and indexes into the local D1 database file (miniflare stopped)."""
    connection = sqlite3.connect(target)
    connection.execute("ATTACH DATABASE ? AS seed", (str(seed),))
    objects = connection.execute("SELECT type, name, sql FROM seed.sqlite_master WHERE sql IS NOT NULL "
                                 "ORDER BY type = 'table' DESC").fetchall()
    for kind, name, sql in objects:
        connection.execute(sql)
        if kind == "table":
            connection.execute(f'INSERT INTO main."{name}" SELECT * FROM seed."{name}"')
    connection.commit()
    connection.close()


def _node(workers: Path, *argv: str) -> dict[str, Any]:
    if not (workers / "node_modules" / "miniflare").is_dir():
        raise InputError(f"{workers}/node_modules: miniflare is not installed; run `make test-workers` "
                         "(npm ci in workers/) first")
    result = subprocess.run(["node", str(workers / "drill" / "run-backup.mjs"), *argv], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        reason = next((line.strip() for line in lines if "Error" in line), lines[-1] if lines else "no output")
        raise InputError(f"the local Workers runtime failed: {reason}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def tables_match(expected: Path, actual: Path) -> list[str]:
    """Every table, row for row (ordered by rowid); the differences, or nothing."""
    left, right = sqlite3.connect(expected), sqlite3.connect(actual)
    problems = []
    try:
        names = [n for (n,) in left.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for name in names:
            query = f'SELECT * FROM "{name}" ORDER BY rowid'
            for index, (a, b) in enumerate(zip_longest(left.execute(query), right.execute(query))):
                if a != b:
                    problems.append(f"table {name}, row {index + 1}: expected {a!r}, restored {b!r}")
                    break
    finally:
        left.close()
        right.close()
    return problems


@dataclass
class DrillReport:
    rows: int
    tables: dict[str, int]
    database_bytes: int
    backup_seconds: float
    backup_invocations: int
    restore_seconds: float
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems and self.restore_seconds < RTO_SECONDS

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "rows": self.rows, "tables": self.tables,
                "databaseBytes": self.database_bytes, "backupSeconds": round(self.backup_seconds, 3),
                "backupInvocations": self.backup_invocations, "restoreSeconds": round(self.restore_seconds, 3),
                "recoveryTimeSeconds": round(self.restore_seconds, 3), "rtoSeconds": RTO_SECONDS,
                "problems": self.problems}

    def text(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"Restore drill {verdict}: {len(self.tables)} tables, {self.rows:,} rows, "
                 f"{self.database_bytes / 1e6:.1f} MB.",
                 f"  backup on the local Workers runtime: {self.backup_seconds:.2f} s "
                 f"({self.backup_invocations} invocation{'' if self.backup_invocations == 1 else 's'})",
                 f"  restore (verify manifest and checksums, rebuild, apply, count): {self.restore_seconds:.2f} s",
                 f"  recovery time: {self.restore_seconds:.2f} s (handbook target: under {RTO_SECONDS // 60} minutes)",
                 f"  row-for-row comparison: {'every row matches' if not self.problems else self.problems[0]}"]
        return "\n".join(lines) + "\n"


def run_drill(workers: Path, rows: int, payload_bytes: int = 64, workdir: Path | None = None) -> DrillReport:
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="parsify-drill-")) if own else workdir
    assert work is not None
    try:
        seed = work / "seed.sqlite"
        seed_database(seed, rows, payload_bytes)
        persist = work / "persist"
        copy_into(seed, Path(_node(workers, "init", str(persist))["sqlite"]))
        backup = _node(workers, "backup", str(persist), str(work / "mirror"))
        if backup["status"] != "complete":
            return DrillReport(rows, {}, seed.stat().st_size, backup["seconds"], backup.get("invocations", 0), 0.0,
                               [f"the backup run ended {backup['status']}: {backup.get('error')}"])
        started = time.perf_counter()
        report = restore(work / "mirror", "core", into_sqlite=work / "restored.sqlite")
        restore_seconds = time.perf_counter() - started
        problems = tables_match(seed, work / "restored.sqlite")
        return DrillReport(sum(report.tables.values()), report.tables, seed.stat().st_size, backup["seconds"],
                           backup["invocations"], restore_seconds, problems)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
