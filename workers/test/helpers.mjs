// Shared set-up for the Worker tests: the backup Worker on workerd (miniflare) with two D1 databases,
// the backup bucket, the continuation queue and a captured alert webhook.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { backupId, backupWorkerOptions, getObject, localRuntime, triggerCron } from "../local/harness.mjs";

export const ALERT_URL = "https://hooks.slack.test/services/T000/B000/backups";

export function backupWorker({ scriptPath = "../backup/index.js", bindings = {}, extraD1 = {} } = {}) {
  const alerts = [];
  const mf = new Miniflare(localRuntime(backupWorkerOptions({
    scriptPath: fileURLToPath(new URL(scriptPath, import.meta.url)),
    d1Databases: { DB_CORE: "core", DB_AUDIT_EU: "audit-eu", RESTORE: "restore-target", ...extraD1 },
    bindings: { ALERT_WEBHOOK_URL: ALERT_URL, ...bindings },
    outboundService: async (request) => {
      if (request.url === ALERT_URL) alerts.push(await request.json());
      return new Response("ok");
    },
  })));
  return { mf, alerts };
}

export const runId = backupId;

/** The run's state, read over HTTP: polled while invocations run, so never through the synchronous proxy. */
export async function runState(mf, time) {
  const object = await getObject(mf, `runs/${runId(time)}.json`);
  return object ? object.json() : null;
}

/** Fire the backup cron and wait until the run (and its queued continuations) ends, or `until` holds. */
export async function backupAndWait(mf, time, { until, timeoutMs = 60_000 } = {}) {
  await triggerCron(mf, "15 2 * * *", time);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await runState(mf, time);
    if (until ? await until(state) : state && state.status !== "running") return state;
    if (Date.now() > deadline) throw new Error(`backup ${runId(time)} did not finish: ${JSON.stringify(state?.status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function readText(bucket, key) {
  const object = await bucket.get(key);
  assert.ok(object, `missing object ${key}`);
  return object.text();
}

export async function manifestOf(mf, database, time) {
  const object = await (await mf.getR2Bucket("BACKUPS")).get(`backups/${database}/${runId(time)}/manifest.json`);
  return object ? JSON.parse(await object.text()) : null;
}

/** Check every object of a backup against its manifest: size and SHA-256 per chunk. */
export async function assertChecksums(mf, database, manifest) {
  const bucket = await mf.getR2Bucket("BACKUPS");
  for (const [name, meta] of Object.entries(manifest.objects)) {
    const object = await bucket.get(`backups/${database}/${manifest.backupId}/${name}`);
    assert.ok(object, `${name} is missing`);
    const bytes = Buffer.from(await object.arrayBuffer());
    assert.equal(bytes.length, meta.bytes, `${name} size`);
    meta.chunks.forEach((digest, i) => {
      const chunk = bytes.subarray(i * meta.chunkBytes, (i + 1) * meta.chunkBytes);
      assert.equal(createHash("sha256").update(chunk).digest("hex"), digest, `${name} chunk ${i + 1}`);
    });
  }
}

/** The backup as one SQL script: schema, then every table. */
export async function backupSql(mf, database, manifest) {
  const bucket = await mf.getR2Bucket("BACKUPS");
  const prefix = `backups/${database}/${manifest.backupId}`;
  const parts = [await readText(bucket, `${prefix}/schema.sql`)];
  for (const table of Object.keys(manifest.tables)) parts.push(await readText(bucket, `${prefix}/tables/${table}.sql`));
  return parts.join("");
}

/** Load a backup script in one batch (one transaction, so deferred foreign keys hold until the end). */
export async function restoreInto(db, sql) {
  const statements = sql.split(/;\n/).filter((s) => s.trim());
  await db.batch(statements.map((s) => db.prepare(s)));
}

export async function rows(db, table, order = "id") {
  return (await db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all()).results;
}

export async function seedBulk(db, table, count, makeRow, batch = 200) {
  for (let start = 0; start < count; start += batch) {
    const statements = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const row = makeRow(i);
      const columns = Object.keys(row);
      statements.push(db.prepare(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`)
        .bind(...Object.values(row)));
    }
    await db.batch(statements);
  }
}
