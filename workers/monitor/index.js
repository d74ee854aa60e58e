// Parsify synthetic monitor. Every minute it probes MONITOR_TARGETS (a failed probe is retried before it
// counts), records the samples in D1 (MONITOR_DB) with per-day aggregates, tracks the SLOs as error budgets
// over 30 days and alerts by the multi-window, multi-burn-rate method (Google SRE workbook, "Alerting on
// SLOs"): a rule fires when the burn rate is at least its factor over both its long and its short window.
// Every outbound alert goes through an outbox in D1 and counts as delivered only on a 2xx answer; 429 and
// 5xx are retried with backoff on later runs (Retry-After wins). It also serves the status page (/), its
// JSON (/status.json: 503 when the monitor's own data is stale) and the error budget (/budget.json), and
// sends the handbook's morning, evening and weekly reports to Slack.
//
// Settings: MONITOR_SETTINGS (workers/monitor/worker.json merged with the stack config by
// stacks/monitoring.py). Secrets: PAGERDUTY_ROUTING_KEY, SLACK_WEBHOOK_URL, EMAIL_API_KEY.
//
// Least privilege: this Worker serves a public page, so it is bound to its own D1 database only, never to
// the backup bucket or the application databases. What the reports say about backups and database sizes
// comes from the backup Worker, which calls BackupReports.record() (below) over a service binding at the
// end of each run; that named entrypoint is reachable only by Workers bound to it, never from the public
// fetch handler.

import { WorkerEntrypoint } from "cloudflare:workers";

const DAY = 86_400_000;
const MINUTE = 60_000;
const CHANNELS = ["pagerduty", "slack", "email"];
const SEVERITY_RANK = { warning: 1, critical: 2 };

export function settingsOf(env) {
  const raw = env.MONITOR_SETTINGS;
  const s = typeof raw === "string" ? JSON.parse(raw) : raw;
  if (!s) throw new Error("MONITOR_SETTINGS is not bound");
  return {
    ...s,
    targets: typeof env.MONITOR_TARGETS === "string" ? JSON.parse(env.MONITOR_TARGETS) : env.MONITOR_TARGETS ?? [],
    maintenance: (s.maintenance ?? []).map((w) => ({ ...w, startMs: Date.parse(w.start), endMs: Date.parse(w.end) })),
  };
}

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS probes (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, target TEXT NOT NULL, " +
    "ok INTEGER NOT NULL, down INTEGER NOT NULL, slow INTEGER NOT NULL DEFAULT 0, maintenance INTEGER NOT NULL DEFAULT 0, " +
    "blip INTEGER NOT NULL DEFAULT 0, status INTEGER, latency_ms REAL, error TEXT)",
  "CREATE INDEX IF NOT EXISTS probes_target_at ON probes(target, at)",
  "CREATE TABLE IF NOT EXISTS daily (target TEXT NOT NULL, day TEXT NOT NULL, total INTEGER NOT NULL DEFAULT 0, " +
    "down INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, slow INTEGER NOT NULL DEFAULT 0, " +
    "maintenance INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (target, day))",
  "CREATE TABLE IF NOT EXISTS target_state (target TEXT PRIMARY KEY, status TEXT NOT NULL, since INTEGER NOT NULL, " +
    "updated_at INTEGER NOT NULL, latency_ms REAL)",
  "CREATE TABLE IF NOT EXISTS incidents (id INTEGER PRIMARY KEY, target TEXT NOT NULL, severity TEXT NOT NULL, " +
    "summary TEXT NOT NULL, opened_at INTEGER NOT NULL, resolved_at INTEGER, alerted_at INTEGER)",
  "CREATE INDEX IF NOT EXISTS incidents_opened ON incidents(opened_at)",
  "CREATE TABLE IF NOT EXISTS gaps (id INTEGER PRIMARY KEY, started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, channel TEXT NOT NULL, incident_id INTEGER, " +
    "action TEXT NOT NULL, severity TEXT NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL, " +
    "attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, delivered_at INTEGER, failed_at INTEGER, " +
    "last_error TEXT)",
  "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(channel, delivered_at, failed_at, id)",
  "CREATE TABLE IF NOT EXISTS monitor_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_run_at INTEGER, " +
    "last_success_at INTEGER, last_error TEXT, last_error_at INTEGER)",
  // What the backup Worker reported of each database at the end of a run (BackupReports.record).
  "CREATE TABLE IF NOT EXISTS backup_reports (database TEXT NOT NULL, backup_id TEXT NOT NULL, " +
    "complete INTEGER NOT NULL, completed_at INTEGER, failures TEXT NOT NULL, size_bytes INTEGER, error TEXT, " +
    "received_at INTEGER NOT NULL, PRIMARY KEY (database, backup_id))",
];

// The previous version kept one incident per SLO (a `kind` column) and probes without the sample flags:
// its tables are upgraded in place, its incidents kept aside as incidents_v1.
const UPGRADE_V1 = [
  "ALTER TABLE incidents RENAME TO incidents_v1",
  "ALTER TABLE probes ADD COLUMN slow INTEGER NOT NULL DEFAULT 0",
  "ALTER TABLE probes ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0",
  "ALTER TABLE probes ADD COLUMN blip INTEGER NOT NULL DEFAULT 0",
];

let schemaReady = null; // once per isolate: the schema is not re-checked on every request

async function ensureSchema(db) {
  if (schemaReady === db) return;
  const v1 = await db.prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'incidents' " +
    "AND sql LIKE '%kind TEXT NOT NULL%'").first();
  await db.batch([...(v1 ? UPGRADE_V1 : []), ...SCHEMA].map((sql) => db.prepare(sql)));
  schemaReady = db;
}

const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------------
// Probing

/** How a probe's latency is measured: wall time. The Worker tests replace it (workers/test/monitor-entry.mjs)
 *  so latency comes from the test's fake endpoints, not from how loaded the machine is. */
export const timing = { start: () => Date.now(), latency: (started) => Date.now() - started };

