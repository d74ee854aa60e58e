// The synthetic monitor on workerd, on a clock the test drives: outages, blips, gaps, burns at each rate,
// and alert endpoints that answer 429, 500 or hang. Each test has its own Worker and database.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MINUTE, START, TARGETS, monitor, seedProbes } from "./monitor-helpers.mjs";
import { localBucket, localD1 } from "../local/harness.mjs";

const API = "api.parsify.test";
const PD = "events.pagerduty.test";
const SLACK_HOST = "hooks.slack.test";
const EMAIL_HOST = "email.test";

async function withMonitor(options, body) {
  const m = monitor(options);
  try {
    await body(m);
  } finally {
    await m.dispose();
  }
}

const triggers = (m) => m.delivered("pagerduty").filter((p) => p.body.event_action === "trigger");
const resolves = (m) => m.delivered("pagerduty").filter((p) => p.body.event_action === "resolve");

test("healthy targets: no alert; the page and JSON say every target is operational", () => withMonitor({}, async (m) => {
  await m.minutes(5);
  assert.deepEqual(m.sent, []);
  const { status, body } = await m.get("/status.json");
  assert.equal(status, 200);
  assert.equal(body.overall, "all systems operational");
  assert.equal(body.stale, false);
  assert.deepEqual(body.targets.map((t) => [t.name, t.status]), TARGETS.map((t) => [t.name, "operational"]));
  const page = await m.get("/");
  assert.match(page.body, /All systems operational/);
}));

// PagerDuty Events API v2: a 429 means the event was not ingested; retry (3 times, 30 s apart, is their
// suggestion) - https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/05-Rate-Limits.md;
// 5xx answers are retried like 429 (the Events API docs, as quoted in PagerDuty/pdpyras#115).
test("PagerDuty answering 429 then 500 during a 16-minute outage: the page is retried until delivered, " +
  "the incident counts as alerted only then, and the resolve follows the trigger", () => withMonitor({}, async (m) => {
  m.script(API, { status: 503 });
  m.script(PD, { status: 429, retryAfter: 30 }, { status: 429 }, { status: 500 }, { status: 500 }, { status: 202 });
  await m.minutes(1);
  assert.equal(triggers(m).length, 0, "nothing delivered yet");
  let data = (await m.get("/status.json")).body;
  assert.equal(data.incidents.length, 1, "one outage of one target: one incident (not availability + errors)");
  assert.equal(data.incidents[0].alerted, false, "not alerted before PagerDuty accepted the event");
  assert.equal(data.undeliveredAlerts, 1, "the page waits in the outbox; Slack and email went out");
  assert.equal(m.delivered("slack").length, 1);
  assert.equal(m.delivered("email").length, 1);
  const attempts = () => m.sent.filter((s) => s.channel === "pagerduty").length;
  // Attempt (minute: answer -> wait): 1 (0: 429, Retry-After 30 s), 2 (1: 429 -> 60 s), 3 (2: 500 -> 120 s,
  // the cap), 4 (4: 500 -> 120 s), 5 (6: accepted).
  const expected = [2, 3, 3, 4, 4, 5];
  for (const [minute, count] of expected.entries()) {
    await m.minutes(1);
    assert.equal(attempts(), count, `attempts after minute ${minute + 1}`);
  }
  assert.equal(triggers(m).length, 1, "the page was delivered, once");
  assert.equal(triggers(m)[0].body.routing_key, "R0UTINGKEY");
  assert.match(triggers(m)[0].body.payload.summary, /API - availability error budget burning at 20\.8x over 1 h \(threshold 14\.4x\)/);
  data = (await m.get("/status.json")).body;
  assert.equal(data.incidents[0].alerted, true);
  assert.equal(data.undeliveredAlerts, 0);
  await m.minutes(9); // 16 minutes down in all: still one incident, one page
  assert.equal(triggers(m).length, 1);
  assert.equal((await m.get("/status.json")).body.incidents.length, 1);

  m.script(API, { status: 200 });
  m.script(PD, { status: 500 }, { status: 202 });
  // The 6-hour rule's 30-minute window holds failures until 30 clean minutes: only then does it resolve.
  await m.minutes(29);
  assert.equal(m.sent.filter((s) => s.channel === "pagerduty").length, 5, "no resolve while a window still burns");
  await m.minutes(1);
  assert.equal(m.sent.filter((s) => s.channel === "pagerduty").length, 6, "the resolve, answered 500");
  assert.equal(resolves(m).length, 0);
  await m.minutes(1);
  assert.equal(resolves(m).length, 1, "retried on the next run");
  assert.equal(resolves(m)[0].body.dedup_key, triggers(m)[0].body.dedup_key);
  const slack = m.delivered("slack").map((s) => s.body.text);
  assert.equal(slack.length, 2);
  assert.match(slack[1], /RESOLVED: API - paging stopped .*a warning ticket stays open: availability error budget burning at \d+\.\dx over 72 h/);
  assert.equal((await m.get("/status.json")).body.overall, "all systems operational");
}));

