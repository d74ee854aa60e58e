// Test harness only (never deployed): the backup Worker with its D1 and R2 bindings wrapped so a test
// can make the Nth operation of the Nth invocation fail, or write to the database between page reads.
// The plan lives in the bucket as __chaos.json: {failInvocation, failAt, target: "d1"|"r2"|"any", mutate,
// duplicateDeliveries: true|"concurrent"|"late" (after lateMs), crashInvocation, crashAt, crashAfterCreate,
// crashAfterComplete, stallAt, stallMs}.
import backup from "../backup/index.js";

class InjectedFault extends Error {}

class Crash extends Error {}
const crashedOnce = new Set(); // crashAfterCreate/crashAfterComplete kill one invocation per isolate, not every retry
const stalledOnce = { done: false }; // likewise stallAt stalls one queue invocation

function makeChaos(plan, invocation, log) {
  const ops = { d1: 0, r2: 0, any: 0 };
  let crash;
  const crashed = new Promise((_, reject) => { crash = reject; });
  crashed.catch(() => {});
  return {
    crashed,
    // failAt counts the operations of the plan's target kind ("any": all of them).
    tick(target) {
      ops[target] += 1;
      ops.any += 1;
      if (this.sinceCreate !== undefined) this.sinceCreate += 1;
      if (this.sinceComplete !== undefined) this.sinceComplete += 1;
      const fires = (trigger, since) => {
        if (plan[trigger] === undefined || since !== plan[trigger] || crashedOnce.has(trigger)) return false;
        crashedOnce.add(trigger);
        return true;
      };
      if ((plan.crashInvocation === invocation && ops.any === plan.crashAt) ||
          fires("crashAfterCreate", this.sinceCreate) || fires("crashAfterComplete", this.sinceComplete)) {
        // The invocation dies here (as at the CPU limit): no catch block runs, nothing is acknowledged.
        crash(new Crash(`invocation ${invocation} died at operation ${plan.crashAt}`));
        return new Promise(() => {});
      }
      if (plan.stallAt === ops.any && invocation > 1 && !stalledOnce.done) {
        // Alive but slow (a stalled connection): the lease runs out while this invocation still runs.
        stalledOnce.done = true;
        return new Promise((resolve) => setTimeout(resolve, plan.stallMs));
      }
      if (plan.failInvocation === invocation && ops[plan.target] === plan.failAt &&
          (plan.target === "any" || plan.target === target)) {
        throw new InjectedFault(`injected ${target} failure at ${plan.target} operation ${plan.failAt} of ` +
          `invocation ${invocation}`);
      }
    },
    log,
  };
}

function wrapStatement(statement, chaos, onPage) {
  return {
    bind: (...args) => wrapStatement(statement.bind(...args), chaos, onPage),
    async all() {
      await chaos.tick("d1");
      const result = await statement.all();
      await onPage(result);
      return result;
    },
    async first(...a) { await chaos.tick("d1"); return statement.first(...a); },
    async run() { await chaos.tick("d1"); return statement.run(); },
    raw: statement,
  };
}

function wrapDb(db, chaos, onPage) {
  return {
    prepare: (sql) => wrapStatement(db.prepare(sql), chaos, sql.includes("group_concat") ? onPage : async () => {}),
    async batch(statements) { await chaos.tick("d1"); return db.batch(statements.map((s) => s.raw ?? s)); },
    exec: (sql) => db.exec(sql),
  };
}

function wrapUpload(upload, chaos) {
  return {
    uploadId: upload.uploadId,
    key: upload.key,
    async uploadPart(n, body) { await chaos.tick("r2"); return upload.uploadPart(n, body); },
    async complete(parts) {
      await chaos.tick("r2");
      const completed = await upload.complete(parts);
      chaos.sinceComplete = 0; // for {crashAfterComplete: n}: die at the n-th operation after this one
      return completed;
    },
    async abort() { return upload.abort(); }, // cleanup must work even while R2 "fails"
  };
}