async function probeOnce(target, settings) {
  const started = timing.start();
  try {
    const response = await fetch(target.url, { method: target.method ?? "GET", redirect: "manual",
      signal: AbortSignal.timeout(target.timeoutMs ?? settings.probeTimeoutMs),
      headers: { "user-agent": "parsify-monitor" } });
    await response.arrayBuffer();
    const expected = target.expectStatus ?? [200, 299];
    return { ok: response.status >= expected[0] && response.status <= expected[1], down: response.status >= 500,
      status: response.status, latency: timing.latency(started, response), error: null };
  } catch (err) {
    return { ok: false, down: true, status: null, latency: timing.latency(started, null), error: String(err?.message ?? err) };
  }
}

/** One sample: a failure counts only when every confirming attempt fails too (a blip is recorded). */
export async function probe(target, now, settings) {
  let result = await probeOnce(target, settings);
  let attempts = 1;
  while (!result.ok && attempts < settings.confirmAttempts) {
    result = await probeOnce(target, settings);
    attempts += 1;
  }
  const maintenance = inMaintenance(settings, target.name, now) ? 1 : 0;
  return { at: now, target: target.name, ...result, blip: result.ok && attempts > 1 ? 1 : 0,
    slow: result.ok && result.latency > settings.slo.p95LatencyMs ? 1 : 0, maintenance };
}

export function inMaintenance(settings, target, now) {
  return settings.maintenance.find((w) => w.startMs <= now && now < w.endMs &&
    (!w.targets?.length || w.targets.includes(target))) ?? null;
}

export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// ---------------------------------------------------------------------------------------------------
// SLIs, budgets and burn rates

/** The share of the budget each SLI may spend: availability 99.9% -> 0.1% of samples may be down;
 *  error rate under 1% -> 1% may fail; p95 under 500 ms -> 5% may be slower. */
export function budgets(slo) {
  return { availability: 1 - slo.availabilityPercent / 100, errors: slo.errorRatePercent / 100,
    latency: 1 - 95 / 100 };
}

async function windowCounts(db, target, now, minutes) {
  return db.prepare("SELECT count(*) AS total, coalesce(sum(down), 0) AS down, " +
    "coalesce(sum(1 - ok), 0) AS errors, coalesce(sum(slow), 0) AS slow FROM probes " +
    "WHERE target = ? AND at > ? AND at <= ? AND maintenance = 0").bind(target, now - minutes * MINUTE, now).first();
}

/** Burn rate per SLI: the share of bad samples over the share the budget allows. `floor`: the fewest
 *  samples to divide by, so a long window that is mostly empty (a new monitor, after a gap) does not read
 *  a single failure as a whole window's burn. */
export function burnRates(counts, slo, floor = 0) {
  const b = budgets(slo);
  const total = Math.max(counts.total, floor);
  if (!total) return { availability: 0, errors: 0, latency: 0 };
  return { availability: counts.down / total / b.availability, errors: counts.errors / total / b.errors,
    latency: counts.slow / total / b.latency };
}

const SLI_NAMES = { availability: "availability", errors: "error rate", latency: "p95 latency" };

/** The rules that fire for a target now, each with the SLIs burning, and whether every short window is
 *  covered by samples (only then may an incident resolve: no data is not recovery). */
export async function evaluate(db, target, now, settings) {
  const firing = [];
  let covered = true;
  // Recovery needs data: the quickest rule's short window must hold samples (a gap resolves nothing).
  const quickest = Math.min(...settings.burnAlerts.map((r) => r.shortMinutes));
  for (const rule of settings.burnAlerts) {
    const long = burnRates(await windowCounts(db, target, now, rule.longMinutes), settings.slo,
      Math.ceil(rule.longMinutes * settings.coverage));
    const shortCounts = await windowCounts(db, target, now, rule.shortMinutes);
    const short = burnRates(shortCounts, settings.slo);
    if (rule.shortMinutes === quickest && shortCounts.total < Math.ceil(quickest * settings.coverage)) covered = false;
    const slis = Object.keys(long).filter((k) => long[k] >= rule.factor && short[k] >= rule.factor);
    if (slis.length) firing.push({ rule, slis, burn: Math.max(...slis.map((k) => long[k])) });
  }
  return { firing, covered };
}

function describe(firing) {
  const top = [...firing].sort((a, b) => SEVERITY_RANK[b.rule.severity] - SEVERITY_RANK[a.rule.severity] ||
    b.burn - a.burn)[0];
  const slis = [...new Set(firing.flatMap((f) => f.slis))].map((k) => SLI_NAMES[k]).join(", ");
  const hours = top.rule.longMinutes >= 60 ? `${top.rule.longMinutes / 60} h` : `${top.rule.longMinutes} min`;
  return { severity: top.rule.severity,
    summary: `${slis} error budget burning at ${top.burn.toFixed(1)}x over ${hours} (threshold ${top.rule.factor}x)` };
}

/** Error budget per target and SLI over the budget window, from the per-day aggregates. */
export async function errorBudget(db, settings, now, meter) {
  const since = dayOf(now - (settings.slo.budgetDays - 1) * DAY);
  const rows = meter(await db.prepare("SELECT target, sum(total) AS total, sum(down) AS down, sum(errors) AS errors, " +
    "sum(slow) AS slow, sum(maintenance) AS maintenance FROM daily WHERE day >= ? GROUP BY target").bind(since).all()).results;
  const b = budgets(settings.slo);
  const targets = settings.targets.map(({ name }) => {
    const r = rows.find((x) => x.target === name) ?? { total: 0, down: 0, errors: 0, slow: 0, maintenance: 0 };
    const slis = {};
    for (const k of Object.keys(b)) {
      const bad = k === "availability" ? r.down : k === "errors" ? r.errors : r.slow;
      const spent = r.total ? bad / r.total / b[k] : 0;
      slis[k] = { good: r.total - bad, total: r.total, remainingPercent: Math.round((1 - spent) * 10_000) / 100 };
    }
    return { name, samples: r.total, maintenanceSamples: r.maintenance,
      availabilityPercent: r.total ? Math.round(10_000 * (1 - r.down / r.total)) / 100 : null, slis };
  });
  const remaining = Math.min(...targets.flatMap((t) => Object.values(t.slis).map((s) => s.remainingPercent)));
  return { windowDays: settings.slo.budgetDays, slo: settings.slo, targets, remainingPercent: remaining,
    exhausted: remaining <= 0 };
}

