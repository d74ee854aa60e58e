// Faults never produce a backup that looks complete: R2 and D1 failures injected at random points of
// random invocations (seeded, reproducible). A failed table or database gets no complete manifest and an
// alert naming it; the others are backed up. The next run aborts the leftover uploads, removes the run's
// carried bytes, and produces a complete, restorable backup. Every test runs under the plan's bucket lock.
import { test, after } from "node:test";
import assert from "node:assert/strict";
//
// Every test here is driven on the test's clock (helpers.mjs runBackup): the queue's deliveries, retries
// after a death and the leases they wait for happen in the same order on a loaded machine as on an idle one.
// The lease is the production default (120 s of the test's clock).
import {
  assertChecksums, backupSql, backupWorker, manifestOf, restoreInto, rows, runBackup, runId, runState,
} from "./helpers.mjs";
import { backupManifest, localBucket, localD1 } from "../local/harness.mjs";

const { mf, alerts } = backupWorker({
  extraD1: Object.fromEntries(["1", "2", "4", "6", "STALLED", "DROPPED", ...Array.from({ length: 14 }, (_, i) => `CRASH_${i + 1}`)]
    .map((name) => [`RESTORE_${name}`, `restore-${name.toLowerCase()}`])),
  bindings: { BACKUP_PAGE_ROWS: "40", BACKUP_QUERY_BUDGET: "10", BACKUP_PART_BYTES: String(5 * 1024 * 1024) },
});
after(() => mf.dispose());

function random(seed) {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

const SEED = Number(process.env.FAULT_SEED ?? 20261127);
const next = random(SEED);
const CASES = Array.from({ length: 6 }, (_, i) => ({
  failInvocation: 1 + Math.floor(next() * 2),
  failAt: 1 + Math.floor(next() * 6),
  target: ["r2", "d1", "any"][i % 3],
}));

test(`injected faults (seed ${SEED}) never leave a backup that looks complete`, async () => {
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT)").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) " +
    "INSERT INTO items SELECT i, 'value ' || i FROM n").run();
  const audit = localD1(mf, "DB_AUDIT_EU");
  await audit.prepare("CREATE TABLE events (id INTEGER PRIMARY KEY, actor TEXT)").run();
  await audit.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) " +
    "INSERT INTO events SELECT i, 'actor ' || i FROM n").run();
  const bucket = localBucket(mf);
  let time = Date.UTC(2026, 10, 27, 2, 15, 0);
  let failures = 0;

  for (const plan of CASES) {
    const label = JSON.stringify(plan);
    await bucket.put("__chaos.json", JSON.stringify(plan));
    await bucket.delete("__chaos_invocations");
    const before = alerts.length;
    const { state } = await runBackup(mf, time);
    // Whatever the fault hit, a manifest that says complete describes a whole backup, and every database
    // without one is named by an alert: one for the run when it failed as a whole, else one per database.
    const incomplete = [];
    for (const db of ["core", "audit-eu"]) {
      const manifest = await manifestOf(mf, db, time);
      if (manifest?.complete) await assertChecksums(mf, db, manifest);
      else incomplete.push(db);
    }
    const raised = alerts.slice(before);
    if (incomplete.length) {
      failures += 1;
      for (const alert of raised) {
        assert.match(alert.text, /injected (d1|r2) failure|could not start/, label);
        assert.equal(alert.severity, "critical");
      }
      for (const db of incomplete) {
        assert.ok(raised.some((a) => a.text.includes(state?.status === "complete" ? `database ${db} ` : db)),
          `${label}: no alert names ${db}: ${JSON.stringify(raised)}`);
      }
      assert.equal(raised.length, state?.status === "complete" ? incomplete.length : 1, `${label}: one alert per failure`);
    } else {
      assert.deepEqual(raised, [], `${label}: the fault point lay beyond the run's last operation`);
    }
    // The next run, without faults, starts clean and completes.
    await bucket.delete("__chaos.json");
    time += 3600e3;
    const { state: clean } = await runBackup(mf, time);
    assert.equal(clean.status, "complete", `${label}: the next run completes (${clean.error})`);
    for (const db of ["core", "audit-eu"]) {
      const manifest = await manifestOf(mf, db, time);
      assert.equal(manifest.complete, true, label);
      await assertChecksums(mf, db, manifest);
    }
    const failedRun = runId(time - 3600e3);
    const carries = await bucket.list({ prefix: `runs/${failedRun}/` });
    assert.deepEqual(carries.objects.map((o) => o.key), [],
      `${label}: carried bytes were removed (${JSON.stringify(await runState(mf, time - 3600e3))})`);
    time += 3600e3;
  }
  assert.ok(failures >= CASES.length / 2, `only ${failures} of ${CASES.length} cases hit a fault`);
  // And the last clean backup restores row for row.
  const manifest = await manifestOf(mf, "core", time - 3600e3);
  const target = localD1(mf, "RESTORE");
  await restoreInto(mf, "RESTORE", await backupSql(mf, "core", manifest));
  assert.deepEqual(await rows(target, "items"), await rows(core, "items"));
});

