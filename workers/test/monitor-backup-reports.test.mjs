// The monitor's BackupReports entrypoint: the only way backup reports get in. The backup Worker calls it over
// a service binding (workers/backup/worker.json `monitorBinding`) to the named entrypoint
// workers/monitor/worker.json declares; the public status page (the default export's fetch) has no way in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { backupManifest, backupWorkerOptions, localD1, localRuntime, monitorManifest, monitorWorkerOptions, withDataAccess } from "../local/harness.mjs";
import { planLockRules, runBackup, runId, seedBulk } from "./helpers.mjs";
import { SLACK, STACK, TARGETS, monitor } from "./monitor-helpers.mjs";

const ID = "2026-11-02T02-15-00-000Z";
const VALID = { backupId: ID, databases: [{ name: "core", complete: true, completedAt: "2026-11-02T02:20:00.000Z",
  failures: [], sizeBytes: 12288, error: null }] };

async function withCaller(body) {
  const m = monitor({ backupCaller: true, d1Databases: { DB_CORE: "core" }, stack: { reportDatabases: ["core"] } });
  try {
    await body(m);
  } finally {
    await m.dispose();
  }
}

/** The stored reports ([] before the table exists: a refused report is refused before the schema is touched). */
async function stored(m) {
  const db = await m.db();
  if (!(await db.prepare("SELECT 1 AS found FROM sqlite_master WHERE name = 'backup_reports'").first())) return [];
  return (await db.prepare("SELECT database, backup_id, complete, failures, size_bytes FROM backup_reports " +
    "ORDER BY database").all()).results;
}

test("the entrypoint records a valid report and refuses malformed ones, storing nothing of them", () => withCaller(async (m) => {
  const refused = [
    [null, /not an object/],
    [{ ...VALID, backupId: "'; DROP TABLE backup_reports; --" }, /backupId .* is not a backup id/],
    [{ ...VALID, databases: [] }, /databases must list 1 to 100/],
    [{ ...VALID, databases: Array.from({ length: 101 }, (_, i) => ({ ...VALID.databases[0], name: `db${i}` })) },
      /databases must list 1 to 100/],
    [{ ...VALID, databases: [{ ...VALID.databases[0], name: "../core" }] }, /name is not a database name/],
    [{ ...VALID, databases: [VALID.databases[0], VALID.databases[0]] }, /core is listed twice/],
    [{ ...VALID, databases: [{ ...VALID.databases[0], complete: "yes" }] }, /complete must be true or false/],
    [{ ...VALID, databases: [{ ...VALID.databases[0], completedAt: "yesterday" }] }, /completedAt is not a time/],
    [{ ...VALID, databases: [{ ...VALID.databases[0], failures: [{ table: "x" }] }] }, /failures must be a list of table names/],
    [{ ...VALID, databases: [{ ...VALID.databases[0], sizeBytes: -1 }] }, /sizeBytes must be a number of bytes/],
    [{ ...VALID, databases: [{ ...VALID.databases[0], sizeBytes: "12 KB" }] }, /sizeBytes must be a number of bytes/],
    [{ ...VALID, databases: [{ ...VALID.databases[0], failures: ["users"] }] }, /a complete backup has no failures/],
  ];
  for (const [report, message] of refused) {
    const answer = await m.call({ raw: report });
    assert.equal(answer.ok, false, JSON.stringify(report)?.slice(0, 80));
    assert.match(answer.error, message);
  }
  assert.deepEqual(await stored(m), [], "nothing of a refused report is stored");
  assert.deepEqual(await m.call({ raw: VALID }), { ok: true, result: { recorded: 1, databases: ["core"] } });
  // A report delivered again (a retried run) replaces the rows of that run: one row per database and run.
  const again = { ...VALID, databases: [{ ...VALID.databases[0], sizeBytes: 16384 }] };
  assert.equal((await m.call({ raw: again })).ok, true);
  assert.deepEqual(await stored(m), [{ database: "core", backup_id: ID, complete: 1, failures: "[]", size_bytes: 16384 }]);
}));

test("a report the monitor refuses or cannot take never fails the backup: reportToMonitor logs and returns null",
  () => withCaller(async (m) => {
    const state = { id: "not-a-backup-id", databases: [{ binding: "DB_CORE", name: "core", prefix: "backups/core/x",
      phase: "failed", error: "D1_ERROR: injected", tables: [] }] };
    assert.deepEqual(await m.call({ state }), { ok: true, result: null });
    assert.deepEqual(await stored(m), []);
    // A failed database is reported as such: not complete, with its error, and its size all the same.
    state.id = ID;
    assert.equal((await m.call({ state })).result.recorded, 1);
    const [row] = (await (await m.db()).prepare("SELECT * FROM backup_reports").all()).results;
    assert.equal(row.complete, 0);
    assert.equal(row.error, "D1_ERROR: injected");
    assert.equal(row.completed_at, null);
    assert.ok(row.size_bytes > 0, "meta.size_after of the backup Worker's own query");
  }));

