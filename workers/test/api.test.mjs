// The API Worker's health contract (what the health checks and the monitor probe), on workerd.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

// Test with the compatibility date prod deploys with (the pinned workerd must support it).
const prodConfig = readFileSync(new URL("../../Pulumi.prod.yaml", import.meta.url), "utf8");
const compatibilityDate = prodConfig.match(/compatibilityDate: "([0-9-]+)"/)[1];

const mf = new Miniflare({
  modules: true,
  scriptPath: fileURLToPath(new URL("../api/index.js", import.meta.url)),
  compatibilityDate,
  d1Databases: { DB: "core" },
  bindings: { ENVIRONMENT: "production" },
  cf: false,
});
after(() => mf.dispose());

test("/healthz answers ok after a round trip to D1", async () => {
  const response = await mf.dispatchFetch("https://api.parsify.test/healthz");
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.status, "ok");
  assert.equal(body.environment, "production");
  assert.equal(typeof body.db_ms, "number");
});

test("other paths are 404 with a JSON error", async () => {
  const response = await mf.dispatchFetch("https://api.parsify.test/nope");
  assert.equal(response.status, 404);
  assert.deepEqual(await response.json(), { error: "not found" });
});