async function seedNotes(table, count) {
  const core = localD1(mf, "DB_CORE");
  await core.prepare(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, body TEXT)`).run();
  await core.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count}) ` +
    `INSERT INTO ${table} SELECT i, 'note ' || i || ' ' || hex(randomblob(20)) FROM n`).run();
  return core;
}

/** The run completed with no message dropped, its objects match the manifest, nothing was alerted or
 *  left over, and the table restores row for row into a fresh database. */
async function assertWhole(core, table, time, restoreBinding, queue) {
  const state = await runState(mf, time);
  assert.equal(state.status, "complete", state.error);
  assert.deepEqual(queue.dropped, [], "no message used up its retries");
  const manifest = await manifestOf(mf, "core", time);
  assert.equal(manifest.tables[table].rows, (await core.prepare(`SELECT count(*) AS n FROM ${table}`).first()).n);
  await assertChecksums(mf, "core", manifest);
  const bucket = localBucket(mf);
  assert.deepEqual((await bucket.list({ prefix: `runs/${runId(time)}/` })).objects.map((o) => o.key), [],
    "no carried bytes left");
  const target = localD1(mf, restoreBinding);
  await restoreInto(mf, restoreBinding, await backupSql(mf, "core", manifest));
  assert.deepEqual(await rows(target, table), await rows(core, table));
  return state;
}

// Queues deliver at least once (docs: queues/reference/delivery-guarantees.mdx): every continuation is
// delivered twice, after the next one ("later") or two copies at the same moment ("concurrent").
for (const [duplicates, table, day] of [["later", "notes_redelivered", 1], ["concurrent", "notes_concurrent", 2]]) {
  test(`a queue message delivered twice (${duplicates === "later" ? "again later" : "at the same moment"}) runs once`, async () => {
    const core = await seedNotes(table, 400);
    const before = alerts.length;
    const time = Date.UTC(2026, 11, day, 2, 15, 0);
    const { state, queue } = await runBackup(mf, time, { duplicates });
    assert.ok(state.invocations >= 3, `expected several invocations, got ${state.invocations}`);
    assert.equal(queue.deliveries, 2 * (state.invocations - 1), "every continuation arrived twice");
    assert.equal(state.takeovers ?? 0, 0, "no copy took a live invocation over");
    await assertWhole(core, table, time, `RESTORE_${day}`, queue);
    assert.equal(alerts.length, before, JSON.stringify(alerts.slice(before)));
  });
}

test("an invocation still running when its lease ran out stops at its next write; the one that took over finishes", async () => {
  const core = await seedNotes("notes_stalled", 600);
  const bucket = localBucket(mf);
  // The first queue invocation stalls at its 4th operation; a copy of its message is delivered once its
  // lease has run out (the test's clock jumps past it) and takes over from the checkpoint; then the
  // stalled invocation goes on, and must stop at its next write.
  await bucket.put("__chaos.json", JSON.stringify({ stallAt: 4 }));
  await bucket.delete("__chaos_invocations"); // the cron is invocation 1: the stall hits a queue invocation
  const before = alerts.length;
  const time = Date.UTC(2026, 11, 5, 2, 15, 0);
  const { state, queue } = await runBackup(mf, time);
  assert.equal(state.takeovers, 1, "the late copy took the stalled invocation over");
  assert.equal(queue.deliveries, state.invocations, "one extra delivery: the copy");
  await assertWhole(core, "notes_stalled", time, "RESTORE_STALLED", queue);
  await bucket.delete("__chaos.json");
  assert.equal(alerts.length, before, JSON.stringify(alerts.slice(before)));
});

