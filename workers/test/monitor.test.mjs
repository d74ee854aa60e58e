// The synthetic monitor on workerd: fake endpoints and every outgoing alert go through miniflare's
// outbound fetch hook, so the tests drive outages and recoveries and read what would have been sent.
import { test, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { triggerCron } from "../local/harness.mjs";

const SLACK = "https://hooks.slack.test/services/T000/B000/monitor";
const EMAIL = "https://email.test/v1/send";
const behaviour = new Map(); // host -> {status, delayMs, fail}
const sent = [];

const TARGETS = [
  { name: "API", url: "https://api.parsify.test/healthz" },
  { name: "Web", url: "https://www.parsify.test/" },
  { name: "Admin", url: "https://admin.parsify.test/" },
];

const mf = new Miniflare({
  modules: true,
  scriptPath: fileURLToPath(new URL("../monitor/index.js", import.meta.url)),
  compatibilityDate: "2026-04-01",
  d1Databases: { MONITOR_DB: "monitor" },
  bindings: {
    MONITOR_TARGETS: JSON.stringify(TARGETS),
    SLO: JSON.stringify({ availabilityPercent: 99.9, p95LatencyMs: 500, errorRatePercent: 1, windowMinutes: 10,
      minSamples: 3 }),
    ALERT_ROUTES: JSON.stringify({ critical: ["pagerduty", "slack", "email"], warning: ["slack", "email"] }),
    SLACK_WEBHOOK_URL: SLACK, PAGERDUTY_ROUTING_KEY: "R0UTINGKEY", EMAIL_API_URL: EMAIL, EMAIL_API_KEY: "k",
    EMAIL_TO: JSON.stringify(["oncall@parsify.io"]),
  },
  outboundService: async (request) => {
    const url = new URL(request.url);
    if (url.host === "events.pagerduty.com") sent.push({ channel: "pagerduty", body: await request.json() });
    else if (request.url === SLACK) sent.push({ channel: "slack", body: await request.json() });
    else if (request.url === EMAIL) sent.push({ channel: "email", body: await request.json() });
    else {
      const b = behaviour.get(url.host) ?? { status: 200 };
      if (b.delayMs) await new Promise((resolve) => setTimeout(resolve, b.delayMs));
      if (b.fail) throw new Error("connection refused");
      return new Response("ok", { status: b.status });
    }
    return new Response("ok", { status: 202 });
  },
  unsafeTriggerHandlers: true,
  cf: false,
});
after(() => mf.dispose());

let clock = Date.now() - 60 * 60_000;
async function minutes(n) {
  for (let i = 0; i < n; i++) {
    clock += 60_000;
    await triggerCron(mf, "* * * * *", clock);
  }
}
const only = (channel) => sent.filter((s) => s.channel === channel);

beforeEach(() => {
  behaviour.clear();
  sent.length = 0;
});

test("healthy targets: no alert, an operational status page and JSON", async () => {
  await minutes(4);
  assert.deepEqual(sent, []);
  const data = await (await mf.dispatchFetch("https://status.parsify.test/status.json")).json();
  assert.equal(data.overall, "operational");
  assert.deepEqual(data.targets.map((t) => [t.name, t.status, t.availabilityPercent]),
    [["API", "operational", 100], ["Web", "operational", 100], ["Admin", "operational", 100]]);
  const page = await mf.dispatchFetch("https://status.parsify.test/");
  const html = await page.text();
  assert.match(page.headers.get("content-type"), /text\/html/);
  assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  assert.match(html, /All systems: operational/);
  for (const t of TARGETS) assert.match(html, new RegExp(`<strong>${t.name}</strong>`));
});

test("an outage pages once, stays quiet while it lasts, and resolves once", async () => {
  behaviour.set("api.parsify.test", { status: 503 });
  await minutes(1);
  const pages = only("pagerduty");
  assert.equal(pages.length, 2, "availability and error rate: two incidents, one page each");
  assert.deepEqual(pages.map((p) => p.body.event_action), ["trigger", "trigger"]);
  assert.equal(pages[0].body.routing_key, "R0UTINGKEY");
  assert.equal(pages[0].body.payload.severity, "critical");
  assert.match(pages[0].body.payload.summary, /^API: availability .* is below the 99.9% SLO/);
  assert.equal(only("slack").length, 1, "one Slack message for the run");
  assert.equal(only("email").length, 1);
  assert.deepEqual(only("email")[0].body.to, ["oncall@parsify.io"]);

  await minutes(5); // still down: no new alert
  assert.equal(sent.length, 4);
  const down = await (await mf.dispatchFetch("https://status.parsify.test/status.json")).json();
  assert.equal(down.overall, "major outage");
  assert.equal(down.targets[0].status, "major outage");
  assert.equal(down.incidents.filter((i) => i.resolvedAt === null).length, 2);

  behaviour.clear(); // recovered; the failures age out of the 10-minute window
  await minutes(11);
  const resolves = only("pagerduty").filter((p) => p.body.event_action === "resolve");
  assert.equal(resolves.length, 2);
  assert.deepEqual(new Set(resolves.map((p) => p.body.dedup_key)), new Set(pages.map((p) => p.body.dedup_key)));
  assert.equal(only("slack").length, 2);
  assert.match(only("slack")[1].body.text, /RESOLVED: API/);
  assert.equal((await (await mf.dispatchFetch("https://status.parsify.test/status.json")).json()).overall, "operational");
});

test("slow responses open a latency warning: Slack and email, no page", async () => {
  behaviour.set("web.parsify.test", { status: 200 }); // unrelated host
  behaviour.set("www.parsify.test", { status: 200, delayMs: 650 });
  await minutes(3);
  assert.equal(only("pagerduty").length, 0, "warnings do not page");
  assert.equal(only("slack").length, 1);
  assert.match(only("slack")[0].body.text, /\[warning\] OPEN: Web - p95 latency \d+ ms is above the 500 ms SLO/);
  assert.equal(only("email").length, 1);
  behaviour.clear();
  await minutes(11);
  assert.match(only("slack").at(-1).body.text, /RESOLVED: Web/);
});

test("many targets failing at once: one message per channel, one page per incident, no storm", async () => {
  for (const t of TARGETS) behaviour.set(new URL(t.url).host, { fail: true });
  await minutes(1);
  assert.equal(only("slack").length, 1);
  assert.equal(only("slack")[0].body.text.split("\n").length, 6, "3 targets x (availability, error rate)");
  assert.equal(only("email").length, 1);
  assert.equal(only("pagerduty").length, 6);
  await minutes(10);
  assert.equal(sent.length, 8, "nothing more while the outage lasts");
  behaviour.clear();
  await minutes(11);
  assert.equal(only("pagerduty").filter((p) => p.body.event_action === "resolve").length, 6);
});
