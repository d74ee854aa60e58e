// Parsify synthetic monitor: every minute it probes the endpoints in MONITOR_TARGETS, records latency
// and status in D1 (MONITOR_DB), computes availability, p95 latency and error rate over a rolling
// window against the SLOs, opens and resolves incidents, and alerts by severity through the routes in
// ALERT_ROUTES: Slack (incoming webhook), email (HTTP email API) and PagerDuty Events API v2 (which
// pages by SMS and phone). It also serves the public status page (/) and its JSON (/status.json).
//
// No alert storm: an incident alerts once when it opens and once when it resolves. Slack and email get
// one message per run listing every change; PagerDuty gets one event per incident, deduplicated by key.

const DEFAULT_SLO = { availabilityPercent: 99.9, p95LatencyMs: 500, errorRatePercent: 1, windowMinutes: 60,
  minSamples: 5 };
const DEFAULT_ROUTES = { critical: ["pagerduty", "slack", "email"], warning: ["slack", "email"] };
const PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue";
const PROBE_TIMEOUT_MS = 10_000;
const RETENTION_DAYS = 7;

function json(env, name, fallback) {
  const value = env[name];
  if (value === undefined || value === null || value === "") return fallback;
  return typeof value === "string" ? JSON.parse(value) : value;
}

function config(env) {
  return {
    targets: json(env, "MONITOR_TARGETS", []),
    slo: { ...DEFAULT_SLO, ...json(env, "SLO", {}) },
    routes: { ...DEFAULT_ROUTES, ...json(env, "ALERT_ROUTES", {}) },
    emailTo: json(env, "EMAIL_TO", []),
    title: env.STATUS_TITLE ?? "Parsify status",
  };
}

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS probes (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, target TEXT NOT NULL, " +
    "ok INTEGER NOT NULL, down INTEGER NOT NULL, status INTEGER, latency_ms REAL, error TEXT)",
  "CREATE INDEX IF NOT EXISTS probes_target_at ON probes(target, at)",
  "CREATE TABLE IF NOT EXISTS incidents (id INTEGER PRIMARY KEY, target TEXT NOT NULL, kind TEXT NOT NULL, " +
    "severity TEXT NOT NULL, summary TEXT NOT NULL, opened_at INTEGER NOT NULL, resolved_at INTEGER)",
];

async function ensureSchema(db) {
  await db.batch(SCHEMA.map((sql) => db.prepare(sql)));
}

// ---------------------------------------------------------------------------------------------------
// Probing

export async function probe(target, now) {
  const started = Date.now();
  try {
    const response = await fetch(target.url, { method: target.method ?? "GET", redirect: "manual",
      signal: AbortSignal.timeout(target.timeoutMs ?? PROBE_TIMEOUT_MS), headers: { "user-agent": "parsify-monitor" } });
    await response.arrayBuffer();
    const latency = Date.now() - started;
    const expected = target.expectStatus ?? [200, 299];
    const ok = response.status >= expected[0] && response.status <= expected[1];
    return { at: now, target: target.name, ok, down: response.status >= 500, status: response.status, latency, error: null };
  } catch (err) {
    return { at: now, target: target.name, ok: false, down: true, status: null, latency: Date.now() - started,
      error: String(err?.message ?? err) };
  }
}

export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function windowStats(db, target, now, slo) {
  const since = now - slo.windowMinutes * 60_000;
  const rows = (await db.prepare("SELECT ok, down, latency_ms FROM probes WHERE target = ? AND at > ? AND at <= ?")
    .bind(target, since, now).all()).results;
  const total = rows.length;
  const latencies = rows.filter((r) => r.ok).map((r) => r.latency_ms);
  return {
    samples: total,
    availabilityPercent: total ? (100 * rows.filter((r) => !r.down).length) / total : null,
    errorRatePercent: total ? (100 * rows.filter((r) => !r.ok).length) / total : null,
    p95LatencyMs: percentile(latencies, 95),
  };
}

