// What a restore and the on-call depend on, on small data so the whole file runs in seconds: it is also the
// test command of the backup Worker's mutation testing (stryker.config.mjs, `make mutate-workers`), so every
// guarantee below is checked against each mutant of the code that keeps it.
// - a backup loads object by object in its manifest's order (parents first), every row exact, across pages
//   and invocations;
// - a manifest that does not describe a whole backup says so, and verification refuses it;
// - verification finds a missing, resized, corrupted or miscounted object and a stale backup;
// - a continuation runs once however its message is delivered, and an invocation that was taken over stops.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  assertChecksums, backupWorkers, deliverMessage, fireCron, manifestOf, readText, restoreInto, runBackup, runId, runState,
} from "./helpers.mjs";
import { localBucket, localD1 } from "../local/harness.mjs";

const open = backupWorkers();
const T0 = Date.UTC(2026, 10, 27, 2, 15, 0);
const HOUR = 3600e3;
const VERIFY_CRON = "0 14 * * *";
// Pages of 3 rows and 8 queries per invocation: a few dozen rows span many pages and invocations.
const PAGED = { BACKUP_PAGE_ROWS: "3", BACKUP_QUERY_BUDGET: "8" };

// The tests run two at a time (each has its own Worker and databases). Under Stryker (the variable names the active
// mutant) the first failure kills the mutant: the tests not started yet are skipped to keep a mutant's run short.
// In a normal run every test runs.
const bail = Boolean(process.env.__STRYKER_ACTIVE_MUTANT__);
let failed = false;
const checks = [];
const check = (name, fn) => checks.push([name, fn]);
/** Called at the end of the file, once every check is declared. */
const runChecks = () => describe("the backup Worker's guarantees", { concurrency: 2 }, () => {
  for (const [name, fn] of checks) {
    test(name, async (t) => {
      if (bail && failed) return t.skip("an earlier test failed");
      try {
        await fn(t);
      } catch (err) {
        failed = true;
        throw err;
      }
    });
  }
});

// REALs that the runtime's quote() writes inexactly (the Worker writes them itself, exactRealLiteral): large and
// small exponents of both signs, and subnormals (the smallest, and one with many significant bits).
const INEXACT_REALS = [-4.505221695934704e+299, 3.2910520086102864e-128, -5.535990885767589e-189, 8.974724280087008e+302,
  2.8896891545985557e-86, -1.0505915093485924e-303, 5e-324, -2.2250738585072e-309];

/** A child table created before its parents, a parent named in another case or missing, a cycle (loaded as the first
 *  table's parent first: its references back are NULL), a self-reference, composite, NOCASE and 64-bit keys, inexact
 *  REALs, an empty table, an FTS5 table, an AUTOINCREMENT counter and an index. */
