// Shared set-up for the backup Worker tests: the Worker on workerd (miniflare) with two D1 databases, the
// backup bucket and a captured alert webhook, behind the test entry (chaos-entry.mjs), which the tests
// drive on their own clock: they fire the cron and deliver the queue's messages (driven-queue.mjs).
import assert from "node:assert/strict";
import { after } from "node:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { backupId, backupManifest, backupWorkerOptions, getObject, localBucket, localD1, localRuntime } from "../local/harness.mjs";
import { DrivenQueue } from "./driven-queue.mjs";

export const ALERT_URL = "https://hooks.slack.test/services/T000/B000/backups";
export const BACKUP_CRON = "15 2 * * *";

// Mutation testing (stryker.config.mjs): Stryker's command runner names the active mutant in this variable,
// which the Worker in workerd cannot read; it goes to the test entry as a binding (chaos-entry.mjs). Unset in
// a normal run, where the Worker gets no such binding.
const MUTANT = "__STRYKER_ACTIVE_MUTANT__";
const mutantBinding = process.env[MUTANT] ? { [MUTANT]: process.env[MUTANT] } : {};

/** The bucket lock rules of the prod plan (the approved snapshot, which tests/ keeps equal to the program):
 *  the test entry enforces them on every backup test (chaos-entry.mjs lockBucket). */
export function planLockRules(stack = "prod") {
  const snapshot = JSON.parse(readFileSync(new URL(`../../stacks/snapshots/${stack}.json`, import.meta.url), "utf8"));
  const locks = snapshot.resources.filter((r) => r.type === "cloudflare:index/r2BucketLock:R2BucketLock");
  assert.equal(locks.length, 1, `the ${stack} plan declares one bucket lock, on the backup bucket`);
  return locks[0].inputs.rules;
}

/** The backup Worker behind the test entry. `alerts` collects what the webhook accepted; `webhook.answers`
 *  is a list of responses the webhook gives first ({status, retryAfter} or "hang"), then 200; `webhook.attempts`
 *  counts every request. */
export function backupWorker({ bindings = {}, extraD1 = {}, lockRules = planLockRules() } = {}) {
  const alerts = [];
  const webhook = { answers: [], attempts: 0 };
  const mf = new Miniflare(localRuntime(backupWorkerOptions({
    scriptPath: fileURLToPath(new URL("./chaos-entry.mjs", import.meta.url)), queue: "driven",
    d1Databases: { DB_CORE: "core", DB_AUDIT_EU: "audit-eu", RESTORE: "restore-target", ...extraD1 },
    bindings: { ALERT_WEBHOOK_URL: ALERT_URL, ALERT_RETRY_BASE_MS: "0", ALERT_TIMEOUT_MS: "2000", __LOCK_RULES: JSON.stringify(lockRules), ...mutantBinding, ...bindings },
    outboundService: async (request) => {
      if (request.url !== ALERT_URL) return new Response("unexpected", { status: 599 });
      webhook.attempts += 1;
      const answer = webhook.answers.shift();
      if (answer === "hang") return new Promise(() => {}); // the Worker's own timeout must end it
      if (answer) {
        const headers = answer.retryAfter === undefined ? {} : { "retry-after": String(answer.retryAfter) };
        return new Response("rate limited or failing", { status: answer.status, headers });
      }
      alerts.push(await request.json());
      return new Response("ok");
    },
  })));
  return { mf, alerts, webhook };
}

/** `open(options)`: backupWorker() for a test file, each one disposed after the file's tests. */
export function backupWorkers() {
  const opened = [];
  after(async () => Promise.all(opened.map((mf) => mf.dispose())));
  return (options) => {
    const worker = backupWorker(options);
    opened.push(worker.mf);
    return worker;
  };
}

export const runId = backupId;

/** The run's state, read over HTTP. */
export async function runState(mf, time) {
  const object = await getObject(mf, `runs/${runId(time)}.json`);
  return object ? object.json() : null;
}