// ---------------------------------------------------------------------------------------------------
// Alert delivery: an outbox in D1, one row per channel and change, sent in order per channel.

async function enqueue(db, channels, { incidentId = null, action, severity, text }, now) {
  for (const channel of channels) {
    await db.prepare("INSERT INTO outbox (channel, incident_id, action, severity, text, created_at, next_attempt_at) " +
      "VALUES (?, ?, ?, ?, ?, ?, ?)").bind(channel, incidentId, action, severity, text, now, now).run();
  }
}

/** Retry-After: seconds or an HTTP date (Slack and Resend send seconds). */
function retryAfterMs(response, now) {
  const value = response.headers.get("retry-after");
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

async function send(url, body, headers, settings) {
  try {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body), signal: AbortSignal.timeout(settings.delivery.timeoutMs) });
    await response.arrayBuffer();
    return { response };
  } catch (err) {
    return { error: String(err?.message ?? err) };
  }
}

function requestFor(channel, rows, env, settings) {
  if (channel === "pagerduty") {
    const row = rows[0];
    return { url: settings.delivery.pagerdutyUrl, headers: {}, body: {
      routing_key: env.PAGERDUTY_ROUTING_KEY, event_action: row.action === "resolve" ? "resolve" : "trigger",
      dedup_key: row.incident_id ? `parsify-monitor-${row.incident_id}` : `parsify-monitor-${row.action}-${row.id}`,
      payload: { summary: row.text, source: "parsify-monitor", severity: row.severity === "critical" ? "critical" : "warning" },
    } };
  }
  const text = rows.map((r) => r.text).join("\n");
  if (channel === "slack") return { url: env.SLACK_WEBHOOK_URL, headers: {}, body: { text } };
  const opened = rows.filter((r) => r.action === "trigger").length;
  const subject = rows.every((r) => r.action === "report") ? rows[0].text.split("\n")[0]
    : `Parsify monitor: ${opened} opened, ${rows.filter((r) => r.action === "resolve").length} resolved`;
  return { url: env.EMAIL_API_URL, headers: { authorization: `Bearer ${env.EMAIL_API_KEY}` },
    body: { from: settings.emailFrom, to: settings.emailTo, subject, text } };
}

/** Send what is due. Per channel in order: a failure stops that channel (a resolve never overtakes its
 *  trigger); 429 waits for Retry-After, 5xx and timeouts back off; other 4xx answers are permanent
 *  failures, kept and reported. Returns what happened, per channel. */
export async function deliver(db, env, settings, now) {
  const report = {};
  for (const channel of CHANNELS) {
    const pending = (await db.prepare("SELECT * FROM outbox WHERE channel = ? AND delivered_at IS NULL AND " +
      "failed_at IS NULL ORDER BY id LIMIT 50").bind(channel).all()).results;
    const outcome = { delivered: 0, pending: pending.length, error: null };
    report[channel] = outcome;
    while (pending.length && pending[0].next_attempt_at <= now) {
      const batch = channel === "pagerduty" ? [pending[0]] : pending.splice(0, pending.length);
      if (channel === "pagerduty") pending.shift();
      const { url, headers, body } = requestFor(channel, batch, env, settings);
      const { response, error } = await send(url, body, headers, settings);
      const ids = batch.map((r) => r.id);
      const marks = ids.map(() => "?").join(", ");
      if (response && response.status >= 200 && response.status < 300) {
        await db.prepare(`UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id IN (${marks})`)
          .bind(now, ...ids).run();
        await markAlerted(db, batch, now);
        outcome.delivered += batch.length;
        outcome.pending -= batch.length;
        continue;
      }
      const status = response?.status ?? null;
      outcome.error = status ? `${new URL(url).host} answered ${status}` : `${new URL(url).host}: ${error}`;
      if (status && status !== 429 && status < 500) {
        // A request the service will never accept (bad key, bad payload): retrying cannot help.
        await db.prepare(`UPDATE outbox SET failed_at = ?, attempts = attempts + 1, last_error = ? WHERE id IN (${marks})`)
          .bind(now, outcome.error, ...ids).run();
        console.error(`alert delivery failed for good: ${channel}: ${outcome.error}`);
        // Fail loudly: a channel that refuses alerts (a revoked key) is itself an incident for the others.
        await enqueue(db, (settings.routes.critical ?? []).filter((c) => c !== channel), { action: "notice",
          severity: "critical", text: `[critical] ALERT CHANNEL BROKEN: ${channel} refused an alert for good ` +
            `(${outcome.error}); alerts on ${channel} are not arriving until its key or endpoint is fixed` }, now);
        continue;
      }
      const attempts = batch[0].attempts + 1;
      const backoff = Math.min(settings.delivery.backoffSeconds * 1000 * 2 ** (attempts - 1),
        settings.delivery.maxBackoffSeconds * 1000);
      const wait = (response && retryAfterMs(response, now)) ?? backoff;
      await db.prepare("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? " +
        "WHERE channel = ? AND delivered_at IS NULL AND failed_at IS NULL").bind(now + wait, outcome.error, channel).run();
      console.error(`alert delivery deferred: ${channel}: ${outcome.error}; next attempt in ${Math.round(wait / 1000)} s`);
      break;
    }
  }
  return report;
}

/** An incident counts as alerted once none of its trigger rows is still undelivered. */
async function markAlerted(db, rows, now) {
  for (const id of new Set(rows.filter((r) => r.action === "trigger" && r.incident_id).map((r) => r.incident_id))) {
    await db.prepare("UPDATE incidents SET alerted_at = ? WHERE id = ? AND alerted_at IS NULL AND NOT EXISTS " +
      "(SELECT 1 FROM outbox WHERE incident_id = ? AND action = 'trigger' AND delivered_at IS NULL)")
      .bind(now, id, id).run();
  }
}

// ---------------------------------------------------------------------------------------------------
// The minute

