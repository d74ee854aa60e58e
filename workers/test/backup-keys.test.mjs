// Every row exactly once, whatever the keys (the guarantee in workers/backup/index.js and the README):
// pages follow the primary key as SQL literals, across invocations. D1 returns integers above 2^53 as
// rounded JavaScript numbers, so these tests read keys back as text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backupSql, backupWorkers, manifestOf, restoreInto, runBackup } from "./helpers.mjs";
import { localBucket, localD1 } from "../local/harness.mjs";

const open = backupWorkers();
// Small pages and budgets: every table below spans several pages and invocations.
const PAGED = { BACKUP_PAGE_ROWS: "7", BACKUP_QUERY_BUDGET: "6" };
const T0 = Date.UTC(2026, 10, 27, 2, 15, 0);

const asText = async (db, sql) => (await db.prepare(sql).all()).results;

test("negative, zero and 64-bit integer keys, WITHOUT ROWID composite keys, NOCASE text keys: each row once", async () => {
  const { mf, alerts } = open({ bindings: PAGED });
  const core = localD1(mf, "DB_CORE");
  await core.batch([
    "CREATE TABLE wide (id INTEGER PRIMARY KEY, v TEXT)",
    // Around 2^53 (9007199254740992) JavaScript numbers collapse neighbours: 2^53 + 1 reads as 2^53.
    "WITH RECURSIVE n(i) AS (SELECT -20 UNION ALL SELECT i + 1 FROM n WHERE i < 20) " +
      "INSERT INTO wide SELECT 9007199254740992 + i, 'near 2^53 ' || i FROM n",
    "INSERT INTO wide VALUES (-9223372036854775808, 'min'), (9223372036854775807, 'max'), (0, 'zero'), (-1, 'minus one')",
    "CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID",
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 40) " +
      "INSERT INTO pairs SELECT char(65 + i % 3), 9007199254740990 + i, 'p' || i FROM n",
    "CREATE TABLE codes (code TEXT COLLATE NOCASE PRIMARY KEY, v TEXT)",
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 40) " +
      "INSERT INTO codes SELECT CASE i % 2 WHEN 0 THEN 'a' ELSE 'B' END || printf('%03d', i), 'c' || i FROM n",
    // A name that an unescaped LIKE '_cf_%' (D1's own tables) would also have matched.
    "CREATE TABLE xcfgx (id INTEGER PRIMARY KEY)", "INSERT INTO xcfgx VALUES (1)",
    "CREATE TABLE _cfg (id INTEGER PRIMARY KEY)", "INSERT INTO _cfg VALUES (2)",
  ].map((sql) => core.prepare(sql)));
  const { state } = await runBackup(mf, T0);
  assert.equal(state.status, "complete", state.error);
  assert.ok(state.invocations >= 4, `several invocations, got ${state.invocations}`);
  const manifest = await manifestOf(mf, "core", T0);
  assert.equal(manifest.complete, true, JSON.stringify(manifest.failures));
  assert.deepEqual(Object.keys(manifest.tables).sort(), ["_cfg", "codes", "pairs", "wide", "xcfgx"]);
  const target = localD1(mf, "RESTORE");
  await restoreInto(mf, "RESTORE", await backupSql(mf, "core", manifest)); // a duplicate key fails here
  for (const [table, order] of [["wide", "id"], ["pairs", "a, b"], ["codes", "code"], ["_cfg", "id"], ["xcfgx", "id"]]) {
    const sql = `SELECT CAST(${order.split(", ").join(" AS TEXT) || '/' || CAST(")} AS TEXT) AS k, * FROM ${table} ORDER BY ${order}`;
    assert.deepEqual(await asText(target, sql), await asText(core, sql), `${table}: every row exactly once`);
    assert.equal(manifest.tables[table].rows, manifest.tables[table].sourceRows, table);
  }
  assert.deepEqual(alerts, []);
});

test("rows rewritten with INSERT OR REPLACE during the run (new rowids) appear exactly once, by primary key", async () => {
  const { mf, alerts } = open({ bindings: PAGED });
  const core = localD1(mf, "DB_CORE");
  await core.prepare("CREATE TABLE accounts (code TEXT PRIMARY KEY, v TEXT)").run();
  await core.prepare("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 399) " +
    "INSERT INTO accounts SELECT printf('k%04d', i), 'original' FROM n").run();
  const bucket = localBucket(mf);
  await bucket.put("__chaos.json", JSON.stringify({ mutate: "replace" }));
  const { state } = await runBackup(mf, T0);
  await bucket.delete("__chaos.json");
  assert.equal(state.status, "complete", state.error);
  const log = JSON.parse(await (await bucket.get("__chaos_log.json")).text());
  assert.ok(log.length > 20, "rows were replaced while the run went on");
  const maxRowid = (await core.prepare("SELECT max(rowid) AS m FROM accounts").first()).m;
  assert.ok(maxRowid > 400, "replaced rows got rowids above the count at the start");
  const manifest = await manifestOf(mf, "core", T0);
  assert.equal(manifest.complete, true, JSON.stringify(manifest.failures));
  const target = localD1(mf, "RESTORE");
  await restoreInto(mf, "RESTORE", await backupSql(mf, "core", manifest)); // a row exported twice fails here
  const codes = (await asText(target, "SELECT code FROM accounts ORDER BY code")).map((r) => r.code);
  assert.equal(codes.length, 400, "each of the 400 rows, which existed for the whole run, exactly once");
  assert.equal(new Set(codes).size, 400);
  assert.equal(manifest.tables.accounts.rows, 400);
  assert.deepEqual(alerts, []);
});