async function seedShop(db) {
  await db.batch([
    "CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES ORDERS(id), note TEXT)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL REFERENCES customers(code))",
    "CREATE TABLE customers (code TEXT COLLATE NOCASE PRIMARY KEY, name TEXT) WITHOUT ROWID",
    "CREATE TABLE teams (id INTEGER PRIMARY KEY, lead INTEGER REFERENCES people(id))",
    "CREATE TABLE people (id INTEGER PRIMARY KEY, team INTEGER REFERENCES teams(id), boss INTEGER REFERENCES people(id))",
    "CREATE TABLE measures (series TEXT, n INTEGER, v REAL, PRIMARY KEY (series, n)) WITHOUT ROWID",
    "CREATE TABLE wide (id INTEGER PRIMARY KEY, v TEXT)",
    // Its parent was dropped (SQLite allows the reference; no row could be written while it dangles).
    "CREATE TABLE empty_table (id INTEGER PRIMARY KEY, archive_id INTEGER REFERENCES archive(id))",
    "CREATE VIRTUAL TABLE notes_fts USING fts5(body)", // its text and rowids are backed up, its index rebuilt
    "CREATE TABLE tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT)",
    "CREATE INDEX lines_order ON lines (order_id)",
    "INSERT INTO notes_fts (rowid, body) VALUES (3, 'three'), (10, 'ten'), (11, 'eleven')",
    // The counter stays above the deleted ticket: a restored database must never hand out 3 again.
    "INSERT INTO tickets (subject) VALUES ('one'), ('two'), ('three')", "DELETE FROM tickets WHERE id = 3",
    "INSERT INTO customers VALUES ('a1', 'Ann'), ('B2', 'Bob'), ('c3', 'Cid'), ('D4', 'Dee'), ('e5', 'Eve')",
    "INSERT INTO orders VALUES (1, 'a1'), (2, 'b2'), (3, 'C3'), (4, 'd4'), (5, 'E5'), (6, 'a1'), (7, 'B2'), (8, 'c3')",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 11) " +
      "INSERT INTO lines SELECT i, 1 + i % 8, 'line ' || i FROM n",
    "INSERT INTO people VALUES (1, NULL, NULL), (2, NULL, 1), (3, NULL, 1), (4, NULL, 3)",
    "INSERT INTO teams VALUES (1, 1), (2, 3)",
    "WITH RECURSIVE n(i) AS (SELECT -5 UNION ALL SELECT i + 1 FROM n WHERE i < 4) " +
      "INSERT INTO wide SELECT 9007199254740992 + i, 'near 2^53 ' || i FROM n",
    "INSERT INTO wide VALUES (-9223372036854775808, 'min'), (9223372036854775807, 'max'), (0, 'zero')",
  ].map((sql) => db.prepare(sql)));
  await db.batch(INEXACT_REALS.flatMap((v, i) => [
    db.prepare("INSERT INTO measures VALUES (?, ?, ?)").bind(i % 2 ? "b" : "a", i, v),
    db.prepare("INSERT INTO measures VALUES (?, ?, ?)").bind(i % 2 ? "a" : "b", i, i / 4),
  ]));
}

// Every value compared exactly: integers as text (D1 hands JavaScript rounded numbers above 2^53), REALs as
// numbers (deepStrictEqual compares them with Object.is), each with its type.
const EXACT = {
  customers: "SELECT code, name FROM customers ORDER BY code",
  orders: "SELECT id, customer FROM orders ORDER BY id",
  lines: "SELECT id, order_id, note FROM lines ORDER BY id",
  teams: "SELECT id, lead FROM teams ORDER BY id",
  people: "SELECT id, team, boss FROM people ORDER BY id",
  measures: "SELECT series, n, v, typeof(v) AS t FROM measures ORDER BY series, n",
  wide: "SELECT CAST(id AS TEXT) AS id, v FROM wide ORDER BY id",
  empty_table: "SELECT * FROM empty_table",
  notes_fts: "SELECT rowid, body FROM notes_fts WHERE notes_fts MATCH 'ten OR eleven OR three' ORDER BY rowid",
  tickets: "SELECT id, subject FROM tickets ORDER BY id",
  sqlite_sequence: "SELECT name, seq FROM sqlite_sequence ORDER BY name",
  indexes: "SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name",
};

async function assertSameRows(target, source) {
  for (const [table, sql] of Object.entries(EXACT)) {
    assert.deepEqual((await target.prepare(sql).all()).results, (await source.prepare(sql).all()).results, table);
  }
}

/** Load a backup as an operator loads its files, one object after the other, each in its own transaction: D1
 *  checks foreign keys at the end of each, so a child loaded before its parent fails here. */
async function restoreByObject(mf, database, manifest, binding) {
  const bucket = localBucket(mf);
  for (const name of manifest.load) {
    const sql = await readText(bucket, `backups/${database}/${manifest.backupId}/${name}`);
    if (sql) await restoreInto(mf, binding, sql); // an empty table's object is empty
  }
}

