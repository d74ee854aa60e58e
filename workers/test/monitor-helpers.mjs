// Shared set-up for the monitor Worker tests: the Worker on workerd (miniflare) behind its test entry
// (monitor-entry.mjs), driven on the test's clock, with fake endpoints for the probed targets and for
// PagerDuty, Slack and the email API. Each fake endpoint follows a script of answers the test sets: a status
// (with Retry-After), a latency the probe reports, a refused connection, or a hang (answered only when the
// test ends, so the Worker's own timeout is what gives up).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { parse } from "yaml";
import { backupManifest, localD1, localRuntime, monitorManifest, monitorWorkerOptions } from "../local/harness.mjs";

export const SLACK = "https://hooks.slack.test/services/T000/B000/monitor";
export const EMAIL = "https://email.test/emails";
export const PAGERDUTY = "https://events.pagerduty.test/v2/enqueue";
export const START = Date.UTC(2026, 10, 2, 0, 0); // a Monday, 00:00 UTC
export const MINUTE = 60_000;

export const TARGETS = [
  { name: "API", url: "https://api.parsify.test/healthz" },
  { name: "Web", url: "https://www.parsify.test/" },
  { name: "Admin", url: "https://admin.parsify.test/" },
];

/** The stack's part of the settings, read from Pulumi.prod.yaml as stacks/monitoring.py reads it: the SLOs and
 *  burn-rate rules (the SRE workbook's: page at 14.4x over 1 h confirmed over 5 min and at 6x over 6 h
 *  confirmed over 30 min; ticket at 1x over 3 days confirmed over 6 h), the routes and report schedules.
 *  Maintenance windows are the test's own. */
const prod = parse(readFileSync(new URL("../../Pulumi.prod.yaml", import.meta.url), "utf8")).config;
const slo = prod["parsify:slo"];
const monitoring = prod["parsify:monitoring"];
const routes = {};
for (const route of monitoring.routes) {
  routes[route.severity] = [...new Set([...(routes[route.severity] ?? []), ...route.channels])];
}
const { channels: reportChannels, ...reports } = monitoring.synthetic.reports;
export const STACK = {
  slo: { availabilityPercent: slo.availabilityPercent, p95LatencyMs: slo.p95LatencyMs,
    errorRatePercent: slo.errorRatePercent, budgetDays: slo.budgetDays },
  burnAlerts: slo.burnAlerts,
  routes, reports, reportChannels,
  emailTo: monitoring.channels.emails,
  emailFrom: monitoring.channels.emailFrom ?? "monitor@parsify.io",
  maintenance: [],
};

/** The monitor as deployed: its own database only. With `backupCaller`, a second Worker ("caller") beside it
 *  calls its BackupReports entrypoint as the backup Worker does (backup-caller.mjs): bound to it as
 *  workers/backup/worker.json and workers/monitor/worker.json declare, with the backup bucket and the
 *  databases `d1Databases` names (which the monitor does not get). */
