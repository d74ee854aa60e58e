// The stated consistency guarantee under concurrent writes (see workers/backup/index.js): between page
// reads of a run that spans several invocations, the harness updates a row behind the cursor, updates
// and deletes rows ahead of it, and inserts a new row. The export must contain exactly the rows with
// rowid <= the bound fixed at start that still existed when their page was read, each as of that read.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { backupSql, backupWorker, manifestOf, restoreInto, rows, runBackup } from "./helpers.mjs";
import { localBucket, localD1 } from "../local/harness.mjs";

const { mf, alerts } = backupWorker({
  bindings: { BACKUP_PAGE_ROWS: "40", BACKUP_QUERY_BUDGET: "6" },
});
after(() => mf.dispose());

test("concurrent writes: no inserted row, no duplicate, every untouched row, each row as of its page read", async () => {
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT)").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) " +
    "INSERT INTO items SELECT i, 'value ' || i FROM n").run();
  const before = new Map((await rows(core, "items")).map((r) => [r.id, r.value]));
  const bucket = localBucket(mf);
  await bucket.put("__chaos.json", JSON.stringify({ mutate: true }));
  const time = Date.UTC(2026, 10, 27, 2, 15, 0);
  const { state } = await runBackup(mf, time);
  assert.equal(state.status, "complete", state.error);
  assert.ok(state.invocations >= 3, "the run spans several invocations");
  assert.deepEqual(alerts, []);

  const log = JSON.parse(await (await bucket.get("__chaos_log.json")).text());
  const manifest = await manifestOf(mf, "core", time);
  const target = localD1(mf, "RESTORE");
  await restoreInto(mf, "RESTORE", await backupSql(mf, "core", manifest)); // a duplicate id would fail here
  const exported = new Map((await rows(target, "items")).map((r) => [r.id, r.value]));
  assert.equal(manifest.tables.items.rows, exported.size);
  assert.equal(manifest.tables.items.sourceRows, 400, "the count at the bound, at the start");
  const items = state.databases.find((d) => d.name === "core").tables.find((t) => t.name === "items");
  assert.deepEqual(items.bound, ["400"], "the bound is the key literal of the last row at the start");
  assert.ok(log.some((m) => m.kind === "insert"), "rows were inserted during the run");
  assert.ok((await rows(core, "items")).some((r) => r.id > 400));

  const ahead = new Set(log.filter((m, i) => m.kind === "update" && i % 4 === 1).map((m) => m.id));
  const behind = new Set(log.filter((m, i) => m.kind === "update" && i % 4 === 0).map((m) => m.id));
  const deleted = new Set(log.filter((m) => m.kind === "delete").map((m) => m.id));
  for (const id of exported.keys()) assert.ok(id <= 400, `row ${id} was inserted during the run`);
  for (const [id, value] of before) {
    if (deleted.has(id)) {
      assert.ok(!exported.has(id), `row ${id} was deleted before its page was read`);
    } else if (ahead.has(id)) {
      assert.ok(exported.get(id).startsWith(`${value}+`), `row ${id} was updated before its page was read`);
    } else if (behind.has(id)) {
      assert.equal(exported.get(id), value, `row ${id} was updated after its page was read`);
    } else {
      assert.equal(exported.get(id), value, `untouched row ${id}`);
    }
  }
  assert.ok(deleted.size > 3 && ahead.size > 3 && behind.size > 3, "the harness exercised every case");
});
