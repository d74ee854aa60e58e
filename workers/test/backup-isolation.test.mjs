// The plan's bucket lock against the Worker, alert delivery, and isolation of failures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backupWorkers, fireCron, manifestOf, planLockRules, runBackup, runState } from "./helpers.mjs";
import { localBucket, localD1 } from "../local/harness.mjs";

const open = backupWorkers();
const DAY = 24 * 3600e3;
const T0 = Date.UTC(2026, 10, 27, 2, 15, 0);

async function seed(mf) {
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) " +
    "INSERT INTO items SELECT i, 'v' || i FROM n").run();
  const audit = localD1(mf, "DB_AUDIT_EU");
  await audit.prepare("CREATE TABLE events (id INTEGER PRIMARY KEY, v TEXT)").run();
  await audit.prepare("INSERT INTO events VALUES (1, 'a')").run();
}

// The program as it was first declared locked every key (empty prefix: "rules without prefix apply to all
// objects", r2/buckets/bucket-locks.mdx). The Worker overwrites its run state, so no backup could complete:
// the emulation must refuse it, or the test of the real rules below proves nothing.
test("under a lock on every key (the old program) the run cannot even record its progress", async () => {
  const rules = planLockRules().map((rule) => ({ ...rule, prefix: "" }));
  const { mf, alerts } = open({ lockRules: rules, bindings: { BACKUP_PAGE_ROWS: "40", BACKUP_QUERY_BUDGET: "8" } });
  await seed(mf);
  const { state } = await runBackup(mf, T0);
  assert.notEqual(state?.status, "complete");
  assert.ok(alerts.some((a) => /R2 bucket lock: overwrite of runs\//.test(a.text)), JSON.stringify(alerts));
});

// The plan's rules (backups/ locked for the retention's first days): several daily runs, one of them failing
// mid-way, then its clean-up by the next run. Nothing the Worker does is refused; every complete backup stays.
test("under the plan's lock: daily runs, a failed one and its clean-up, nothing refused", async () => {
  const rules = planLockRules();
  assert.ok(rules.every((r) => r.prefix === "backups/"), JSON.stringify(rules));
  const { mf, alerts } = open({ bindings: { BACKUP_PAGE_ROWS: "40", BACKUP_QUERY_BUDGET: "8" } });
  await seed(mf);
  const bucket = localBucket(mf);
  for (let day = 0; day < 4; day++) {
    const time = T0 + day * DAY;
    if (day === 1) await bucket.put("__chaos.json", JSON.stringify({ failInvocation: 2, failAt: 2, target: "d1" }));
    await bucket.delete("__chaos_invocations");
    const before = alerts.length;
    await runBackup(mf, time);
    await bucket.delete("__chaos.json");
    const raised = alerts.slice(before);
    assert.ok(raised.every((a) => !/bucket lock/.test(a.text)), JSON.stringify(raised));
    if (day === 1) assert.ok(raised.length >= 1, "the failed day alerted");
    else {
      assert.deepEqual(raised, [], `day ${day}`);
      assert.equal((await manifestOf(mf, "core", time)).complete, true);
    }
  }
  assert.equal((await runState(mf, T0 + 3 * DAY)).status, "complete");
});

// Slack's incoming webhooks answer 429 with Retry-After when rate-limited and 5xx when failing
// (api.slack.com/apis/rate-limits; docs.slack.dev/messaging/sending-messages-using-incoming-webhooks
// "Handling errors"): the alert is retried with backoff; one that is still undelivered is kept in the
// bucket (alerts/pending/) and delivered by the next run; a 4xx other than 429 is not retried.
test("alert delivery: retried on 429 and 5xx, kept when it still fails, delivered by the next verification or run", async () => {
  const { mf, alerts, webhook } = open();
  await seed(mf);
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE VIRTUAL TABLE idx USING fts5(body, content='')").run();
  webhook.answers.push({ status: 429, retryAfter: 0 }, { status: 503 });
  await runBackup(mf, T0);
  assert.equal(webhook.attempts, 3, "429, 503, then delivered");
  assert.equal(alerts.length, 1);
  assert.match(alerts[0].text, /database core is incomplete: core\.idx: a contentless FTS5 table/);

  webhook.answers.push(...Array.from({ length: 4 }, () => ({ status: 500 })), "hang");
  const attempts = webhook.attempts;
  await runBackup(mf, T0 + DAY);
  assert.equal(webhook.attempts - attempts, 4, "four attempts, then kept");
  assert.equal(alerts.length, 1, "nothing delivered yet");
  const bucket = localBucket(mf);
  assert.equal((await bucket.list({ prefix: "alerts/pending/" })).objects.length, 1, "kept for the next run");

  // The afternoon verification delivers what is pending (the webhook hangs once: the Worker's timeout ends it).
  await fireCron(mf, "0 14 * * *", T0 + DAY + 12 * 3600e3);
  assert.ok(alerts.some((a) => /first attempted at/.test(a.text)), JSON.stringify(alerts));
  assert.equal((await bucket.list({ prefix: "alerts/pending/" })).objects.length, 0);

  webhook.answers.push({ status: 404 });
  const before = webhook.attempts;
  await runBackup(mf, T0 + 3 * DAY);
  assert.equal(webhook.attempts - before, 1, "a 404 is not retried (the URL is wrong, not busy)");
});

test("one table that cannot be exported fails alone: its database says incomplete, the others are whole", async () => {
  const { mf, alerts } = open();
  await seed(mf);
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE VIRTUAL TABLE idx USING fts5(body, content='')").run();
  const { state } = await runBackup(mf, T0);
  assert.equal(state.status, "complete");
  const manifest = await manifestOf(mf, "core", T0);
  assert.equal(manifest.complete, false);
  assert.deepEqual(manifest.failures.map((f) => f.table), ["idx"]);
  assert.equal(manifest.tables.items.rows, 300, "the other table of the same database was exported");
  assert.equal((await manifestOf(mf, "audit-eu", T0)).complete, true, "the other database is whole");
  assert.equal(alerts.length, 1);
  assert.match(alerts[0].text, /database core is incomplete: core\.idx/);
});
