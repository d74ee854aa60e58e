// The backup Worker on the local Workers runtime (workerd via miniflare): seed D1 databases, fire the
// cron event, read the objects back from R2 and check every row is there; then a database larger than
// one invocation (paged reads, multipart parts, continuation through the queue); then the afternoon
// verification.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  assertChecksums, backupSql, backupWorkers, fireCron, manifestOf, restoreInto, rows, rowsOf, runBackup, runState,
  seedBulk, statements,
} from "./helpers.mjs";
import { localBucket, localD1 } from "../local/harness.mjs";

const T0 = Date.UTC(2026, 10, 27, 2, 15, 0);
const open = backupWorkers();

async function seedSmall(mf) {
  const core = localD1(mf, "DB_CORE");
  for (const sql of [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, avatar BLOB, score REAL)",
    "CREATE INDEX users_name ON users(name)",
    "CREATE TABLE \"order items\" (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), note TEXT)",
    "CREATE TABLE empty_table (id INTEGER PRIMARY KEY)",
  ]) await core.prepare(sql).run();
  await seedBulk(core, "users", 250, (i) => ({
    id: i + 1, email: `user${i + 1}@example.com`, name: (i + 1) % 7 === 0 ? null : `O'Name "${i + 1}" — ünïcode`,
    avatar: (i + 1) % 5 === 0 ? new Uint8Array([0, (i + 1) % 256, 255]) : null, score: (i + 1) / 3,
  }));
  await seedBulk(core, '"order items"', 250, (i) => ({ user_id: i + 1, note: `line\n${i + 1}; DROP` }));
  const audit = localD1(mf, "DB_AUDIT_EU");
  await audit.prepare("CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT, actor TEXT)").run();
  await seedBulk(audit, "events", 40, (i) => ({ at: `2026-11-${10 + (i % 10)}`, actor: `actor-${i}` }));
}

test("writes a manifest with row counts and a SHA-256 per chunk, for every bound database", async () => {
  const { mf, alerts } = open();
  await seedSmall(mf);
  const { state } = await runBackup(mf, T0);
  assert.equal(state.status, "complete");
  const manifest = await manifestOf(mf, "core", T0);
  assert.equal(manifest.complete, true);
  assert.deepEqual(rowsOf(manifest), { empty_table: 0, "order items": 250, users: 250 });
  await assertChecksums(mf, "core", manifest);
  const audit = await manifestOf(mf, "audit-eu", T0);
  assert.deepEqual(rowsOf(audit), { events: 40 });
  await assertChecksums(mf, "audit-eu", audit);
  // The restore target is bound as RESTORE, not DB_*, so it is not backed up.
  const listed = await localBucket(mf).list({ prefix: "backups/restore" });
  assert.equal(listed.objects.length, 0);
  assert.deepEqual(alerts, []);

  // ... and the backup restores every row, byte for byte, into an empty database.
  const target = localD1(mf, "RESTORE");
  await restoreInto(mf, "RESTORE", await backupSql(mf, "core", manifest));
  const source = localD1(mf, "DB_CORE");
  for (const table of ["users", '"order items"', "empty_table"]) {
    assert.deepEqual(await rows(target, table), await rows(source, table), `rows of ${table} differ`);
  }
  const index = await target.prepare("SELECT name FROM sqlite_master WHERE type='index' AND name='users_name'").first();
  assert.ok(index, "the index is part of the schema export");

  // The afternoon verification finds nothing wrong with a fresh, intact backup.
  await fireCron(mf, "0 14 * * *", T0 + 12 * 3600e3);
  assert.deepEqual(alerts, []);
});

test("a database larger than one invocation: paged reads, multipart parts, continued through the queue", async () => {
  const { mf, alerts } = open({ bindings: { BACKUP_PAGE_ROWS: "100", BACKUP_QUERY_BUDGET: "12",
    BACKUP_PART_BYTES: String(5 * 1024 * 1024) } });
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT, body TEXT)").run();
  // 3,000 rows of about 4 KB (12 MB), generated inside D1 in one statement.
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) " +
    "INSERT INTO documents SELECT i, 'doc ' || i, i || ':' || hex(zeroblob(2045)) FROM n").run();
  const { state } = await runBackup(mf, T0);
  assert.equal(state.status, "complete", state.error);
  assert.ok(state.invocations > 3, `expected several invocations, got ${state.invocations}`);
  const manifest = await manifestOf(mf, "core", T0);
  assert.equal(manifest.tables.documents.rows, 3000);
  const meta = manifest.objects[manifest.tables.documents.object];
  assert.ok(meta.chunks.length >= 3, `expected a multipart object, got ${meta.chunks.length} parts`);
  await assertChecksums(mf, "core", manifest);
  const listed = await localBucket(mf).list({ prefix: "runs/" });
  assert.deepEqual(listed.objects.map((o) => o.key), [`runs/${manifest.backupId}.json`], "no carried bytes left");
  const target = localD1(mf, "RESTORE");
  await restoreInto(mf, "RESTORE", await backupSql(mf, "core", manifest));
  assert.deepEqual(await rows(target, "documents"), await rows(core, "documents"));
  assert.deepEqual(alerts, []);
  assert.equal((await runState(mf, T0)).status, "complete");
});