// Slack incoming webhooks answer 429 with Retry-After (seconds) when rate limited - https://api.slack.com/docs/rate-limits.
// Resend answers 429 with retry-after too - https://resend.com/docs/api-reference/rate-limit.
test("Slack rate limiting and an email API that hangs: each is retried on a later run; what is undelivered " +
  "stays queued, nothing is sent twice", () => withMonitor({}, async (m) => {
  m.script(API, { status: 503 });
  m.script(SLACK_HOST, { status: 429, retryAfter: 150 }, { status: 200 });
  m.script(EMAIL_HOST, { hang: true }, { status: 200 });
  await m.minutes(1);
  assert.equal(triggers(m).length, 1, "PagerDuty is not held up by the other channels");
  assert.equal(m.delivered("slack").length, 0);
  assert.equal(m.delivered("email").length, 0, "the hanging request timed out");
  assert.equal((await m.get("/status.json")).body.undeliveredAlerts, 2);
  await m.minutes(1);
  assert.equal(m.sent.filter((s) => s.channel === "slack").length, 1, "Retry-After 150 s is honoured");
  assert.equal(m.delivered("email").length, 1, "the email goes out on the next run");
  await m.minutes(2);
  assert.equal(m.delivered("slack").length, 1);
  assert.match(m.delivered("slack")[0].body.text, /OPEN: API/);
  assert.equal((await m.get("/status.json")).body.undeliveredAlerts, 0);
}));

test("an alert refused for good (PagerDuty 400: a bad routing key) is not retried; the other channels hear " +
  "that the channel is broken", () => withMonitor({}, async (m) => {
  m.script(API, { status: 503 });
  m.script(PD, { status: 400 });
  await m.minutes(1);
  const slack = m.delivered("slack").map((s) => s.body.text).join("\n");
  assert.match(slack, /OPEN: API/);
  assert.match(slack, /ALERT CHANNEL BROKEN: pagerduty refused an alert for good \(events\.pagerduty\.test answered 400\)/);
  assert.equal(m.delivered("email").length, 1);
  const data = (await m.get("/status.json")).body;
  assert.equal(data.failedAlerts, 1);
  assert.equal(data.incidents[0].alerted, false, "the page never arrived");
  await m.minutes(3);
  assert.equal(m.sent.filter((s) => s.channel === "pagerduty").length, 1, "a refused request is not repeated");
}));

test("a blip (a failed probe that the confirming retry does not see) pages nobody and counts as up",
  () => withMonitor({}, async (m) => {
    await m.minutes(30);
    m.script(API, { status: 503 }, { status: 200 });
    await m.minutes(30);
    assert.deepEqual(m.sent, []);
    const data = (await m.get("/status.json")).body;
    assert.equal(data.targets[0].status, "operational");
    assert.equal(data.targets[0].uptimePercent, 100);
  }));