export async function runChecks(env, now) {
  const settings = settingsOf(env);
  const db = env[settings.databaseBinding ?? "MONITOR_DB"] ?? env.MONITOR_DB;
  await ensureSchema(db);
  const state = await db.prepare("SELECT * FROM monitor_state WHERE id = 1").first();
  const results = await Promise.all(settings.targets.map((t) => probe(t, now, settings)));
  const day = dayOf(now);
  await db.batch([
    ...results.flatMap((r) => [
      db.prepare("INSERT INTO probes (at, target, ok, down, slow, maintenance, blip, status, latency_ms, error) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").bind(r.at, r.target, r.ok ? 1 : 0, r.down ? 1 : 0, r.slow,
        r.maintenance, r.blip, r.status, r.latency, r.error),
      // Maintenance samples are reported, not counted against the SLOs.
      db.prepare("INSERT INTO daily (target, day, total, down, errors, slow, maintenance) VALUES (?, ?, ?, ?, ?, ?, ?) " +
        "ON CONFLICT (target, day) DO UPDATE SET total = total + excluded.total, down = down + excluded.down, " +
        "errors = errors + excluded.errors, slow = slow + excluded.slow, maintenance = maintenance + excluded.maintenance")
        .bind(r.target, day, r.maintenance ? 0 : 1, r.maintenance ? 0 : r.down ? 1 : 0, r.maintenance ? 0 : r.ok ? 0 : 1,
          r.maintenance ? 0 : r.slow, r.maintenance),
    ]),
    db.prepare("DELETE FROM probes WHERE at < ?").bind(now - settings.probeRetentionDays * DAY),
    db.prepare("DELETE FROM daily WHERE day < ?").bind(dayOf(now - settings.historyDays * DAY)),
  ]);

  const routes = settings.routes;
  // A gap in monitoring is reported; incidents stay open until the windows are covered again.
  let gap = null;
  if (state?.last_success_at && now - state.last_success_at > settings.gapMinutes * MINUTE) {
    gap = { startedAt: state.last_success_at, endedAt: now };
    await db.prepare("INSERT INTO gaps (started_at, ended_at) VALUES (?, ?)").bind(gap.startedAt, now).run();
    await enqueue(db, routes.warning ?? [], { action: "notice", severity: "warning",
      text: `[warning] GAP: no monitoring from ${iso(gap.startedAt)} to ${iso(now)} ` +
        `(${Math.round((now - gap.startedAt) / MINUTE)} min); open incidents stay open until the windows are covered again` },
    now);
  }

  const open = (await db.prepare("SELECT * FROM incidents WHERE resolved_at IS NULL").all()).results;
  const changes = [];
  for (const target of settings.targets) {
    const sample = results.find((r) => r.target === target.name);
    const incident = open.find((i) => i.target === target.name);
    const window = inMaintenance(settings, target.name, now);
    const { firing, covered } = await evaluate(db, target.name, now, settings);
    if (window) {
      // Paging is suppressed for the target while its window runs; nothing opens or resolves.
    } else if (firing.length) {
      const { severity, summary } = describe(firing);
      if (!incident) {
        const row = await db.prepare("INSERT INTO incidents (target, severity, summary, opened_at) VALUES (?, ?, ?, ?) " +
          "RETURNING id").bind(target.name, severity, summary, now).first();
        await enqueue(db, routes[severity] ?? [], { incidentId: row.id, action: "trigger", severity,
          text: `[${severity}] OPEN: ${target.name} - ${summary} (incident #${row.id})` }, now);
        changes.push({ action: "trigger", id: row.id, target: target.name, severity, summary });
      } else if (SEVERITY_RANK[severity] > SEVERITY_RANK[incident.severity]) {
        // The same outage got worse: the incident escalates (and pages now), it is not a second incident.
        await db.prepare("UPDATE incidents SET severity = ?, summary = ? WHERE id = ?").bind(severity, summary, incident.id).run();
        await enqueue(db, routes[severity] ?? [], { incidentId: incident.id, action: "trigger", severity,
            text: `[${severity}] ESCALATED: ${target.name} - ${summary} (incident #${incident.id})` }, now);
        changes.push({ action: "escalate", id: incident.id, target: target.name, severity, summary });
      } else if (SEVERITY_RANK[severity] < SEVERITY_RANK[incident.severity]) {
        // The page's rules stopped firing but a slower rule still burns: the page resolves, the same
        // incident stays open as a ticket until no rule fires (one outage, one incident, one page).
        await db.prepare("UPDATE incidents SET severity = ?, summary = ? WHERE id = ?").bind(severity, summary, incident.id).run();
        await enqueue(db, routes[incident.severity] ?? [], { incidentId: incident.id, action: "resolve",
          severity: incident.severity, text: `[${incident.severity}] RESOLVED: ${target.name} - paging stopped ` +
            `(${incident.summary}); a ${severity} ticket stays open: ${summary} (incident #${incident.id})` }, now);
        changes.push({ action: "downgrade", id: incident.id, target: target.name, severity, summary });
      }
    } else if (incident && covered) {
      await db.prepare("UPDATE incidents SET resolved_at = ? WHERE id = ?").bind(now, incident.id).run();
      await enqueue(db, routes[incident.severity] ?? [], { incidentId: incident.id, action: "resolve",
        severity: incident.severity, text: `[${incident.severity}] RESOLVED: ${target.name} - recovered ` +
          `(${incident.summary} since ${iso(incident.opened_at)}) (incident #${incident.id})` }, now);
      changes.push({ action: "resolve", id: incident.id, target: target.name, severity: incident.severity });
    }
    const current = await db.prepare("SELECT severity FROM incidents WHERE target = ? AND resolved_at IS NULL")
      .bind(target.name).first();
    // What a reader needs now: a ticket-level burn (warning) alone does not colour the public page.
    const status = window ? "under maintenance"
      : current?.severity === "critical" ? (sample.ok ? "degraded performance" : "major outage")
        : !sample.ok || sample.slow ? "degraded performance" : "operational";
    await db.prepare("INSERT INTO target_state (target, status, since, updated_at, latency_ms) VALUES (?, ?, ?, ?, ?) " +
      "ON CONFLICT (target) DO UPDATE SET since = CASE WHEN status = excluded.status THEN since ELSE excluded.since END, " +
      "status = excluded.status, updated_at = excluded.updated_at, latency_ms = excluded.latency_ms")
      .bind(target.name, status, now, now, sample.latency).run();
  }
  // Targets removed from the config: close their incidents quietly.
  const names = new Set(settings.targets.map((t) => t.name));
  for (const incident of open.filter((i) => !names.has(i.target))) {
    await db.prepare("UPDATE incidents SET resolved_at = ? WHERE id = ?").bind(now, incident.id).run();
  }
  await db.prepare("DELETE FROM target_state WHERE target NOT IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify([...names])).run();
  const delivery = await deliver(db, env, settings, now);
  await db.prepare("INSERT INTO monitor_state (id, last_run_at, last_success_at) VALUES (1, ?, ?) " +
    "ON CONFLICT (id) DO UPDATE SET last_run_at = excluded.last_run_at, last_success_at = excluded.last_success_at")
    .bind(now, now).run();
  return { results, changes, gap, delivery };
}

const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");

/** The monitor failed (e.g. its D1 writes): tell a person directly, without the outbox that lives in D1.
 *  PagerDuty deduplicates by key; Slack hears it once per isolate and half hour. */
let lastSelfAlert = 0;
export async function alertSelf(env, settings, now, error) {
  const text = `[critical] The Parsify monitor is failing: ${error}. Status data is going stale; ` +
    "/status.json answers 503 once it is older than " + `${settings.staleAfterMinutes} min.`;
  const sends = [];
  if ((settings.routes.critical ?? []).includes("pagerduty")) {
    sends.push(send(settings.delivery.pagerdutyUrl, { routing_key: env.PAGERDUTY_ROUTING_KEY, event_action: "trigger",
      dedup_key: "parsify-monitor-self", payload: { summary: text, source: "parsify-monitor", severity: "critical" } },
    {}, settings));
  }
  if ((settings.routes.critical ?? []).includes("slack") && now - lastSelfAlert > 30 * MINUTE) {
    lastSelfAlert = now;
    sends.push(send(env.SLACK_WEBHOOK_URL, { text }, {}, settings));
  }
  await Promise.all(sends);
  try {
    await env.MONITOR_DB.prepare("INSERT INTO monitor_state (id, last_run_at, last_error, last_error_at) VALUES (1, ?, ?, ?) " +
      "ON CONFLICT (id) DO UPDATE SET last_run_at = excluded.last_run_at, last_error = excluded.last_error, " +
      "last_error_at = excluded.last_error_at").bind(now, String(error), now).run();
  } catch {
    // The database is what failed: the staleness of last_success_at tells the outside.
  }
}

// ---------------------------------------------------------------------------------------------------
// Reports (the handbook's routines): morning 09:00, evening 19:00, weekly on Friday, to Slack.

async function latencyFigures(db, since, now, target) {
  const rows = (await db.prepare("SELECT latency_ms FROM probes WHERE target = ? AND at > ? AND at <= ? AND ok = 1 " +
    "AND maintenance = 0").bind(target, since, now).all()).results.map((r) => r.latency_ms);
  return { p50: percentile(rows, 50), p95: percentile(rows, 95), p99: percentile(rows, 99) };
}

/** Backup id: the run's scheduled time with ":" and "." replaced (workers/backup/index.js backupId). */
const BACKUP_ID = /^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z$/;
const DATABASE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const REPORT_LIMITS = { databases: 100, failures: 500, text: 500 };

/** The time a backup id names (its scheduled time), or NaN. */
export function backupIdTime(id) {
  const m = BACKUP_ID.exec(String(id));
  return m ? Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`) : NaN;
}

/** A report of the backup Worker, checked field by field: the rows to store, or a TypeError that says what
 *  is wrong. Only this shape is ever written, whatever a caller sends. */
export function checkBackupReport(report) {
  const refuse = (why) => {
    throw new TypeError(`backup report refused: ${why}`);
  };
  if (!report || typeof report !== "object") refuse("not an object");
  const { backupId, databases } = report;
  if (typeof backupId !== "string" || !Number.isFinite(backupIdTime(backupId))) {
    refuse(`backupId ${JSON.stringify(backupId)} is not a backup id (e.g. 2026-11-02T02-15-00-000Z)`);
  }
  if (!Array.isArray(databases) || databases.length === 0 || databases.length > REPORT_LIMITS.databases) {
    refuse(`databases must list 1 to ${REPORT_LIMITS.databases} databases`);
  }
  const seen = new Set();
  return databases.map((d, i) => {
    const at = `databases[${i}]`;
    if (!d || typeof d !== "object") refuse(`${at} is not an object`);
    if (typeof d.name !== "string" || !DATABASE_NAME.test(d.name)) refuse(`${at}.name is not a database name`);
    if (seen.has(d.name)) refuse(`${at}: ${d.name} is listed twice`);
    seen.add(d.name);
    if (typeof d.complete !== "boolean") refuse(`${at}.complete must be true or false`);
    const completedAt = d.completedAt === null || d.completedAt === undefined ? null : Date.parse(d.completedAt);
    if (completedAt !== null && (typeof d.completedAt !== "string" || !Number.isFinite(completedAt))) {
      refuse(`${at}.completedAt is not a time`);
    }
    const failures = d.failures ?? [];
    if (!Array.isArray(failures) || failures.length > REPORT_LIMITS.failures ||
        failures.some((f) => typeof f !== "string" || f.length === 0 || f.length > REPORT_LIMITS.text)) {
      refuse(`${at}.failures must be a list of table names`);
    }
    const sizeBytes = d.sizeBytes ?? null;
    if (sizeBytes !== null && !(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0)) {
      refuse(`${at}.sizeBytes must be a number of bytes`);
    }
    const error = d.error ?? null;
    if (error !== null && typeof error !== "string") refuse(`${at}.error must be text`);
    if (d.complete && (failures.length || error)) refuse(`${at}: a complete backup has no failures`);
    return { name: d.name, backupId, complete: d.complete, completedAt, failures, sizeBytes,
      error: error === null ? null : error.slice(0, REPORT_LIMITS.text) };
  });
}

/** Store a backup report (a redelivered one replaces the rows of the same run); reports older than the
 *  history are removed. */
export async function recordBackupReport(env, report, now) {
  const rows = checkBackupReport(report);
  const settings = settingsOf(env);
  const db = env.MONITOR_DB;
  await ensureSchema(db);
  await db.batch([
    ...rows.map((r) => db.prepare("INSERT INTO backup_reports (database, backup_id, complete, completed_at, failures, " +
      "size_bytes, error, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (database, backup_id) DO UPDATE SET " +
      "complete = excluded.complete, completed_at = excluded.completed_at, failures = excluded.failures, " +
      "size_bytes = excluded.size_bytes, error = excluded.error, received_at = excluded.received_at")
      .bind(r.name, r.backupId, r.complete ? 1 : 0, r.completedAt, JSON.stringify(r.failures), r.sizeBytes, r.error, now)),
    db.prepare("DELETE FROM backup_reports WHERE received_at < ?").bind(now - settings.historyDays * DAY),
  ]);
  return { recorded: rows.length, databases: rows.map((r) => r.name) };
}

/** The backup Worker's way in (a named entrypoint, reached only through a service binding: Cloudflare,
 *  workers/runtime-apis/bindings/service-bindings/rpc, "Named entrypoints"). Its methods are RPC methods,
 *  callable only by Workers that declare a binding to this entrypoint; the public fetch handler (the
 *  default export) cannot reach them, so the status page gains no write path. */
export class BackupReports extends WorkerEntrypoint {
  async record(report) {
    return recordBackupReport(this.env, report, Date.now());
  }
}

/** Per database the reports expect (settings.reportDatabases, else whatever has reported): the newest
 *  report, the newest complete one, and whether that is older than the backup Worker's own limit. */
async function backupStatus(db, settings, now) {
  const rows = (await db.prepare("SELECT * FROM backup_reports ORDER BY database, backup_id DESC").all()).results;
  const names = settings.reportDatabases?.length ? settings.reportDatabases : [...new Set(rows.map((r) => r.database))];
  return names.map((name) => {
    const mine = rows.filter((r) => r.database === name);
    const newest = mine[0] ?? null;
    const complete = mine.find((r) => r.complete) ?? null;
    // A backup's id is its scheduled time (2026-11-02T02-15-00-000Z); its completion time if it is not.
    const at = complete ? (Number.isFinite(backupIdTime(complete.backup_id)) ? backupIdTime(complete.backup_id)
      : complete.completed_at) : null;
    const ageHours = at === null || at === undefined ? null : Math.round((now - at) / 360_000) / 10;
    return { name, newest: newest?.backup_id ?? null, newestComplete: Boolean(newest?.complete),
      failures: newest ? JSON.parse(newest.failures) : [], error: newest?.error ?? null,
      complete: complete?.backup_id ?? null, ageHours, sizeBytes: newest?.size_bytes ?? null,
      stale: ageHours === null || ageHours > settings.backupMaxAgeHours };
  });
}

function backupLine(b, settings) {
  const age = (id) => `${id} (${b.ageHours} h old${b.stale ? `, STALE: over ${settings.backupMaxAgeHours} h` : ""})`;
  if (!b.newest) return `${b.name} NONE`;
  if (b.newestComplete) return `${b.name} ${age(b.newest)}`;
  const why = b.failures.length ? ` (failed: ${b.failures.join(", ")})` : b.error ? ` (${b.error})` : "";
  return `${b.name} ${b.newest} INCOMPLETE${why}, newest complete: ${b.complete ? age(b.complete) : "NONE, STALE"}`;
}

const fmtMs = (v) => (v === null || v === undefined ? "-" : `${Math.round(v)} ms`);
const fmtPct = (v) => (v === null || v === undefined ? "-" : `${v.toFixed(2)}%`);
const fmtBytes = (b) => (b === null ? "unknown" : b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);

export async function buildReport(env, kind, now) {
  const settings = settingsOf(env);
  const db = env.MONITOR_DB;
  await ensureSchema(db);
  const hours = kind === "weekly" ? 7 * 24 : kind === "morning" ? 14 : 24;
  const since = now - hours * 3_600_000;
  const title = { morning: "Morning report", evening: "Evening summary", weekly: "Weekly performance report" }[kind];
  const lines = [`*Parsify ${title}* - ${iso(now)} (last ${hours} h)`];
  const states = (await db.prepare("SELECT * FROM target_state").all()).results;
  for (const target of settings.targets) {
    const c = await windowCounts(db, target.name, now, hours * 60);
    const lat = await latencyFigures(db, since, now, target.name);
    const state = states.find((s) => s.target === target.name)?.status ?? "no data";
    lines.push(`- ${target.name}: ${state}; availability ${fmtPct(c.total ? 100 * (1 - c.down / c.total) : null)}, ` +
      `error rate ${fmtPct(c.total ? (100 * c.errors) / c.total : null)}, p50 ${fmtMs(lat.p50)} / p95 ${fmtMs(lat.p95)} / ` +
      `p99 ${fmtMs(lat.p99)}, throughput ${(c.total / (hours * 60)).toFixed(2)} probes/min (${c.total} samples)`);
  }
  const incidents = (await db.prepare("SELECT * FROM incidents WHERE opened_at > ? OR resolved_at > ? OR " +
    "resolved_at IS NULL ORDER BY opened_at").bind(since, since).all()).results;
  lines.push(`Incidents (${kind === "morning" ? "overnight" : `last ${hours} h`}): ${incidents.length || "none"}`);
  for (const i of incidents) {
    lines.push(`- #${i.id} ${i.target} [${i.severity}] ${i.summary}; opened ${iso(i.opened_at)}, ` +
      (i.resolved_at ? `resolved ${iso(i.resolved_at)} (${Math.round((i.resolved_at - i.opened_at) / MINUTE)} min)` : "ongoing"));
  }
  const budget = await errorBudget(db, settings, now, (x) => x);
  lines.push(`Error budget (${budget.windowDays} days): ${budget.remainingPercent.toFixed(2)}% left` +
    (budget.exhausted ? " - SPENT: only fixes deploy to prod" : ""));
  if (kind !== "evening") {
    // From the backup Worker's reports (BackupReports.record): this Worker reads neither the bucket nor the
    // databases.
    const backups = await backupStatus(db, settings, now);
    if (backups.length) {
      lines.push("Backups: " + backups.map((b) => backupLine(b, settings)).join("; "));
      lines.push("D1 sizes (at the last backup): " + backups.map((b) => `${b.name} ${fmtBytes(b.sizeBytes)} of ` +
        `${fmtBytes(settings.d1LimitBytes)}` +
        (b.sizeBytes !== null ? ` (${((100 * b.sizeBytes) / settings.d1LimitBytes).toFixed(1)}%)` : "")).join("; "));
    }
  }
  const upcoming = settings.maintenance.filter((w) => w.endMs > now && w.startMs < now + 7 * DAY);
  if (upcoming.length) {
    lines.push("Maintenance: " + upcoming.map((w) => `${w.summary} ${iso(w.startMs)} - ${iso(w.endMs)}`).join("; "));
  }
  return lines.join("\n");
}

