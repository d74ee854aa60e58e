// The status page in a real browser (Debian's headless Chromium, driven by playwright-core) at phone and
// desktop widths: what a person reads. Screenshots go to workers/test-output/ (not committed).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { MINUTE, START, TARGETS, monitor } from "./monitor-helpers.mjs";

const OUTPUT = fileURLToPath(new URL("../test-output/", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 900 } };

let m;
let url;
const profiles = [];

before(async () => {
  m = monitor({ stack: { maintenance: [{ start: new Date(START + 26 * 60 * MINUTE).toISOString(),
    end: new Date(START + 28 * 60 * MINUTE).toISOString(), targets: ["Admin"], summary: "Admin console upgrade" }] } });
  await m.minutes(30);
  // A past outage of the Web app, resolved: incident history.
  m.script("www.parsify.test", { status: 503 });
  await m.minutes(4);
  m.script("www.parsify.test", { status: 200 });
  await m.minutes(40);
  // 89 earlier days of history, one of them with a bad day.
  const db = await m.db();
  await db.prepare("WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < 90) " +
    "INSERT INTO daily (target, day, total, down, errors, slow) SELECT t.value, date(? / 1000 - i * 86400, 'unixepoch'), " +
    "1440, CASE WHEN i = 12 THEN 60 ELSE 0 END, CASE WHEN i = 12 THEN 60 ELSE 0 END, 0 FROM seq, json_each(?) AS t")
    .bind(START, JSON.stringify(TARGETS.map((t) => t.name))).run();
  // Now the API is down.
  m.script("api.parsify.test", { refuse: true });
  await m.minutes(3);
  url = (await m.mf.ready).toString();
  mkdirSync(OUTPUT, { recursive: true });
});

after(async () => {
  await m?.dispose();
  for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
});

/** A fresh browser with a new, empty profile (--user-data-dir), at the viewport's size. */
async function open(viewport) {
  const profile = mkdtempSync(join(tmpdir(), "status-page-chromium-"));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, viewport,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    extraHTTPHeaders: { "x-test-now": String(m.now) } });
  const page = context.pages()[0] ?? await context.newPage();
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  return { page, context };
}

for (const [name, viewport] of Object.entries(VIEWPORTS)) {
  test(`status page on a ${name} (${viewport.width}x${viewport.height}): banner, targets, 90 days, maintenance`,
    async () => {
      const { page, context } = await open(viewport);
      try {
        await page.screenshot({ path: join(OUTPUT, `status-${name}.png`), fullPage: true });
        const states = await page.locator("li.target .state").allInnerTexts();
        assert.deepEqual(states, ["major outage", "operational", "operational"]);
        const banner = await page.locator(".banner").innerText();
        assert.equal(banner, "Partial outage", "one of three targets down is a partial outage, as the targets say");
        assert.ok(await page.locator(".banner").isVisible());
        for (const target of await page.locator("li.target").all()) {
          assert.equal(await target.locator(".bar").count(), 90, "90 days of daily uptime per target");
        }
        const badDay = page.locator("li.target").nth(1).locator(".bar").nth(89 - 12);
        assert.match(await badDay.getAttribute("title"), /: 95\.83% up$/);
        const notice = page.locator(".notice");
        assert.ok(await notice.isVisible());
        assert.match(await notice.innerText(),
          /^Maintenance scheduled: Admin console upgrade \(Admin\) from 2026-11-03 02:00:00 UTC \(in 25 h\) to 2026-11-03 04:00:00 UTC \(in 27 h\)$/);
        const incidents = await page.locator("h2:has-text('Incidents') + ul li").allInnerTexts();
        assert.equal(incidents.length, 2);
        assert.match(incidents[0], /^API \[critical\]: .*\nopened 2026-11-02 01:15:00 UTC \(2 min ago\) · ongoing$/);
        // The Web outage stopped paging; its slow-burn ticket stays open (the 3-day rule), said plainly.
        assert.match(incidents[1], /^Web \[warning\]: .*\nopened 2026-11-02 00:31:00 UTC \(46 min ago\) · recovered; the error budget is still watched$/);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.equal(overflow, 0, "no horizontal scrolling");
        const barWidth = await page.locator(".bar").first().evaluate((el) => el.getBoundingClientRect().width);
        assert.ok(barWidth > 0, "every day's bar is visible");
      } finally {
        await context.close();
      }
    });
}