test("one confirmed failure in sixty minutes is one incident and one page, and clears in five minutes",
  () => withMonitor({}, async (m) => {
    await m.minutes(59);
    m.script(API, { status: 503 }, { status: 503 }, { status: 200 });
    await m.minutes(1);
    assert.equal(triggers(m).length, 1, "one page, not one per SLO");
    assert.equal((await m.get("/status.json")).body.targets[0].status, "major outage");
    await m.minutes(4);
    assert.equal(resolves(m).length, 0);
    await m.minutes(1);
    assert.equal(resolves(m).length, 1, "resolved once the 5-minute window is clean");
    const data = (await m.get("/status.json")).body;
    assert.equal(data.targets[0].status, "operational", "not red for an hour");
    assert.equal(data.overall, "all systems operational");
  }));

test("no data is not recovery: after a gap, incidents stay open, the gap is reported, and nothing pages twice",
  () => withMonitor({}, async (m) => {
    m.script(API, { status: 503 });
    await m.minutes(3);
    assert.equal(triggers(m).length, 1);
    m.script(API, { status: 200 });
    m.now += 40 * MINUTE; // the monitor did not run for 40 minutes
    await m.minutes(1);
    let data = (await m.get("/status.json")).body;
    assert.equal(data.incidents[0].resolvedAt, null, "one sample after the gap resolves nothing");
    assert.equal(data.gaps.length, 1);
    assert.match(m.delivered("slack").at(-1).body.text, /GAP: no monitoring from .* \(41 min\)/);
    await m.minutes(2);
    assert.equal(resolves(m).length, 0, "the 5-minute window is not covered yet");
    await m.minutes(1);
    assert.equal(resolves(m).length, 1, "resolved once 4 of the last 5 minutes have samples, all good");
    await m.minutes(10);
    assert.equal(triggers(m).length, 1, "no second page");
    data = (await m.get("/status.json")).body;
    assert.equal(data.overall, "all systems operational");
  }));

test("a fast burn (14.4x over 1 h, confirmed over 5 min) pages; errors that are not outages count as errors",
  () => withMonitor({}, async (m) => {
    await m.minutes(1);
    await seedProbes(await m.db(), "API", m.now - 360 * MINUTE, 360); // six healthy hours before
    let first = null;
    for (let minute = 1; minute <= 60 && !first; minute++) {
      m.script(API, { status: minute % 5 === 0 ? 404 : 200 }); // 20% errors: 20x the error-rate budget
      await m.minutes(1);
      if (triggers(m).length) first = minute;
    }
    assert.ok(first >= 40 && first <= 50, `paged at minute ${first}: once the hour holds 14.4% errors`);
    assert.match(triggers(m)[0].body.payload.summary, /error rate error budget burning at 1[45]\.\dx over 1 h \(threshold 14.4x\)/);
    assert.doesNotMatch(triggers(m)[0].body.payload.summary, /availability/, "404s are not an availability burn");
  }));

test("a 6x burn over 6 h (confirmed over 30 min) pages through the 6-hour rule, not the 1-hour one",
  () => withMonitor({}, async (m) => {
    await m.minutes(1);
    await seedProbes(await m.db(), "API", m.now - 360 * MINUTE, 360);
    let first = null;
    for (let minute = 1; minute <= 300 && !first; minute++) {
      m.script(API, { status: minute % 10 === 0 ? 404 : 200 }); // 10% errors: 10x, under 14.4x
      await m.minutes(1);
      if (triggers(m).length) first = minute;
    }
    assert.ok(first >= 200 && first <= 240, `paged at minute ${first}: once 6 hours hold 6% errors`);
    assert.match(triggers(m)[0].body.payload.summary, /over 6 h \(threshold 6x\)/);
  }));

test("a slow burn (1x over 3 days, confirmed over 6 h) opens a ticket-level notice: Slack and email, no page",
  () => withMonitor({}, async (m) => {
    await m.minutes(1);
    // 3 days at 1.5% errors: 1.5x the budget - too slow to page, too fast to ignore.
    await seedProbes(await m.db(), "API", m.now - 4320 * MINUTE, 4320, { every: 200, failures: 3 });
    await m.minutes(1);
    assert.equal(triggers(m).length, 0);
    assert.match(m.delivered("slack")[0].body.text, /\[warning\] OPEN: API - error rate error budget burning at 1\.5x over 72 h/);
    assert.equal(m.delivered("email").length, 1);
  }));