async function drive(mf, request) {
  const response = await mf.dispatchFetch("http://entry.local/__drive", { method: "POST",
    body: JSON.stringify(request) });
  if (!response.ok) throw new Error(`drive ${request.kind}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

/** Deliver one queue message `body` once at `now`: its outcome ({ack, delaySeconds}) and the messages sent. */
export async function deliverMessage(mf, body, now) {
  const { outcomes: [outcome], sent } = await drive(mf, { kind: "queue", now, message: { id: "msg-test", body, attempts: 0 } });
  return { outcome, sent };
}

/** Fire a cron event at `time` (the test's clock) and wait for its work. */
export async function fireCron(mf, cron, time) {
  return drive(mf, { kind: "scheduled", cron, time });
}

/** Fire the backup cron at `time`, then deliver the queue's messages as Cloudflare would, on the test's
 *  clock, until the queue is empty: retries come back after their delay, a message whose retries are
 *  used up is dropped. `duplicates`: "later" delivers every message a second time after the next one,
 *  "concurrent" delivers two copies at the same moment. Each invocation takes one second of the clock.
 *  Returns the run's state and the queue (deliveries, dropped messages). */
export async function runBackup(mf, time, { duplicates = null, maxDeliveries = 500 } = {}) {
  const queue = new DrivenQueue({ maxRetries: backupManifest.queue.consumer.maxRetries });
  let now = time;
  const enqueue = (sent) => { for (const { body, delaySeconds } of sent) queue.send(body, { delaySeconds }, now); };
  enqueue((await fireCron(mf, BACKUP_CRON, now)).sent);
  for (let message = queue.next(); message; message = queue.next()) {
    if (queue.deliveries >= maxDeliveries) throw new Error(`backup ${runId(time)}: over ${maxDeliveries} deliveries`);
    now = Math.max(now + 1000, message.availableAt);
    const { outcomes, sent } = await drive(mf, { kind: "queue", now, copies: duplicates === "concurrent" ? 2 : 1,
      message: { id: message.id, body: message.body, attempts: message.attempts } });
    enqueue(sent);
    queue.settle(message, outcomes, now);
    if (duplicates === "later" && !message.copy) queue.redeliver(message, now, 1500);
  }
  return { state: await runState(mf, time), queue };
}

export async function readText(bucket, key) {
  const object = await bucket.get(key);
  assert.ok(object, `missing object ${key}`);
  return object.text();
}

/** Rows exported per table, from a manifest. */
export function rowsOf(manifest) {
  return Object.fromEntries(Object.entries(manifest.tables).map(([name, t]) => [name, t.rows]));
}

export async function manifestOf(mf, database, time) {
  const object = await localBucket(mf).get(`backups/${database}/${runId(time)}/manifest.json`);
  return object ? JSON.parse(await object.text()) : null;
}

/** Check every object of a backup against its manifest: size and SHA-256 per chunk. */
export async function assertChecksums(mf, database, manifest) {
  const bucket = localBucket(mf);
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

/** The backup as one SQL script, in the manifest's load order: tables, rows, then counters, indexes,
 *  views and triggers. */
export async function backupSql(mf, database, manifest) {
  const bucket = localBucket(mf);
  const prefix = `backups/${database}/${manifest.backupId}`;
  const parts = [];
  for (const name of manifest.load) parts.push(await readText(bucket, `${prefix}/${name}`));
  return parts.join("");
}

/** The statements of a script: split at the semicolons outside quotes and outside a trigger's body. */
export function statements(sql) {
  const out = [];
  let start = 0;
  let quote = null;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === ";") {
      const statement = sql.slice(start, i).trim();
      if (/^CREATE\s+(TEMP\w*\s+)?TRIGGER/i.test(statement) && !/\bEND$/i.test(statement)) continue;
      if (statement) out.push(statement);
      start = i + 1;
    }
  }
  if (sql.slice(start).trim()) out.push(sql.slice(start).trim());
  return out;
}

/** Load a backup script into the D1 database bound as `binding`, in one batch (one transaction, so deferred foreign
 *  keys hold until the end): a failing statement fails the call. */
export async function restoreInto(mf, binding, sql) {
  const db = localD1(mf, binding);
  await db.batch(statements(sql).map((statement) => db.prepare(statement)));
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