// Invocations that die mid-way (CPU limit, eviction): no catch block runs and the message is not
// acknowledged. The queue retries it; once the lease has run out, the retry takes over from the
// checkpoint. The third invocation dies at each of its operations in turn: loading the run, claiming it,
// reading the carried bytes, each page, writing the carry, writing the state.
test("an invocation that dies at any of its operations is taken over from its checkpoint", async () => {
  const core = await seedNotes("notes_crashed", 600);
  const bucket = localBucket(mf);
  let time = Date.UTC(2026, 11, 3, 2, 15, 0);
  for (let crashAt = 1; crashAt <= 14; crashAt++) {
    const plan = { crashInvocation: 3, crashAt };
    await bucket.put("__chaos.json", JSON.stringify(plan));
    await bucket.delete("__chaos_invocations");
    const before = alerts.length;
    const { state, queue } = await runBackup(mf, time);
    const delivered = Number(await (await bucket.get("__chaos_invocations")).text());
    assert.ok(delivered > state.invocations, `${JSON.stringify(plan)}: the crash happened and was retried`);
    await assertWhole(core, "notes_crashed", time, `RESTORE_CRASH_${crashAt}`, queue);
    assert.equal(alerts.length, before, JSON.stringify(alerts.slice(before)));
    time += 3600e3;
  }
  await bucket.delete("__chaos.json");
});

for (const [trigger, when, day] of [["crashAfterCreate", "just after starting", 4], ["crashAfterComplete", "just after completing", 6]]) {
  test(`an invocation that dies ${when} a multipart upload loses no rows`, async () => {
    const table = `documents_${day}`;
    const core = localD1(mf, "DB_CORE");
    await core.prepare(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, body TEXT)`).run();
    await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) " +
      `INSERT INTO ${table} SELECT i, i || ':' || hex(randomblob(1000)) FROM n`).run(); // 6 MB: one full part
    const bucket = localBucket(mf);
    await bucket.put("__chaos.json", JSON.stringify({ [trigger]: trigger === "crashAfterCreate" ? 2 : 1 }));
    const before = alerts.length;
    const time = Date.UTC(2026, 11, day, 2, 15, 0);
    const { state, queue } = await runBackup(mf, time);
    await bucket.delete("__chaos.json");
    assert.ok(state.takeovers >= 1, "the invocation died and was taken over");
    await assertWhole(core, table, time, `RESTORE_${day}`, queue);
    const manifest = await manifestOf(mf, "core", time);
    assert.ok(manifest.objects[manifest.tables[table].object].chunks.length >= 2, "the table was a multipart upload");
    assert.equal(alerts.length, before, JSON.stringify(alerts.slice(before)));
  });
}

// Cloudflare deletes a message after max_retries failed deliveries (docs: queues/configuration/
// batching-retries.mdx; ours allow 10, workers/backup/worker.json). A continuation that dies every time is
// dropped; the run is left "running", and the next scheduled run removes what it left and alerts.
test("a continuation that dies on every delivery is dropped after its retries; the next run cleans up and alerts", async () => {
  const core = await seedNotes("notes_dropped", 400);
  const bucket = localBucket(mf);
  await bucket.put("__chaos.json", JSON.stringify({ crashFrom: 2 }));
  await bucket.delete("__chaos_invocations");
  const before = alerts.length;
  const time = Date.UTC(2026, 11, 8, 2, 15, 0);
  const { state, queue } = await runBackup(mf, time);
  await bucket.delete("__chaos.json");
  assert.equal(state.status, "running", "nothing finished the run");
  assert.equal(queue.dropped.length, 1, "the continuation was dropped");
  assert.equal(queue.deliveries, backupManifest.queue.consumer.maxRetries + 1, "first delivery and every retry");
  assert.equal(alerts.length, before, "a death raises nothing by itself");

  const next = time + 24 * 3600e3;
  const { state: clean } = await runBackup(mf, next);
  assert.equal(clean.status, "complete", clean.error);
  assert.equal(alerts.length, before + 1);
  assert.match(alerts.at(-1).text, new RegExp(`backup run ${runId(time)} never finished; no complete manifest exists ` +
    "for core of that run"));
  // What it wrote stays (the bucket lock refuses deletes), without a manifest: never restored.
  const left = (await bucket.list({ prefix: `backups/core/${runId(time)}/` })).objects.map((o) => o.key);
  assert.ok(!left.some((k) => k.endsWith("manifest.json")), JSON.stringify(left));
  await assertWhole(core, "notes_dropped", next, "RESTORE_DROPPED", { dropped: [] });
});