test("a maintenance window is announced in advance, suppresses paging for its targets, and is reported",
  () => withMonitor({ stack: { maintenance: [{ start: new Date(START + 30 * MINUTE).toISOString(),
    end: new Date(START + 60 * MINUTE).toISOString(), targets: ["API"], summary: "D1 migration" }] } }, async (m) => {
    await m.minutes(10);
    let data = (await m.get("/status.json")).body;
    assert.deepEqual(data.maintenance.map((w) => [w.summary, w.state]), [["D1 migration", "scheduled"]]);
    assert.match((await m.get("/")).body, /Maintenance scheduled:<\/strong> D1 migration \(API\) from .*in 20 min/);
    await m.minutes(21);
    m.script(API, { status: 503 });
    await m.minutes(20);
    assert.deepEqual(m.sent, [], "no page for a target under maintenance");
    data = (await m.get("/status.json")).body;
    assert.equal(data.targets[0].status, "under maintenance");
    assert.equal(data.overall, "under maintenance");
    const budget = (await m.get("/budget.json")).body;
    assert.equal(budget.targets[0].maintenanceSamples, 22, "minutes 30 to 51 are reported in the SLO figures");
    assert.equal(budget.targets[0].availabilityPercent, 100, "and not counted against the SLO");
    await m.minutes(10); // the window ends with the API still down: now it pages
    assert.equal(triggers(m).length, 1);
  }));

test("when the monitor's own D1 writes fail it pages about itself, and /status.json turns 503 when stale",
  () => withMonitor({}, async (m) => {
    await m.minutes(3);
    assert.equal((await m.get("/status.json")).status, 200);
    const run = await m.minutes(1, { failWrites: true });
    assert.equal(run.ok, false);
    assert.equal(triggers(m).length, 1);
    assert.equal(triggers(m)[0].body.dedup_key, "parsify-monitor-self");
    assert.match(m.delivered("slack")[0].body.text, /monitor is failing: D1_ERROR: injected write failure/);
    await m.minutes(5, { failWrites: true });
    assert.equal(triggers(m).length, 6, "PagerDuty hears every run (deduplicated by key there)");
    assert.equal(m.delivered("slack").length, 1, "Slack hears it once");
    const stale = await m.get("/status.json");
    assert.equal(stale.status, 503);
    assert.equal(stale.body.stale, true);
    assert.equal(stale.body.overall, "status unknown: monitoring data is stale");
    assert.deepEqual(stale.body.targets.map((t) => t.status), ["no data", "no data", "no data"]);
    await m.minutes(1);
    assert.equal((await m.get("/status.json")).status, 200, "fresh again after a successful run");
  }));

test("the banner matches the targets: one of three down is a partial outage, all three a major outage",
  () => withMonitor({}, async (m) => {
    m.script(API, { status: 503 });
    await m.minutes(2);
    let data = (await m.get("/status.json")).body;
    assert.deepEqual(data.targets.map((t) => t.status), ["major outage", "operational", "operational"]);
    assert.equal(data.overall, "partial outage");
    assert.match((await m.get("/")).body, /class="banner"[^>]*>Partial outage</);
    for (const t of TARGETS) m.script(new URL(t.url).host, { refuse: true });
    await m.minutes(1);
    data = (await m.get("/status.json")).body;
    assert.equal(data.overall, "major outage");
    assert.equal(triggers(m).length, 3, "one page per target");
    assert.equal(m.delivered("slack").length, 2, "one Slack message per run, however many incidents open in it");
    assert.equal(m.delivered("slack")[1].body.text.split("\n").length, 2, "Web and Admin in one message");
  }));