check("a backup loads object by object in its manifest's order, every row exact, across pages and invocations", async () => {
  const { mf, alerts } = open({ bindings: PAGED });
  const core = localD1(mf, "DB_CORE");
  await seedShop(core);
  const { state, queue } = await runBackup(mf, T0);
  assert.equal(state.status, "complete", state.error);
  assert.ok(state.invocations >= 5, `several invocations, got ${state.invocations}`);
  assert.deepEqual(queue.dropped, []);
  assert.deepEqual(state.uploads, [], "no multipart upload was started");

  const manifest = await manifestOf(mf, "core", T0);
  assert.equal(manifest.complete, true, JSON.stringify(manifest.failures));
  assert.deepEqual(manifest.failures, []);
  assert.equal(manifest.backupId, runId(T0));
  assert.equal(manifest.createdAt, new Date(T0).toISOString());
  // The load order: the schema, the tables parents first (in schema order otherwise), then post.sql.
  const objectOf = (table) => manifest.tables[table].object;
  assert.deepEqual(manifest.load, [manifest.load[0], ...["customers", "orders", "lines", "people", "teams", "measures",
    "wide", "empty_table", "notes_fts", "tickets"].map(objectOf), manifest.load.at(-1)]);
  assert.match(manifest.load[0], /^schema\.\d+-[0-9a-f]{8}\.sql$/);
  assert.match(manifest.load.at(-1), /^post\.\d+-[0-9a-f]{8}\.sql$/);
  assert.deepEqual(Object.keys(manifest.objects).sort(), [...manifest.load].sort(), "every loaded object is checksummed");
  for (const [table, record] of Object.entries(manifest.tables)) {
    const n = (await core.prepare(`SELECT count(*) AS n FROM "${table}"`).first()).n;
    assert.deepEqual([record.rows, record.sourceRows, record.sourceRowsAtEnd], [n, n, n], table);
  }
  assert.deepEqual(manifest.tables.measures.key, ["series", "n"]);
  assert.deepEqual(manifest.tables.customers.key, ["code"]);
  await assertChecksums(mf, "core", manifest);

  const target = localD1(mf, "RESTORE");
  await restoreByObject(mf, "core", manifest, "RESTORE");
  await assertSameRows(target, core);
  // The other database has no tables: a complete, empty backup.
  const audit = await manifestOf(mf, "audit-eu", T0);
  assert.deepEqual([audit.complete, audit.tables, audit.load.length], [true, {}, 2]);

  // Verified the same afternoon, and still within 26 hours the next morning: nothing to report.
  await fireCron(mf, VERIFY_CRON, T0 + 12 * HOUR);
  await fireCron(mf, VERIFY_CRON, T0 + 26 * HOUR);
  assert.deepEqual(alerts, []);
  await fireCron(mf, VERIFY_CRON, T0 + 26 * HOUR + 6 * 60e3);
  assert.equal(alerts.length, 1);
  for (const database of ["core", "audit-eu"]) {
    assert.match(alerts[0].text, new RegExp(`${database}: the newest complete backup \\(${runId(T0)}\\) is 26\\.1 h old, ` +
      "more than the 26 h the schedule allows"));
  }
});