function wrapBucket(bucket, chaos) {
  const op = (name) => async (...args) => { await chaos.tick("r2"); return bucket[name](...args); };
  return {
    put: op("put"), get: op("get"), head: op("head"), list: op("list"), delete: op("delete"),
    async createMultipartUpload(key) {
      await chaos.tick("r2");
      chaos.sinceCreate = 0; // for {crashAfterCreate: n}: die at the n-th operation after this one
      return wrapUpload(await bucket.createMultipartUpload(key), chaos);
    },
    resumeMultipartUpload: (key, id) => wrapUpload(bucket.resumeMultipartUpload(key, id), chaos),
  };
}

async function readPlan(env) {
  const planObject = await env.BACKUPS.get("__chaos.json");
  return planObject ? JSON.parse(await planObject.text()) : null;
}

/** The env the backup Worker sees in this invocation, and a promise that rejects if the plan kills it. */
async function chaosEnv(env) {
  const plan = await readPlan(env);
  if (!plan) return { env, crashed: new Promise(() => {}) };
  const counter = await env.BACKUPS.get("__chaos_invocations");
  const invocation = Number(counter ? await counter.text() : 0) + 1;
  await env.BACKUPS.put("__chaos_invocations", String(invocation));
  const chaos = makeChaos(plan, invocation, []);
  const mutations = [];
  // Concurrent writes between page reads: update a row behind the cursor, update and delete rows ahead
  // of it, insert a new row. What was done is logged for the test to check the guarantee against.
  const onPage = plan.mutate ? async (result) => {
    const { last, n } = result.results[0];
    if (!n || !env.DB_CORE) return;
    const db = env.DB_CORE;
    const statements = [
      ["update", last - 1, db.prepare("UPDATE items SET value = value || '+' WHERE id = ?").bind(last - 1)],
      ["update", last + 5, db.prepare("UPDATE items SET value = value || '+' WHERE id = ?").bind(last + 5)],
      ["delete", last + 7, db.prepare("DELETE FROM items WHERE id = ?").bind(last + 7)],
      ["insert", null, db.prepare("INSERT INTO items (value) VALUES ('inserted during backup')")],
    ];
    await db.batch(statements.map(([, , s]) => s));
    mutations.push(...statements.map(([kind, id]) => ({ kind, id })));
    const previous = await env.BACKUPS.get("__chaos_log.json");
    const logged = previous ? JSON.parse(await previous.text()) : [];
    await env.BACKUPS.put("__chaos_log.json", JSON.stringify([...logged, ...statements.map(([kind, id]) => ({ kind, id }))]));
  } : async () => {};
  const wrapped = { ...env, BACKUPS: wrapBucket(env.BACKUPS, chaos) };
  for (const name of Object.keys(env)) {
    if (name.startsWith("DB_")) wrapped[name] = wrapDb(env[name], chaos, name === "DB_CORE" ? onPage : async () => {});
  }
  return { env: wrapped, crashed: chaos.crashed };
}

export default {
  async scheduled(event, env, ctx) {
    return backup.scheduled(event, (await chaosEnv(env)).env, ctx);
  },
  // A crashed invocation throws out of the handler without acknowledging, so the queue retries it.
  // Queues deliver at least once: {duplicateDeliveries: true} delivers every message again afterwards,
  // "concurrent" delivers two copies at the same moment, "late" a second copy lateMs after the first.
  async queue(batch, env) {
    const plan = await readPlan(env);
    const deliver = async (delivered) => {
      const chaos = await chaosEnv(env);
      await Promise.race([backup.queue(delivered, chaos.env), chaos.crashed]);
    };
    const copy = () => ({ queue: batch.queue,
      messages: batch.messages.map((m) => ({ id: m.id, body: m.body, attempts: 2, ack() {}, retry() {} })) });
    if (plan?.duplicateDeliveries === "concurrent") {
      await Promise.all([deliver(batch), deliver(copy())]);
    } else if (plan?.duplicateDeliveries === "late") {
      const later = new Promise((resolve) => setTimeout(resolve, plan.lateMs)).then(() => deliver(copy()));
      await Promise.all([deliver(batch), later]);
    } else {
      await deliver(batch);
      if (plan?.duplicateDeliveries) await deliver(copy());
    }
  },
};