test("a status page view reads a bounded number of D1 rows, whatever the length of the history",
  () => withMonitor({}, async (m) => {
    await m.minutes(2);
    const short = await m.get("/");
    const db = await m.db();
    for (const t of TARGETS) await seedProbes(db, t.name, m.now - 3 * 1440 * MINUTE, 3 * 1440);
    const seq = (n) => `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ${n}) `;
    // 400 days of aggregates per target, and 500 old incidents.
    await db.prepare(seq(400) + "INSERT OR IGNORE INTO daily (target, day, total) SELECT t.value, " +
      "date(? / 1000 - i * 86400, 'unixepoch'), 1440 FROM seq, json_each(?) AS t")
      .bind(START, JSON.stringify(TARGETS.map((t) => t.name))).run();
    await db.prepare(seq(500) + "INSERT INTO incidents (target, severity, summary, opened_at, resolved_at) " +
      "SELECT 'API', 'critical', 'old', ? - (i + 2) * 3600000, ? - (i + 1) * 3600000 FROM seq").bind(START, START).run();
    assert.equal((await db.prepare("SELECT count(*) AS n FROM daily").first()).n, 1200);
    await m.minutes(1); // the run prunes the daily rows past 90 days
    const long = await m.get("/");
    assert.ok(short.rowsRead > 0, "D1 reports rows_read on the local runtime");
    // target_state (3) + 90 days x 3 targets twice (history and the 30-day budget: at most 90) + 20 incidents
    // + 5 gaps + monitor_state + the recent outbox
    const bound = 3 + 3 * 90 + 3 * 30 + 20 + 5 + 1 + 1000 + 10;
    assert.ok(long.rowsRead <= bound, `a view read ${long.rowsRead} rows (bound ${bound})`);
    const again = await m.get("/");
    assert.equal(again.rowsRead, long.rowsRead, "the same view reads the same rows");
    console.log(`rows_read per status view: ${short.rowsRead} (2 minutes of history), ${long.rowsRead} ` +
      `(3 days of probes, 90 days of aggregates, 500 incidents)`);
  }));

test("a database of the previous monitor version (one incident per SLO, probes without flags) is upgraded in place",
  () => withMonitor({}, async (m) => {
    const db = await m.db();
    await db.batch([
      "CREATE TABLE probes (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, target TEXT NOT NULL, ok INTEGER NOT NULL, " +
        "down INTEGER NOT NULL, status INTEGER, latency_ms REAL, error TEXT)",
      "CREATE TABLE incidents (id INTEGER PRIMARY KEY, target TEXT NOT NULL, kind TEXT NOT NULL, " +
        "severity TEXT NOT NULL, summary TEXT NOT NULL, opened_at INTEGER NOT NULL, resolved_at INTEGER)",
      `INSERT INTO probes (at, target, ok, down, status, latency_ms) VALUES (${START}, 'API', 1, 0, 200, 20)`,
      `INSERT INTO incidents (target, kind, severity, summary, opened_at) VALUES ('API', 'availability', ` +
        `'critical', 'old', ${START - MINUTE})`,
    ].map((sql) => db.prepare(sql)));
    m.script(API, { status: 503 });
    await m.minutes(2);
    assert.equal(triggers(m).length, 1, "the new version runs and pages");
    const kept = await db.prepare("SELECT count(*) AS n FROM incidents_v1").first();
    assert.equal(kept.n, 1, "the old incidents are kept aside");
  }));