export function breaches(stats, slo) {
  if (stats.samples < slo.minSamples) return [];
  const found = [];
  if (stats.availabilityPercent < slo.availabilityPercent) {
    found.push({ kind: "availability", severity: "critical",
      summary: `availability ${stats.availabilityPercent.toFixed(2)}% is below the ${slo.availabilityPercent}% SLO` });
  }
  if (stats.errorRatePercent > slo.errorRatePercent) {
    found.push({ kind: "error-rate", severity: "critical",
      summary: `error rate ${stats.errorRatePercent.toFixed(2)}% is above the ${slo.errorRatePercent}% SLO` });
  }
  if (stats.p95LatencyMs !== null && stats.p95LatencyMs > slo.p95LatencyMs) {
    found.push({ kind: "latency", severity: "warning",
      summary: `p95 latency ${Math.round(stats.p95LatencyMs)} ms is above the ${slo.p95LatencyMs} ms SLO` });
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Alerting

async function post(url, body, headers = {}) {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${new URL(url).host} answered ${response.status}`);
}

function line(change) {
  const verb = change.action === "trigger" ? "OPEN" : "RESOLVED";
  return `[${change.severity}] ${verb}: ${change.target} - ${change.summary} (incident #${change.id})`;
}

export async function deliver(env, cfg, changes) {
  const failures = [];
  const attempt = async (what, fn) => {
    try {
      await fn();
    } catch (err) {
      failures.push(`${what}: ${err?.message ?? err}`);
    }
  };
  const wants = (change, channel) => (cfg.routes[change.severity] ?? []).includes(channel);
  for (const change of changes.filter((c) => wants(c, "pagerduty"))) {
    if (!env.PAGERDUTY_ROUTING_KEY) continue;
    await attempt("pagerduty", () => post(PAGERDUTY_URL, {
      routing_key: env.PAGERDUTY_ROUTING_KEY,
      event_action: change.action,
      dedup_key: `parsify-monitor-${change.id}`,
      payload: { summary: `${change.target}: ${change.summary}`, source: "parsify-monitor",
        severity: change.severity, component: change.target, group: change.kind },
    }));
  }
  const slack = changes.filter((c) => wants(c, "slack"));
  if (slack.length && env.SLACK_WEBHOOK_URL) {
    await attempt("slack", () => post(env.SLACK_WEBHOOK_URL, { text: slack.map(line).join("\n") }));
  }
  const email = changes.filter((c) => wants(c, "email"));
  if (email.length && env.EMAIL_API_URL && cfg.emailTo.length) {
    const opened = email.filter((c) => c.action === "trigger").length;
    await attempt("email", () => post(env.EMAIL_API_URL, {
      from: env.EMAIL_FROM ?? "monitor@parsify.io", to: cfg.emailTo,
      subject: `Parsify monitor: ${opened} incident(s) opened, ${email.length - opened} resolved`,
      text: email.map(line).join("\n"),
    }, { authorization: `Bearer ${env.EMAIL_API_KEY ?? ""}` }));
  }
  for (const failure of failures) console.error(`alert delivery failed: ${failure}`);
  return failures;
}

// ---------------------------------------------------------------------------------------------------
// The minute

export async function runChecks(env, now) {
  const cfg = config(env);
  const db = env.MONITOR_DB;
  await ensureSchema(db);
  const results = await Promise.all(cfg.targets.map((target) => probe(target, now)));
  await db.batch([
    ...results.map((r) => db.prepare("INSERT INTO probes (at, target, ok, down, status, latency_ms, error) " +
      "VALUES (?, ?, ?, ?, ?, ?, ?)").bind(r.at, r.target, r.ok ? 1 : 0, r.down ? 1 : 0, r.status, r.latency, r.error)),
    db.prepare("DELETE FROM probes WHERE at < ?").bind(now - RETENTION_DAYS * 86_400_000),
  ]);
  const open = (await db.prepare("SELECT * FROM incidents WHERE resolved_at IS NULL").all()).results;
  const changes = [];
  for (const target of cfg.targets) {
    const stats = await windowStats(db, target.name, now, cfg.slo);
    const found = breaches(stats, cfg.slo);
    for (const breach of found) {
      if (open.some((i) => i.target === target.name && i.kind === breach.kind)) continue; // already alerted
      const row = await db.prepare("INSERT INTO incidents (target, kind, severity, summary, opened_at) " +
        "VALUES (?, ?, ?, ?, ?) RETURNING id").bind(target.name, breach.kind, breach.severity, breach.summary, now).first();
      changes.push({ action: "trigger", id: row.id, target: target.name, ...breach });
    }
    for (const incident of open.filter((i) => i.target === target.name)) {
      if (found.some((b) => b.kind === incident.kind)) continue;
      await db.prepare("UPDATE incidents SET resolved_at = ? WHERE id = ?").bind(now, incident.id).run();
      changes.push({ action: "resolve", id: incident.id, target: target.name, kind: incident.kind,
        severity: incident.severity, summary: `recovered (${incident.summary} since ${new Date(incident.opened_at).toISOString()})` });
    }
  }
  // Targets removed from the config: close their incidents quietly.
  const names = new Set(cfg.targets.map((t) => t.name));
  for (const incident of open.filter((i) => !names.has(i.target))) {
    await db.prepare("UPDATE incidents SET resolved_at = ? WHERE id = ?").bind(now, incident.id).run();
  }
  const failures = changes.length ? await deliver(env, cfg, changes) : [];
  return { results, changes, failures };
}

// ---------------------------------------------------------------------------------------------------
// Status page

/** The status as of the newest probe: a stopped monitor shows its age instead of an empty window. */
export async function status(env) {
  const cfg = config(env);
  const db = env.MONITOR_DB;
  await ensureSchema(db);
  const latest = await db.prepare("SELECT max(at) AS at FROM probes").first();
  const now = latest?.at ?? Date.now();
  const incidents = (await db.prepare("SELECT * FROM incidents WHERE resolved_at IS NULL OR resolved_at > ? " +
    "ORDER BY opened_at DESC LIMIT 20").bind(now - 7 * 86_400_000).all()).results;
  const targets = [];
  for (const target of cfg.targets) {
    const stats = await windowStats(db, target.name, now, cfg.slo);
    const open = incidents.filter((i) => i.target === target.name && i.resolved_at === null);
    const state = open.some((i) => i.severity === "critical") ? "major outage"
      : open.length ? "degraded performance" : stats.samples ? "operational" : "no data";
    targets.push({ name: target.name, status: state, windowMinutes: cfg.slo.windowMinutes, ...stats });
  }
  const overall = targets.some((t) => t.status === "major outage") ? "major outage"
    : targets.some((t) => t.status === "degraded performance") ? "degraded performance" : "operational";
  return {
    title: cfg.title, updatedAt: new Date(now).toISOString(), overall, slo: cfg.slo, targets,
    incidents: incidents.map((i) => ({ id: i.id, target: i.target, kind: i.kind, severity: i.severity,
      summary: i.summary, openedAt: new Date(i.opened_at).toISOString(),
      resolvedAt: i.resolved_at ? new Date(i.resolved_at).toISOString() : null })),
  };
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const COLOURS = { operational: "#1a7f37", "degraded performance": "#9a6700", "major outage": "#cf222e", "no data": "#6e7781" };
const pct = (v) => (v === null ? "-" : `${v.toFixed(2)}%`);

export function renderStatusPage(data) {
  const rows = data.targets.map((t) => `<li><span class="dot" style="background:${COLOURS[t.status]}"></span>` +
    `<strong>${escape(t.name)}</strong><span class="state">${escape(t.status)}</span>` +
    `<small>availability ${pct(t.availabilityPercent)} · p95 ${t.p95LatencyMs === null ? "-" : Math.round(t.p95LatencyMs) + " ms"} · ` +
    `errors ${pct(t.errorRatePercent)} (last ${t.windowMinutes} min)</small></li>`).join("");
  const incidents = data.incidents.map((i) => `<li><strong>${escape(i.target)}</strong>: ${escape(i.summary)}<br>` +
    `<small>${i.resolvedAt ? `resolved ${escape(i.resolvedAt)}` : `ongoing since ${escape(i.openedAt)}`}</small></li>`).join("")
    || "<li>No incidents in the last 7 days.</li>";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="60">
<title>${escape(data.title)}</title><style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:42rem;padding:1rem;color:#1f2328}
h1{font-size:1.4rem}.banner{padding:1rem;border-radius:.5rem;color:#fff;background:${COLOURS[data.overall]}}
ul{list-style:none;padding:0}li{padding:.75rem 0;border-bottom:1px solid #d0d7de}
.dot{display:inline-block;width:.75rem;height:.75rem;border-radius:50%;margin-right:.5rem}
.state{float:right}small{display:block;color:#59636e;margin-top:.25rem}</style></head><body>
<h1>${escape(data.title)}</h1><p class="banner">All systems: ${escape(data.overall)}</p>
<ul>${rows}</ul><h2>Incidents</h2><ul>${incidents}</ul>
<p><small>Updated ${escape(data.updatedAt)} · <a href="/status.json">JSON</a></small></p></body></html>`;
}

export default {
  async scheduled(event, env, ctx) {
    ctx.waitUntil(runChecks(env, event.scheduledTime));
  },
  async fetch(request, env) {
    const url = new URL(request.url);
    const data = await status(env);
    if (url.pathname === "/status.json") {
      return Response.json(data, { headers: { "cache-control": "max-age=30", "access-control-allow-origin": "*" } });
    }
    if (url.pathname === "/" || url.pathname === "/index.html") {
      return new Response(renderStatusPage(data), { headers: { "content-type": "text/html; charset=utf-8",
        "cache-control": "max-age=30" } });
    }
    return new Response("not found", { status: 404 });
  },
};