export async function runReport(env, kind, now) {
  const settings = settingsOf(env);
  const text = await buildReport(env, kind, now);
  await enqueue(env.MONITOR_DB, settings.reportChannels ?? ["slack"], { action: "report", severity: "info", text }, now);
  return deliver(env.MONITOR_DB, env, settings, now);
}

// ---------------------------------------------------------------------------------------------------
// Status page: reads pre-aggregated rows only (target_state, daily, the newest incidents and gaps).

export async function status(env, now) {
  const settings = settingsOf(env);
  const db = env.MONITOR_DB;
  await ensureSchema(db);
  let rowsRead = 0;
  const meter = (result) => {
    rowsRead += result.meta?.rows_read ?? 0;
    return result;
  };
  const monitor = meter(await db.prepare("SELECT * FROM monitor_state WHERE id = 1").all()).results[0] ?? null;
  const states = meter(await db.prepare("SELECT * FROM target_state").all()).results;
  const since = dayOf(now - (settings.historyDays - 1) * DAY);
  const days = meter(await db.prepare("SELECT * FROM daily WHERE day >= ?").bind(since).all()).results;
  const incidents = meter(await db.prepare("SELECT * FROM incidents ORDER BY opened_at DESC LIMIT 20").all()).results;
  const gaps = meter(await db.prepare("SELECT * FROM gaps ORDER BY id DESC LIMIT 5").all()).results;
  const undelivered = meter(await db.prepare("SELECT count(*) AS n FROM outbox WHERE delivered_at IS NULL AND " +
    "failed_at IS NULL AND id > (SELECT coalesce(max(id), 0) - 1000 FROM outbox)").all()).results[0].n;
  const failed = meter(await db.prepare("SELECT count(*) AS n FROM outbox WHERE failed_at IS NOT NULL AND " +
    "id > (SELECT coalesce(max(id), 0) - 1000 FROM outbox)").all()).results[0].n;
  const budget = await errorBudget(db, settings, now, meter);
  const lastSuccess = monitor?.last_success_at ?? null;
  const stale = lastSuccess === null || now - lastSuccess > settings.staleAfterMinutes * MINUTE;
  const dayList = Array.from({ length: settings.historyDays }, (_, i) => dayOf(now - (settings.historyDays - 1 - i) * DAY));
  const targets = settings.targets.map(({ name }) => {
    const state = states.find((s) => s.target === name);
    const mine = days.filter((d) => d.target === name);
    const history = dayList.map((day) => {
      const d = mine.find((x) => x.day === day);
      return { day, samples: d?.total ?? 0, maintenance: d?.maintenance ?? 0,
        uptimePercent: d?.total ? Math.round(10_000 * (1 - d.down / d.total)) / 100 : null };
    });
    const windowed = budget.targets.find((t) => t.name === name);
    return { name, status: stale ? "no data" : state?.status ?? "no data", since: state ? iso(state.since) : null,
      latencyMs: state?.latency_ms ?? null, uptimePercent: windowed.availabilityPercent, history };
  });
  const maintenance = settings.maintenance.filter((w) => w.endMs > now - settings.historyDays * DAY)
    .map((w) => ({ summary: w.summary, start: iso(w.startMs), end: iso(w.endMs), targets: w.targets?.length ? w.targets : ["all"],
      state: w.startMs > now ? "scheduled" : w.endMs > now ? "in progress" : "completed" }));
  return {
    title: env.STATUS_TITLE ?? "Parsify status", now: iso(now), updatedAt: lastSuccess ? iso(lastSuccess) : null,
    stale, lastError: monitor?.last_error ?? null, overall: overallOf(targets, stale), targets,
    maintenance, errorBudget: budget, undeliveredAlerts: undelivered, failedAlerts: failed,
    incidents: incidents.map((i) => ({ id: i.id, target: i.target, severity: i.severity, summary: i.summary,
      openedAt: iso(i.opened_at), resolvedAt: i.resolved_at ? iso(i.resolved_at) : null, alerted: Boolean(i.alerted_at) })),
    gaps: gaps.map((g) => ({ startedAt: iso(g.started_at), endedAt: iso(g.ended_at) })),
    rowsRead,
  };
}