check("a manifest that is not a whole backup says complete: false, and verification falls back to the last whole one", async () => {
  const { mf, alerts } = open();
  const core = localD1(mf, "DB_CORE");
  await core.batch([
    "CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)",
    "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    "CREATE VIRTUAL TABLE items_fts USING fts5(body, content='items', content_rowid='id')",
    "CREATE VIRTUAL TABLE idx USING fts5(body, content='')", // keeps no text: cannot be backed up
    "CREATE TABLE nokey (rowid TEXT, _rowid_ TEXT, oid TEXT)", // its rowid is hidden: cannot be paged
    "INSERT INTO nokey VALUES ('a', 'b', 'c')",
    "CREATE TABLE longkey (k TEXT PRIMARY KEY)", // a key too long to page by within D1's 100 KB statements
    "INSERT INTO longkey VALUES ('short'), (printf('%.60000c', 'z'))",
  ].map((sql) => core.prepare(sql)));
  const DAY = 24 * HOUR;
  await runBackup(mf, T0);
  const first = await manifestOf(mf, "core", T0);
  assert.equal(first.complete, false);
  assert.deepEqual(first.failures.map((f) => f.table), ["idx", "nokey", "longkey"]);
  // Each failure tells the on-call what to do about it.
  assert.match(first.failures[0].error, /^core\.idx: a contentless FTS5 table \(content=''\) does not store its text, so it cannot be backed up; rebuild it from its source after a restore$/);
  assert.match(first.failures[1].error, /^core\.nokey: the table has no primary key, and columns named rowid, _rowid_ and oid hide its rowid, so its rows cannot be read in order; give it a primary key$/);
  assert.match(first.failures[2].error, /^core\.longkey: a primary key value is over 15000 bytes, too long to page by it/);
  for (const { table, error } of first.failures) assert.equal(first.tables[table].failed, error, table);
  assert.deepEqual(first.tables.nokey, { index: 3, object: null, key: [], rows: 0, sourceRows: 0, sourceRowsAtEnd: 0,
    failed: first.failures[1].error });
  // What was exported is listed to load; the failed tables are not, and the external index is rebuilt, not loaded.
  assert.deepEqual(first.load, [first.load[0], first.tables.items.object, first.load.at(-1)]);
  assert.deepEqual(Object.keys(first.objects).sort(), [...first.load].sort(), "no object for a table that is not loaded");
  assert.deepEqual(first.tables.items_fts, { index: 1, object: null, key: ["rowid"], rows: 0, sourceRows: 0,
    sourceRowsAtEnd: 0, external: true });
  assert.deepEqual([first.tables.idx.object, first.tables.nokey.object, first.tables.longkey.object], [null, null, null]);
  assert.equal(alerts.length, 1);
  assert.match(alerts[0].text, /backup run .* database core is incomplete: core\.idx: .*; core\.nokey: .*; core\.longkey: /);

  await fireCron(mf, VERIFY_CRON, T0 + 12 * HOUR);
  assert.equal(alerts.length, 2);
  assert.match(alerts[1].text, /backup verification failed: core: no complete backup exists$/);

  // Fixed the next day: a whole backup. Broken again the day after: verification checks the last whole one, which
  // is then too old; a run that left objects but no manifest at all is passed over too.
  await core.batch(["DROP TABLE idx", "DROP TABLE nokey", "DELETE FROM longkey WHERE k <> 'short'"].map((sql) => core.prepare(sql)));
  await runBackup(mf, T0 + DAY);
  assert.equal((await manifestOf(mf, "core", T0 + DAY)).complete, true);
  await core.prepare("CREATE VIRTUAL TABLE idx USING fts5(body, content='')").run();
  await runBackup(mf, T0 + 2 * DAY);
  assert.equal((await manifestOf(mf, "core", T0 + 2 * DAY)).complete, false);
  const bucket = localBucket(mf);
  await bucket.put(`backups/core/${runId(T0 + 3 * DAY)}/schema.1-00000000.sql`, "CREATE TABLE items (id INTEGER PRIMARY KEY);\n");
  const before = alerts.length;
  await fireCron(mf, VERIFY_CRON, T0 + 2 * DAY + 12 * HOUR);
  assert.deepEqual(alerts.slice(before).map((a) => a.text), [`[critical] parsify backups: backup verification failed: ` +
    `core: the newest complete backup (${runId(T0 + DAY)}) is 36.0 h old, more than the 26 h the schedule allows`]);
});

/** The manifest as the Worker wrote it, and a way to replace it (the test writes past the bucket lock). */
async function editManifest(mf, database, time, edit) {
  const bucket = localBucket(mf);
  const key = `backups/${database}/${runId(time)}/manifest.json`;
  const manifest = JSON.parse(await readText(bucket, key));
  edit(manifest);
  await bucket.put(key, JSON.stringify(manifest));
  return manifest;
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const chunked = (bytes, size) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
  sha256(bytes.subarray(i * size, (i + 1) * size)));