export function monitor({ stack = {}, settings = {}, d1Databases = {}, bindings = {}, backupCaller = false } = {}) {
  const sent = [];
  const scripts = new Map(); // host -> [answer, ...]; the last answer repeats
  const hanging = [];
  const answer = async (host) => {
    const script = scripts.get(host) ?? [{ status: host.endsWith(".parsify.test") ? 200 : 202 }];
    const next = script.length > 1 ? script.shift() : script[0];
    if (next.hang) return new Promise((resolve) => hanging.push(() => resolve(new Response("late", { status: 200 }))));
    if (next.refuse) throw new Error("connection refused");
    const headers = { "x-test-latency-ms": String(next.latencyMs ?? 20) };
    if (next.retryAfter !== undefined) headers["retry-after"] = String(next.retryAfter);
    return new Response(next.status < 300 ? "ok" : "error", { status: next.status, headers });
  };
  const options = monitorWorkerOptions({
    scriptPath: fileURLToPath(new URL("./monitor-entry.mjs", import.meta.url)), targets: TARGETS,
    stack: { ...STACK, ...stack }, settings: { ...settings, delivery: { pagerdutyUrl: PAGERDUTY, timeoutMs: 2000,
      ...settings.delivery } },
    bindings: { SLACK_WEBHOOK_URL: SLACK, PAGERDUTY_ROUTING_KEY: "R0UTINGKEY", EMAIL_API_URL: EMAIL,
      EMAIL_API_KEY: "re_test", ...bindings },
    outboundService: async (request) => {
      const url = new URL(request.url);
      const response = await answer(url.host);
      const channel = request.url === SLACK ? "slack" : request.url === EMAIL ? "email"
        : request.url === PAGERDUTY ? "pagerduty" : null;
      if (channel) sent.push({ channel, status: response.status, body: await request.json() });
      return response;
    },
  });
  const caller = {
    name: "caller", modules: true, modulesRules: [{ type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    scriptPath: fileURLToPath(new URL("./backup-caller.mjs", import.meta.url)),
    compatibilityDate: backupManifest.compatibilityDate, d1Databases, r2Buckets: [backupManifest.bucketBinding],
    // miniflare: a service binding to a named entrypoint of another Worker.
    serviceBindings: { [backupManifest.monitorBinding]: { name: "monitor",
      entrypoint: monitorManifest.backupReportsEntrypoint } },
  };
  const mf = new Miniflare(localRuntime(backupCaller ? [options, caller] : options));
  let clock = START;
  const api = {
    mf, sent, scripts,
    get now() { return clock; },
    set now(value) { clock = value; },
    /** Answers for a host, in order (the last one repeats). */
    script(host, ...answers) { scripts.set(host, answers); },
    delivered: (channel) => sent.filter((s) => s.channel === channel && s.status >= 200 && s.status < 300),
    async cron(cron, { failWrites = false } = {}) {
      const response = await mf.dispatchFetch("http://entry.local/__drive", { method: "POST",
        body: JSON.stringify({ cron, time: clock, failWrites }) });
      return response.json();
    },
    /** n monitor runs, one a minute. */
    async minutes(n, options) {
      let last;
      for (let i = 0; i < n; i++) {
        clock += MINUTE;
        last = await api.cron("* * * * *", options);
        if (!options?.failWrites && !last.ok) throw new Error(`run at ${new Date(clock).toISOString()}: ${last.error}`);
      }
      return last;
    },
    async get(path) {
      const response = await mf.dispatchFetch(`https://status.parsify.test${path}`, { headers: { "x-test-now": String(clock) } });
      const body = path.endsWith(".json") ? await response.json() : await response.text();
      return { status: response.status, body, rowsRead: Number(response.headers.get("x-d1-rows-read")) };
    },
    db: () => localD1(mf, "MONITOR_DB"),
    /** POST a body to the caller Worker (backup-caller.mjs). */
    async call(body) {
      const response = await (await mf.getWorker("caller")).fetch("http://caller.local/", { method: "POST",
        body: JSON.stringify(body) });
      return response.json();
    },
    async dispose() {
      for (const release of hanging.splice(0)) release();
      await mf.dispose();
    },
  };
  return api;
}

/** Probe rows written straight into the database (one statement): long histories without running the
 *  cron for days. Sample i is at `from` + i minutes; with `every`, the first `failures` samples of every
 *  `every` failed (as outages when `down`, else as errors such as 404). */
export async function seedProbes(db, target, from, count, { every = 0, failures = 0, down = false } = {}) {
  const bad = every ? `(i % ${every}) < ${failures}` : "0";
  await db.prepare("WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?) " +
    "INSERT INTO probes (at, target, ok, down, slow, maintenance, blip, status, latency_ms) " +
    `SELECT ? + i * ${MINUTE}, ?, 1 - (${bad}), CASE WHEN ${bad} THEN ${down ? 1 : 0} ELSE 0 END, 0, 0, 0, ` +
    `CASE WHEN ${bad} THEN ${down ? 503 : 404} ELSE 200 END, 20 FROM seq`).bind(count, from, target).run();
}
