// The backup Worker on the local Workers runtime (workerd via miniflare): seed D1 databases,
// fire the cron event, read the objects back from R2 and check every row is there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const scriptPath = fileURLToPath(new URL("../backup/index.js", import.meta.url));
const SCHEDULED = Date.UTC(2026, 10, 27, 2, 15, 0);
let mf;

const SEED_CORE = [
  "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, avatar BLOB, score REAL)",
  "CREATE INDEX users_name ON users(name)",
  "CREATE TABLE \"order items\" (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), note TEXT)",
  "CREATE TABLE empty_table (id INTEGER PRIMARY KEY)",
];

async function seed(db, statements) {
  for (const sql of statements) await db.prepare(sql).run();
}

before(async () => {
  mf = new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate: "2026-04-01",
    d1Databases: { DB_CORE: "core", DB_AUDIT_EU: "audit-eu", RESTORE: "restore-target" },
    r2Buckets: ["BACKUPS"],
    cf: false,
  });
  const core = await mf.getD1Database("DB_CORE");
  await seed(core, SEED_CORE);
  const inserts = [];
  for (let i = 1; i <= 250; i++) {
    inserts.push(core.prepare("INSERT INTO users (id, email, name, avatar, score) VALUES (?, ?, ?, ?, ?)")
      .bind(i, `user${i}@example.com`, i % 7 === 0 ? null : `O'Name "${i}" — ünïcode`,
        i % 5 === 0 ? new Uint8Array([0, i % 256, 255]) : null, i / 3));
    inserts.push(core.prepare('INSERT INTO "order items" (user_id, note) VALUES (?, ?)').bind(i, `line\n${i}; DROP`));
  }
  await core.batch(inserts);
  const audit = await mf.getD1Database("DB_AUDIT_EU");
  await seed(audit, ["CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT, actor TEXT)"]);
  await audit.batch(Array.from({ length: 40 }, (_, i) =>
    audit.prepare("INSERT INTO events (at, actor) VALUES (?, ?)").bind(`2026-11-${10 + (i % 10)}`, `actor-${i}`)));
  const worker = await mf.getWorker();
  await worker.scheduled({ cron: "15 2 * * *", scheduledTime: new Date(SCHEDULED) });
});

after(async () => mf?.dispose());

async function readText(bucket, key) {
  const object = await bucket.get(key);
  assert.ok(object, `missing object ${key}`);
  return object.text();
}

test("writes a manifest with row counts and a SHA-256 per object, for every bound database", async () => {
  const bucket = await mf.getR2Bucket("BACKUPS");
  const prefix = "backups/core/2026-11-27T02-15-00-000Z";
  const manifest = JSON.parse(await readText(bucket, `${prefix}/manifest.json`));
  assert.equal(manifest.complete, true);
  assert.deepEqual(manifest.tables, { empty_table: 0, "order items": 250, users: 250 });
  for (const [key, meta] of Object.entries(manifest.objects)) {
    const body = await readText(bucket, `${prefix}/${key}`);
    assert.equal(createHash("sha256").update(body).digest("hex"), meta.sha256, key);
  }
  const audit = JSON.parse(await readText(bucket, "backups/audit-eu/2026-11-27T02-15-00-000Z/manifest.json"));
  assert.deepEqual(audit.tables, { events: 40 });
  // The restore target is bound as RESTORE, not DB_*, so it is not backed up.
  const listed = await bucket.list({ prefix: "backups/restore" });
  assert.equal(listed.objects.length, 0);
});

test("the backup restores every row, byte for byte, into an empty database", async () => {
  const bucket = await mf.getR2Bucket("BACKUPS");
  const prefix = "backups/core/2026-11-27T02-15-00-000Z";
  const manifest = JSON.parse(await readText(bucket, `${prefix}/manifest.json`));
  const target = await mf.getD1Database("RESTORE");
  const script = [await readText(bucket, `${prefix}/schema.sql`)];
  for (const table of Object.keys(manifest.tables)) script.push(await readText(bucket, `${prefix}/tables/${table}.sql`));
  const statements = script.join("").split(/;\n/).filter((s) => s.trim());
  await target.batch(statements.map((s) => target.prepare(s)));
  const source = await mf.getD1Database("DB_CORE");
  for (const table of ["users", '"order items"', "empty_table"]) {
    const q = `SELECT * FROM ${table} ORDER BY id`;
    const [a, b] = [(await source.prepare(q).all()).results, (await target.prepare(q).all()).results];
    assert.deepEqual(b, a, `rows of ${table} differ after restore`);
  }
  const index = await target.prepare("SELECT name FROM sqlite_master WHERE type='index' AND name='users_name'").first();
  assert.ok(index, "the index is part of the schema export");
});