check("verification finds a missing, resized, corrupted or miscounted object, chunk by chunk", async () => {
  const { mf, alerts } = open();
  const core = localD1(mf, "DB_CORE");
  const tables = { corrupted: 12, corrupted_tail: 12, resized: 12, missing: 12, extra_chunk: 12, miscounted: 12,
    exact_chunks: 12, ragged_chunks: 2500 };
  await core.batch(Object.entries(tables).flatMap(([t, n]) => [`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, v TEXT)`,
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${n}) INSERT INTO ${t} SELECT i, '${t} ' || i FROM n`])
    .map((sql) => core.prepare(sql)));
  await runBackup(mf, T0);
  const bucket = localBucket(mf);
  const prefix = `backups/core/${runId(T0)}/`;
  const original = await manifestOf(mf, "core", T0);
  const objectOf = (t) => original.tables[t].object;
  const bytesOf = async (t) => Buffer.from(await readText(bucket, prefix + objectOf(t)), "latin1"); // ASCII SQL

  // Verified in chunks of 100 bytes (1,000 for the large object, read from R2 in pieces that split chunks): one
  // byte changed in the third chunk, and in the last, partial one; one chunk too many listed; a length that is a
  // whole number of chunks and one that is not, both intact.
  const bytes = Object.fromEntries(await Promise.all(["corrupted", "corrupted_tail", "extra_chunk", "exact_chunks",
    "ragged_chunks"].map(async (t) => [t, await bytesOf(t)])));
  const exactSize = [...Array(101).keys()].reverse().find((n) => bytes.exact_chunks.length % n === 0);
  const chunking = { corrupted: 100, corrupted_tail: 100, extra_chunk: 100, exact_chunks: exactSize, ragged_chunks: 1000 };
  await editManifest(mf, "core", T0, (m) => {
    for (const [t, size] of Object.entries(chunking)) {
      Object.assign(m.objects[objectOf(t)], { chunkBytes: size, chunks: chunked(bytes[t], size) });
    }
    m.objects[objectOf("extra_chunk")].chunks.push(m.objects[objectOf("extra_chunk")].chunks[0]);
    m.tables.miscounted.rows -= 1;
  });
  assert.ok(exactSize > 1 && bytes.ragged_chunks.length > 100_000 && bytes.extra_chunk.length % 100 > 0 &&
    bytes.corrupted_tail.length % 100 > 0 && bytes.corrupted.length > 300,
    `the chunkings cover both cases: ${Object.entries(bytes).map(([t, b]) => `${t} ${b.length}`)}, exact in ${exactSize}`);
  bytes.corrupted[250] ^= 1;
  bytes.corrupted_tail[bytes.corrupted_tail.length - 1] ^= 1;
  for (const t of ["corrupted", "corrupted_tail"]) await bucket.put(prefix + objectOf(t), bytes[t].toString("latin1"));
  await bucket.put(prefix + objectOf("resized"), `${await readText(bucket, prefix + objectOf("resized"))}\n`);
  await bucket.delete(prefix + objectOf("missing"));

  await fireCron(mf, VERIFY_CRON, T0 + 12 * HOUR);
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0].severity, "critical");
  const key = (t) => `${prefix}${objectOf(t)}`;
  const size = original.objects[objectOf("resized")].bytes;
  assert.deepEqual(alerts[0].text.replace(/^\[critical\] parsify backups: backup verification failed: /, "").split("; "), [
    "core: table miscounted: 11 rows exported, but the source had 12 at the bound and was not written during the run",
    `core: ${key("corrupted")} chunk 3 fails its SHA-256`,
    `core: ${key("corrupted_tail")} chunk ${Math.ceil(bytes.corrupted_tail.length / 100)} fails its SHA-256`,
    `core: ${key("resized")} has ${size + 1} bytes, the manifest says ${size}`,
    `core: ${key("missing")} is missing`,
    `core: ${key("extra_chunk")} has ${Math.ceil(bytes.extra_chunk.length / 100)} chunks, the manifest lists ` +
      `${Math.ceil(bytes.extra_chunk.length / 100) + 1}`,
  ]);
});

// The count check: a table whose count at the bound did not change during the run must have exactly that many rows
// in its export. Rows written during the run change the count, and are no alarm.
check("a table one row short of its unchanged count is refused; a table written during the run is not", async () => {
  const { mf, alerts } = open();
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT)").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 41) " +
    "INSERT INTO items SELECT i, 'value ' || i FROM n").run();
  const bucket = localBucket(mf);
  for (const [time, mutate] of [[T0, "balanced"], [T0 + HOUR, true]]) {
    await bucket.put("__chaos.json", JSON.stringify({ mutate }));
    await bucket.delete("__chaos_log.json");
    const { state } = await runBackup(mf, time);
    assert.equal(state.status, "complete", state.error);
  }
  await bucket.delete("__chaos.json");
  const short = await manifestOf(mf, "core", T0);
  assert.deepEqual([short.tables.items.rows, short.tables.items.sourceRows, short.tables.items.sourceRowsAtEnd], [39, 40, 40]);
  assert.equal(short.complete, false);
  assert.deepEqual(short.failures, [{ table: "items", error: "core: table items: 39 rows exported, but the source had 40 " +
    "at the bound and was not written during the run" }]);
  const written = await manifestOf(mf, "core", T0 + HOUR);
  assert.notEqual(written.tables.items.sourceRowsAtEnd, written.tables.items.sourceRows, "rows were written during the run");
  assert.deepEqual([written.complete, written.failures], [true, []]);
  assert.equal(alerts.length, 1);
  assert.match(alerts[0].text, /database core is incomplete: core: table items: 39 rows exported/);
});

// A continuation that dies after writing its database's manifest (the manifest is locked: no second one can be
// written): the invocation that takes over keeps it, and reports what it says.
check("a manifest written by an invocation that died is kept, and reported, by the one that takes over", async () => {
  const { mf, alerts } = open({ bindings: PAGED });
  const core = localD1(mf, "DB_CORE");
  await core.batch(["CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12) INSERT INTO items SELECT i, 'v' || i FROM n",
    "CREATE VIRTUAL TABLE idx USING fts5(body, content='')"].map((sql) => core.prepare(sql)));
  const bucket = localBucket(mf);
  await bucket.put("__chaos.json", JSON.stringify({ crashAfterManifest: 1 }));
  const { state } = await runBackup(mf, T0);
  await bucket.delete("__chaos.json");
  assert.equal(state.status, "complete", state.error);
  assert.equal(state.takeovers, 1, "the invocation died after the manifest and was taken over");
  const entry = state.databases.find((d) => d.name === "core");
  assert.deepEqual([entry.phase, entry.complete, entry.failures.map((f) => f.table)], ["done", false, ["idx"]]);
  const manifest = await manifestOf(mf, "core", T0);
  assert.deepEqual([manifest.complete, manifest.tables.items.rows], [false, 12]);
  assert.equal(alerts.length, 1, JSON.stringify(alerts));
  assert.match(alerts[0].text, /database core is incomplete: core\.idx: a contentless FTS5 table/);
});

check("a continuation runs once however its message comes, and an invocation is taken over only once its lease ends", async () => {
  // [name, runBackup's options, chaos plan, takeovers, the delay a copy that found the run claimed asked for]: copies
  // at the same moment and later; a copy while the invocation is alive, 50 s into its 60 s lease (it comes back when
  // the lease ends), and at the lease's end (it takes over); a late copy of the continuation before it, while it is
  // alive (ignored: it must not take the run over from the live invocation); an invocation that died.
  const runs = [["concurrent", { duplicates: "concurrent" }, null, 0], ["later", { duplicates: "later" }, null, 0],
    ["alive", {}, { stallAt: 4, copyAfterMs: 50e3 }, 0, 11], ["lease end", {}, { stallAt: 4, copyAfterMs: 60e3 }, 1],
    ["earlier copy", {}, { stallAt: 4, copyAfterMs: 50e3, copyOf: "earlier" }, 0],
    ["crashed", {}, { crashInvocation: 3, crashAt: 3 }, 1]];
  const { mf, alerts } = open({ bindings: { ...PAGED, BACKUP_LEASE_SECONDS: "60" },
    extraD1: Object.fromEntries(runs.map((_, i) => [`RESTORE_${i}`, `restore-${i}`])) });
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) " +
    "INSERT INTO notes SELECT i, 'note ' || i FROM n").run();
  const bucket = localBucket(mf);
  let time = T0;
  for (const [i, [name, options, chaos, takeovers, comesBackAfter]] of runs.entries()) {
    if (chaos) await bucket.put("__chaos.json", JSON.stringify(chaos));
    await bucket.delete("__chaos_invocations");
    const { state, queue } = await runBackup(mf, time, options);
    await bucket.delete("__chaos.json");
    assert.equal(state.status, "complete", `${name}: ${state.error}`);
    assert.ok(state.invocations >= 4, `${name}: several invocations, got ${state.invocations}`);
    assert.deepEqual(queue.dropped, [], name);
    if (options.duplicates) {
      assert.equal(queue.deliveries, 2 * (state.invocations - 1), `${name}: every continuation arrived twice`);
    }
    if (chaos?.stallAt) assert.equal(queue.deliveries, state.invocations, `${name}: one extra delivery, the copy`);
    if (chaos?.copyOf) {
      assert.deepEqual(queue.outcomes.filter((o) => !o.ack), [], `${name}: the late copy is acknowledged, not retried`);
    }
    assert.equal(state.takeovers ?? 0, takeovers, `${name}: taken over only once its lease ran out`);
    assert.equal(state.lease, null, `${name}: the lease is released at the end`);
    if (comesBackAfter) {
      const delays = queue.outcomes.filter((o) => !o.ack).map((o) => o.delaySeconds);
      assert.ok(delays.length && delays.every((d) => d === comesBackAfter), `${name}: back when the lease ends: ${delays}`);
    }
    const manifest = await manifestOf(mf, "core", time);
    assert.equal(manifest.complete, true, name);
    await assertChecksums(mf, "core", manifest);
    if (!takeovers) {
      // Nobody did the work twice: the bucket holds what the manifest lists, nothing else (it would stay, locked).
      const written = (await bucket.list({ prefix: `backups/core/${runId(time)}/` })).objects.map((o) => o.key);
      assert.deepEqual(written.sort(), [...Object.keys(manifest.objects), "manifest.json"]
        .map((k) => `backups/core/${runId(time)}/${k}`).sort(), name);
    }
    const target = localD1(mf, `RESTORE_${i}`);
    await restoreByObject(mf, "core", manifest, `RESTORE_${i}`);
    assert.deepEqual(await target.prepare("SELECT * FROM notes ORDER BY id").all().then((r) => r.results),
      await core.prepare("SELECT * FROM notes ORDER BY id").all().then((r) => r.results), name);
    assert.deepEqual((await bucket.list({ prefix: `runs/${runId(time)}/` })).objects, [], `${name}: no carried bytes left`);
    time += 24 * HOUR;
  }
  assert.deepEqual(alerts, []);
});

check("a run that fails says so: no complete manifest, one alert naming what failed, and the next run is whole", async () => {
  const { mf, alerts } = open({ bindings: PAGED });
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) " +
    "INSERT INTO notes SELECT i, 'note ' || i FROM n").run();
  const bucket = localBucket(mf);
  const failing = async (time, plan) => {
    await bucket.put("__chaos.json", JSON.stringify({ ...plan, target: "r2" }));
    await bucket.delete("__chaos_invocations");
    const before = alerts.length;
    await runBackup(mf, time);
    await bucket.delete("__chaos.json");
    assert.equal(await manifestOf(mf, "core", time), null, `${JSON.stringify(plan)}: no manifest, so never restored`);
    assert.equal(alerts.length, before + 1, `${JSON.stringify(plan)}: one alert`);
    return [await runState(mf, time), alerts.at(-1).text];
  };
  // R2 fails at once: the run cannot start, and nothing says it did.
  const [unstarted, cannot] = await failing(T0, { failInvocation: 1, failAt: 1 });
  assert.equal(unstarted, null);
  assert.match(cannot, new RegExp(`backup run ${runId(T0)} could not start: injected r2 failure .*\\. No database ` +
    "was backed up \\(audit-eu, core\\); the next run starts clean\\.$"));
  // (The operation numbers count R2 calls of the first continuation: its 3rd is core's schema, its 5th the
  // state written when it yields. The assertions on the outcome say so when they no longer hit those.)
  // A write of the database's own objects fails: that database fails alone, the run goes on.
  const [alone, dbFailed] = await failing(T0 + HOUR, { failInvocation: 2, failAt: 3 });
  assert.deepEqual([alone.status, alone.databases.map((d) => d.phase)], ["complete", ["done", "failed"]]);
  assert.match(dbFailed, new RegExp(`backup run ${runId(T0 + HOUR)}: database core failed: injected r2 failure .*\\. ` +
    "Its backup has no complete manifest and will not be restored; the other databases are unaffected\\.$"));
  // The run's own state cannot be written: the run fails as a whole, and says so in its state.
  const [failed, runFailed] = await failing(T0 + 2 * HOUR, { failInvocation: 2, failAt: 5 });
  assert.deepEqual([failed.status, failed.lease, failed.uploads], ["failed", null, []]);
  assert.match(failed.error, /injected r2 failure at r2 operation 5 of invocation 2/);
  assert.match(runFailed, new RegExp(`backup run ${runId(T0 + 2 * HOUR)} failed: injected r2 failure .*\\. No complete ` +
    "manifest was written for core; the next run starts clean\\.$"));

  assert.ok(alerts.every((a) => a.severity === "critical" && a.text.startsWith("[critical] parsify backups: ")));

  const before = alerts.length;
  const { state } = await runBackup(mf, T0 + 3 * HOUR);
  assert.equal(state.status, "complete", state.error);
  assert.equal((await manifestOf(mf, "core", T0 + 3 * HOUR)).complete, true);
  assert.equal((await runState(mf, T0 + 2 * HOUR)).status, "cleaned");
  assert.equal(alerts.length, before, "a failed run that was reported is not reported again");
  // A continuation of the failed run that comes now (queues deliver at least once, and late), or one naming a run
  // that does not exist, is acknowledged and does nothing.
  for (const body of [{ runId: runId(T0 + 2 * HOUR), after: failed.invocations }, { runId: "no-such-run", after: 1 }]) {
    const { outcome, sent } = await deliverMessage(mf, body, T0 + 4 * HOUR);
    assert.deepEqual([outcome.outcome, outcome.ack, sent], ["ok", true, []], JSON.stringify(body));
  }
  assert.equal((await runState(mf, T0 + 2 * HOUR)).status, "cleaned");
  assert.equal(alerts.length, before);
});

// An invocation stops while it can still save its cursor: at its wall-time budget (slow storage: every operation
// takes a second of the test's clock here) or, at a production-sized query budget, with 300 queries in reserve
// (D1 allows 1,000 per invocation, and one page of rows the Worker writes itself costs up to about 300).
check("an invocation yields when its time is up or its query reserve is reached, and the run goes on", async () => {
  const { mf, alerts } = open({ bindings: { BACKUP_PAGE_ROWS: "1", BACKUP_QUERY_BUDGET: "600", BACKUP_INVOCATION_SECONDS: "10" } });
  const core = localD1(mf, "DB_CORE");
  const seed = (from, to) => core.prepare(`WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to}) ` +
    "INSERT INTO notes SELECT i, 'note ' || i FROM n").run();
  await core.prepare("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)").run();
  await seed(1, 40);
  const bucket = localBucket(mf);
  await bucket.put("__chaos.json", JSON.stringify({ msPerOperation: 1000 }));
  const slow = await runBackup(mf, T0);
  await bucket.delete("__chaos.json");
  await seed(41, 320);
  const fast = await runBackup(mf, T0 + HOUR);
  // 40 pages of one row at 10 one-second operations per invocation (each reads at least 5 pages: it uses its whole
  // budget, not half of it); 320 pages at 300 queries per invocation.
  for (const [name, time, { state }, rows, fewest, most] of [["slow", T0, slow, 40, 4, 8], ["reserve", T0 + HOUR, fast, 320, 2, 2]]) {
    assert.equal(state.status, "complete", `${name}: ${state.error}`);
    assert.ok(state.invocations >= fewest && state.invocations <= most, `${name}: ${state.invocations} invocations`);
    assert.equal((await manifestOf(mf, "core", time)).tables.notes.rows, rows, name);
  }
  assert.deepEqual(alerts, []);
});

runChecks();