test("reports: the morning report at 09:00, the evening summary at 19:00 and the Friday report go to Slack; " +
  "backups and sizes come from what the backup Worker recorded", () => withMonitor({ backupCaller: true,
  d1Databases: { DB_CORE: "core", DB_BILLING: "billing" }, stack: { reportDatabases: ["core", "billing", "audit-eu"] } },
async (m) => {
  // The backup Worker's end of a run, through its own reportToMonitor: core complete, billing with a table
  // that failed, audit-eu never reported.
  const core = localD1(m.mf, "DB_CORE", "caller");
  await core.prepare("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)").run();
  await core.prepare("INSERT INTO users (name) VALUES ('ada'), ('grace')").run();
  const id = "2026-11-02T02-15-00-000Z";
  const bucket = localBucket(m.mf);
  await bucket.put(`backups/core/${id}/manifest.json`, JSON.stringify({ complete: true }));
  await bucket.put(`backups/billing/${id}/manifest.json`, JSON.stringify({ complete: false }));
  const state = { id, status: "complete", databases: [
    { binding: "DB_CORE", name: "core", prefix: `backups/core/${id}`, phase: "done", complete: true, failures: [],
      tables: [{ name: "users" }] },
    { binding: "DB_BILLING", name: "billing", prefix: `backups/billing/${id}`, phase: "done", complete: false,
      failures: [{ table: "invoices", error: "billing.invoices: reading the rows failed" }],
      tables: [{ name: "invoices", failed: "billing.invoices: reading the rows failed" }] },
  ] };
  const answer = await m.call({ state });
  assert.deepEqual(answer, { ok: true, result: { recorded: 2, databases: ["core", "billing"] } });
  const recorded = (await (await m.db()).prepare("SELECT * FROM backup_reports ORDER BY database").all()).results;
  const coreSize = (await core.prepare("SELECT 1").run()).meta.size_after;
  assert.ok(coreSize > 0);
  assert.deepEqual(recorded.map((r) => [r.database, r.backup_id, r.complete, JSON.parse(r.failures), r.size_bytes]), [
    ["billing", id, 0, ["invoices"], recorded[0].size_bytes], ["core", id, 1, [], coreSize]]);
  assert.ok(recorded.every((r) => Number.isFinite(r.completed_at)), "completed: when each manifest was written");

  m.script(API, { status: 200, latencyMs: 120 });
  await m.minutes(60);
  m.script(API, { status: 503 });
  await m.minutes(3);
  m.script(API, { status: 200, latencyMs: 120 });
  await m.minutes(60);
  m.now = START + 9 * 60 * MINUTE;
  await m.cron("0 9 * * *");
  const morning = m.delivered("slack").at(-1).body.text;
  assert.match(morning, /^\*Parsify Morning report\* - 2026-11-02T09:00:00Z/);
  assert.match(morning, /- API: operational; availability 97\.56%, error rate 2\.44%, p50 120 ms \/ p95 120 ms \/ p99 120 ms, throughput 0\.15 probes\/min \(123 samples\)/);
  assert.match(morning, /Incidents \(overnight\): 1\n- #1 API \[critical\] .*opened 2026-11-02T01:01:00Z, resolved 2026-11-02T01:33:00Z \(32 min\)/);
  assert.match(morning, /Error budget \(30 days\): -\d+\.\d+% left - SPENT/);
  assert.match(morning, new RegExp("\\nBackups: core 2026-11-02T02-15-00-000Z \\(6\\.8 h old\\); " +
    "billing 2026-11-02T02-15-00-000Z INCOMPLETE \\(failed: invoices\\), newest complete: NONE, STALE; audit-eu NONE\\n"));
  const mb = (bytes) => (bytes / 1e6).toFixed(1).replace(".", "\\.");
  assert.match(morning, new RegExp(`D1 sizes \\(at the last backup\\): core ${mb(coreSize)} MB of 10\\.00 GB \\(0\\.0%\\); ` +
    `billing \\d+\\.\\d MB of 10\\.00 GB \\(0\\.0%\\); audit-eu unknown of 10\\.00 GB`));
  m.now = START + 19 * 60 * MINUTE;
  await m.cron("0 19 * * *");
  assert.match(m.delivered("slack").at(-1).body.text, /^\*Parsify Evening summary\* - 2026-11-02T19:00:00Z \(last 24 h\)/);
  m.now = START + 4 * 1440 * MINUTE + 16 * 60 * MINUTE; // Friday 16:00
  await m.cron("0 16 * * 5");
  const weekly = m.delivered("slack").at(-1).body.text;
  assert.match(weekly, /^\*Parsify Weekly performance report\* - 2026-11-06T16:00:00Z \(last 168 h\)/);
  assert.match(weekly, /Incidents \(last 168 h\): 1/);
  assert.match(weekly, /Backups: core 2026-11-02T02-15-00-000Z \(109\.8 h old, STALE: over 26 h\)/);
}));