test("the afternoon verification alerts on a stale or corrupted backup", async () => {
  const { mf, alerts } = open();
  await seedSmall(mf);
  await runBackup(mf, T0);
  // Two days later, with no newer backup: too old for a daily schedule.
  await fireCron(mf, "0 14 * * *", T0 + 48 * 3600e3);
  assert.equal(alerts.length, 1);
  assert.match(alerts[0].text, /core: the newest complete backup \(.*\) is 48\.0 h old/);
  // Same day, but one object was tampered with.
  const bucket = localBucket(mf);
  const audit = await manifestOf(mf, "audit-eu", T0);
  const key = `backups/audit-eu/${audit.backupId}/${audit.tables.events.object}`;
  const text = await (await bucket.get(key)).text();
  await bucket.put(key, text.replace("actor-7", "actor-X"));
  await fireCron(mf, "0 14 * * *", T0 + 3600e3);
  assert.equal(alerts.length, 2);
  assert.match(alerts[1].text, /audit-eu: backups\/audit-eu\/.*\/tables\/0000\.[^ ]*\.sql chunk 1 fails its SHA-256/);
  assert.equal(alerts[1].severity, "critical");
});

test("rows that grow mid-table: a page too big for D1 is retried smaller; a row too big for one statement is written in pieces", async () => {
  const { mf, alerts } = open({ bindings: { BACKUP_PART_BYTES: String(5 * 1024 * 1024) } });
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB)").run();
  // 400 rows of about 60 bytes teach the Worker to ask for thousands of rows; then 30 rows of 80 KB follow
  // (under D1's 100 KB statement limit), which rendered together exceed its 2 MB strings.
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) " +
    "INSERT INTO notes SELECT i, 'short note ' || i, NULL FROM n").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 401 UNION ALL SELECT i + 1 FROM n WHERE i < 430) " +
    "INSERT INTO notes SELECT i, i || hex(zeroblob(40000)), NULL FROM n").run();
  // D1 rows go up to 2,000,000 bytes (d1/platform/limits): a 1.9 MB BLOB is legal, but its INSERT (hex)
  // would be 3.8 MB, over D1's 2 MB strings and 100 KB statements. So is 700 KB of text full of quotes.
  await core.prepare("INSERT INTO notes VALUES (431, 'x', randomblob(1900000))").run();
  await core.prepare("INSERT INTO notes VALUES (432, replace(hex(zeroblob(100000)), '00', 'it''s ü'), X'00ff')").run();
  const { state } = await runBackup(mf, T0);
  assert.equal(state.status, "complete", state.error);
  const manifest = await manifestOf(mf, "core", T0);
  assert.equal(manifest.complete, true, JSON.stringify(manifest.failures));
  assert.equal(manifest.tables.notes.rows, 432);
  const notes = state.databases.find((d) => d.name === "core").tables.find((t) => t.name === "notes");
  assert.ok(notes.pagesRetried >= 1, "the oversized page was retried with fewer rows");
  const sql = await backupSql(mf, "core", manifest);
  const longest = Math.max(...statements(sql).map((s) => Buffer.byteLength(s)));
  assert.ok(longest < 100_000, `a statement of ${longest} bytes is over D1's 100 KB limit`);
  const target = localD1(mf, "RESTORE");
  await restoreInto(mf, "RESTORE", sql);
  const summary = async (db) => (await db.prepare("SELECT id, typeof(body) AS tb, typeof(data) AS td, length(body) AS lb, " +
    "length(data) AS ld, body, data FROM notes ORDER BY id").all()).results;
  assert.deepEqual(await summary(target), await summary(core));
  assert.deepEqual(alerts, []);
});