test("the public fetch handler has no path that writes backup reports", async () => {
  // The production module as deployed (workers/monitor/index.js), not the test entry.
  const mf = new Miniflare(withDataAccess({ workers: [monitorWorkerOptions({
    scriptPath: fileURLToPath(new URL("../monitor/index.js", import.meta.url)), targets: TARGETS,
    stack: { ...STACK, reportDatabases: ["core"] } })], cf: false }));
  try {
    const paths = ["/", "/index.html", "/status.json", "/budget.json", "/record", "/BackupReports/record",
      "/backup-reports", "/backup_reports", "/rpc", `/${monitorManifest.backupReportsEntrypoint}`, "/__drive"];
    const answered = new Set();
    for (const path of paths) {
      for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"]) {
        const hasBody = method !== "GET" && method !== "DELETE";
        const response = await mf.dispatchFetch(`https://status.parsify.test${path}`, { method,
          headers: { "content-type": "application/json" }, body: hasBody ? JSON.stringify(VALID) : undefined });
        await response.arrayBuffer();
        answered.add(response.status);
      }
    }
    assert.ok([...answered].every((s) => s === 404 || s === 503), `statuses: ${[...answered]}`);
    const db = localD1(mf, "MONITOR_DB");
    assert.equal((await db.prepare("SELECT count(*) AS n FROM backup_reports").first()).n, 0);
  } finally {
    await mf.dispose();
  }
  // And in the source: the only write to backup_reports is recordBackupReport, called only by the entrypoint.
  const source = readFileSync(new URL("../monitor/index.js", import.meta.url), "utf8");
  assert.equal(source.match(/INSERT INTO backup_reports/g).length, 1);
  assert.equal(source.match(/recordBackupReport\(/g).length, 2, "its definition and the entrypoint's call");
  const entrypoint = source.slice(source.indexOf(`export class ${monitorManifest.backupReportsEntrypoint} extends WorkerEntrypoint`));
  assert.match(entrypoint.slice(0, entrypoint.indexOf("\n}\n")), /return recordBackupReport\(this\.env, report, Date\.now\(\)\);/);
  const handler = source.slice(source.indexOf("export default {"));
  assert.doesNotMatch(handler, /record|backup_reports|BackupReports/i);
});

test("a backup run reports to the monitor over the service binding, and the morning report shows what it recorded",
  async () => {
    // The backup Worker (behind its test entry) and the monitor in one runtime, bound as the plan binds them.
    const slack = [];
    const backupOptions = backupWorkerOptions({
      scriptPath: fileURLToPath(new URL("./chaos-entry.mjs", import.meta.url)), queue: "driven",
      d1Databases: { DB_CORE: "core", DB_AUDIT_EU: "audit-eu" },
      bindings: { __LOCK_RULES: JSON.stringify(planLockRules()) },
      serviceBindings: { [backupManifest.monitorBinding]: { name: "monitor",
        entrypoint: monitorManifest.backupReportsEntrypoint } },
    });
    const monitorOptions = monitorWorkerOptions({
      scriptPath: fileURLToPath(new URL("./monitor-entry.mjs", import.meta.url)), targets: [],
      stack: { ...STACK, reportDatabases: ["core", "audit-eu"], reportChannels: ["slack"] },
      bindings: { SLACK_WEBHOOK_URL: SLACK },
      outboundService: async (request) => {
        if (request.url === SLACK) slack.push(await request.json());
        return new Response("ok");
      },
    });
    const mf = new Miniflare(localRuntime([backupOptions, monitorOptions]));
    try {
      const core = localD1(mf, "DB_CORE");
      await core.prepare("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)").run();
      await seedBulk(core, "users", 300, (i) => ({ email: `user${i}@example.com` }));
      const audit = localD1(mf, "DB_AUDIT_EU");
      await audit.prepare("CREATE TABLE events (id INTEGER PRIMARY KEY, actor TEXT)").run();
      const T0 = Date.UTC(2026, 10, 27, 2, 15, 0);
      const { state } = await runBackup(mf, T0);
      assert.equal(state.status, "complete");

      const monitorDb = localD1(mf, monitorManifest.databaseBinding, "monitor");
      const rows = (await monitorDb.prepare("SELECT * FROM backup_reports ORDER BY database").all()).results;
      const sizes = { core: (await core.prepare("SELECT 1").run()).meta.size_after,
        "audit-eu": (await audit.prepare("SELECT 1").run()).meta.size_after };
      assert.deepEqual(rows.map((r) => [r.database, r.backup_id, r.complete, r.failures, r.size_bytes]), [
        ["audit-eu", runId(T0), 1, "[]", sizes["audit-eu"]], ["core", runId(T0), 1, "[]", sizes.core]]);

      const drive = await (await mf.getWorker("monitor")).fetch("http://monitor.local/__drive", { method: "POST",
        body: JSON.stringify({ cron: STACK.reports.morning, time: T0 + 7 * 3_600_000 }) });
      assert.equal((await drive.json()).ok, true);
      const report = slack.at(-1).text;
      assert.match(report, /\nBackups: core 2026-11-27T02-15-00-000Z \(7 h old\); audit-eu 2026-11-27T02-15-00-000Z \(7 h old\)\n/);
      assert.match(report, /\nD1 sizes \(at the last backup\): core \d+\.\d MB of 10\.00 GB \(0\.0%\); audit-eu \d+\.\d MB/);
    } finally {
      await mf.dispose();
    }
  });
