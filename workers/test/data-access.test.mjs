// The tests' way to D1 and R2 (localD1, localBucket in local/harness.mjs, over the data-access Worker) must answer
// as D1 and R2 do, or a test would pass or fail for the wrong reason. Each case cites the documentation it follows.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Miniflare } from "miniflare";
import { localBucket, localD1, localRuntime } from "../local/harness.mjs";

const mf = new Miniflare(localRuntime({ name: "entry", modules: true, compatibilityDate: "2026-04-01",
  script: "export default { fetch() { return new Response('entry'); } }", d1Databases: { DB: "db" },
  r2Buckets: ["BACKUPS"] }));
after(() => mf.dispose());
const db = localD1(mf, "DB");

test("values come back as D1 gives them: a BLOB as an Array of numbers, NULL, REAL, text that looks like bytes", async () => {
  // developers.cloudflare.com/d1/worker-api/#type-conversion: ArrayBuffer (and views) bind as BLOB, a BLOB is
  // returned as an Array; null is NULL; a number is REAL or INTEGER.
  await db.prepare("CREATE TABLE v (id INTEGER PRIMARY KEY, b BLOB, r REAL, t TEXT)").run();
  await db.batch([
    db.prepare("INSERT INTO v VALUES (1, ?, ?, ?)").bind(new Uint8Array([0, 1, 255]), 1 / 3, null),
    db.prepare("INSERT INTO v VALUES (2, ?, NULL, ?)").bind(new Uint8Array([7, 8, 9]).buffer, '{"$bytes":[1,2]}'),
  ]);
  const { results } = await db.prepare("SELECT * FROM v ORDER BY id").all();
  assert.deepEqual(results, [{ id: 1, b: [0, 1, 255], r: 1 / 3, t: null }, { id: 2, b: [7, 8, 9], r: null, t: '{"$bytes":[1,2]}' }]);
  assert.deepEqual(await db.prepare("SELECT x'0102' AS \"$bytes\"").first(), { $bytes: [1, 2] });
});

test("what D1 cannot bind is refused at bind(), never sent as NULL", () => {
  // developers.cloudflare.com/d1/worker-api/#type-conversion lists what binds; undefined is not among them.
  for (const value of [undefined, { $bytes: [1] }, 10n]) {
    assert.throws(() => db.prepare("SELECT ?").bind(value), /^Error: D1_TYPE_ERROR: Type '\w+' not supported/);
  }
});

test("first(), raw() and a failing batch answer as D1 does", async () => {
  // developers.cloudflare.com/d1/worker-api/prepared-statements/: first() is null without rows, first(column)
  // the value; raw({columnNames: true}) puts the names first.
  await db.exec("CREATE TABLE f (id INTEGER PRIMARY KEY, name TEXT)");
  assert.equal(await db.prepare("SELECT * FROM f").first(), null);
  await db.prepare("INSERT INTO f (name) VALUES (?), (?)").bind("ada", "grace").run();
  assert.equal(await db.prepare("SELECT name FROM f ORDER BY id").first("name"), "ada");
  assert.deepEqual(await db.prepare("SELECT id, name FROM f ORDER BY id").raw({ columnNames: true }),
    [["id", "name"], [1, "ada"], [2, "grace"]]);
  // developers.cloudflare.com/d1/worker-api/d1-database/#batch: a batch is one transaction; a failing statement
  // rolls back the ones before it. The error is D1's own message.
  await assert.rejects(db.batch([db.prepare("INSERT INTO f (name) VALUES ('kept?')"), db.prepare("SELECT * FROM nope")]),
    /^Error: D1_ERROR: no such table: nope/);
  assert.equal((await db.prepare("SELECT count(*) AS n FROM f").first()).n, 2);
});

test("R2 keys are stored as written, odd characters included; what the shim does not do is refused", async () => {
  // developers.cloudflare.com/r2/reference/workers-api-reference/: get() of a missing key is null; keys are any
  // UTF-8 string, listed in lexicographic order.
  const bucket = localBucket(mf);
  const keys = ["odd/a b", "odd/%2F", "odd/#?x", "odd/../up", "odd/ü", "odd//double"];
  for (const key of keys) await bucket.put(key, `body of ${key}`);
  assert.deepEqual((await bucket.list({ prefix: "odd/" })).objects.map((o) => o.key), [...keys].sort());
  for (const key of keys) assert.equal(await (await bucket.get(key)).text(), `body of ${key}`);
  await bucket.delete("odd/a b");
  assert.equal(await bucket.get("odd/a b"), null);
  assert.equal(await bucket.get("up"), null, "../ in a key is part of the key, not a path");
  await assert.rejects(bucket.delete(["odd/ü", "odd/%2F"]), /one key \(a string\) at a time/);
  await assert.rejects(bucket.list({ prefix: "odd/", delimiter: "/" }), /only the key/);
});