/** The banner says what the targets say: one of several down is a partial outage, all down is major. */
export function overallOf(targets, stale) {
  if (stale) return "status unknown: monitoring data is stale";
  const states = targets.map((t) => t.status);
  const down = states.filter((s) => s === "major outage").length;
  if (down && down === states.length) return "major outage";
  if (down) return "partial outage";
  if (states.includes("degraded performance")) return "degraded performance";
  if (states.includes("under maintenance")) return "under maintenance";
  if (states.every((s) => s === "operational")) return "all systems operational";
  return "no data";
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const COLOURS = { operational: "#1a7f37", "degraded performance": "#9a6700", "partial outage": "#bc4c00",
  "major outage": "#cf222e", "under maintenance": "#0969da", "no data": "#6e7781" };

export function relative(iso8601, now) {
  const diff = Date.parse(now) - Date.parse(iso8601);
  const future = diff < 0;
  const m = Math.round(Math.abs(diff) / MINUTE);
  const text = m < 1 ? "just now" : m < 60 ? `${m} min` : m < 48 * 60 ? `${Math.round(m / 60)} h` : `${Math.round(m / 1440)} days`;
  return m < 1 ? text : future ? `in ${text}` : `${text} ago`;
}

const when = (t, now) => `<time datetime="${t}">${escape(t.replace("T", " ").replace("Z", " UTC"))}</time> ` +
  `(${escape(relative(t, now))})`;

function bar(day) {
  const u = day.uptimePercent;
  const colour = u === null ? COLOURS["no data"] : u >= 99.9 ? COLOURS.operational : u >= 99 ? COLOURS["degraded performance"]
    : COLOURS["major outage"];
  const label = `${day.day}: ${u === null ? "no data" : `${u}% up`}${day.maintenance ? ", maintenance" : ""}`;
  return `<span class="bar" style="background:${colour}" title="${label}" aria-label="${label}"></span>`;
}

export function renderStatusPage(data) {
  const bannerColour = data.stale ? COLOURS["no data"] : data.overall === "all systems operational"
    ? COLOURS.operational : COLOURS[data.overall] ?? COLOURS["degraded performance"];
  const notices = data.maintenance.filter((m) => m.state !== "completed").map((m) => `<p class="notice" role="note">` +
    `<strong>Maintenance ${escape(m.state)}:</strong> ${escape(m.summary)} (${escape(m.targets.join(", "))}) from ` +
    `${when(m.start, data.now)} to ${when(m.end, data.now)}</p>`).join("");
  const rows = data.targets.map((t) => `<li class="target"><div class="row"><span class="dot" ` +
    `style="background:${COLOURS[t.status]}"></span><strong>${escape(t.name)}</strong>` +
    `<span class="state">${escape(t.status)}</span></div><div class="bars" aria-label="90 days of uptime">` +
    `${t.history.map(bar).join("")}</div><small>${t.history.length} days ago · ${t.uptimePercent === null ? "no data"
      : `${t.uptimePercent}% uptime over ${data.errorBudget.windowDays} days`} · today</small></li>`).join("");
  const incidents = data.incidents.map((i) => `<li><strong>${escape(i.target)}</strong> [${escape(i.severity)}]: ` +
    `${escape(i.summary)}<small>opened ${when(i.openedAt, data.now)}${i.resolvedAt ? ` · resolved ${when(i.resolvedAt, data.now)}`
      : i.severity === "critical" ? " · ongoing" : " · recovered; the error budget is still watched"}</small></li>`)
    .join("") || "<li>No incidents.</li>";
  const history = data.maintenance.map((m) => `<li>${escape(m.summary)} (${escape(m.state)})<small>` +
    `${when(m.start, data.now)} to ${when(m.end, data.now)}</small></li>`).join("") || "<li>No maintenance.</li>";
  const updated = data.updatedAt ? `Updated ${when(data.updatedAt, data.now)}` : "No successful check yet";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="60">
<title>${escape(data.title)}</title><style>
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0 auto;max-width:46rem;padding:1rem;color:#1f2328}
h1{font-size:1.4rem}.banner{padding:1rem;border-radius:.5rem;color:#fff;font-weight:600}
.notice{padding:.75rem;border-radius:.5rem;background:#ddf4ff;border:1px solid #54aeff}
ul{list-style:none;padding:0}li{padding:.75rem 0;border-bottom:1px solid #d0d7de;overflow-wrap:anywhere}
.row{display:flex;align-items:center;gap:.5rem}.state{margin-left:auto}
.dot{display:inline-block;width:.75rem;height:.75rem;border-radius:50%;flex:none}
.bars{display:flex;gap:1px;margin-top:.5rem;height:2rem}.bar{flex:1 1 0;min-width:0;border-radius:1px}
small{display:block;color:#59636e;margin-top:.25rem}</style></head><body>
<h1>${escape(data.title)}</h1><p class="banner" style="background:${bannerColour}">${escape(data.overall[0].toUpperCase() +
    data.overall.slice(1))}</p>${notices}
<ul>${rows}</ul><h2>Incidents</h2><ul>${incidents}</ul><h2>Maintenance</h2><ul>${history}</ul>
<p><small>${updated} · <a href="/status.json">JSON</a></small></p></body></html>`;
}

/** Requests, with the time they are answered for (the test entry passes the test's clock). */
export async function handleRequest(request, env, now) {
  const url = new URL(request.url);
  if (!["/", "/index.html", "/status.json", "/budget.json"].includes(url.pathname)) {
    return new Response("not found", { status: 404 });
  }
  const data = await status(env, now);
  const headers = { "cache-control": "max-age=30", "x-d1-rows-read": String(data.rowsRead) };
  if (url.pathname === "/budget.json") {
    return Response.json({ ...data.errorBudget, stale: data.stale, updatedAt: data.updatedAt },
      { status: data.stale ? 503 : 200, headers });
  }
  if (url.pathname === "/status.json") {
    // Non-200 when the data is stale: the Cloudflare health check on this URL pages.
    return Response.json(data, { status: data.stale ? 503 : 200, headers: { ...headers, "access-control-allow-origin": "*" } });
  }
  return new Response(renderStatusPage(data), { status: data.stale ? 503 : 200,
    headers: { ...headers, "content-type": "text/html; charset=utf-8" } });
}

export async function handleScheduled(cron, env, now) {
  const settings = settingsOf(env);
  const report = Object.entries(settings.reports ?? {}).find(([, schedule]) => schedule === cron)?.[0];
  try {
    if (report) return await runReport(env, report, now);
    return await runChecks(env, now);
  } catch (err) {
    console.error(`monitor run failed: ${err?.stack ?? err}`);
    await alertSelf(env, settings, now, String(err?.message ?? err));
    throw err;
  }
}

export default {
  async scheduled(event, env, ctx) {
    ctx.waitUntil(handleScheduled(event.cron, env, event.scheduledTime));
  },
  async fetch(request, env) {
    return handleRequest(request, env, Date.now());
  },
};
