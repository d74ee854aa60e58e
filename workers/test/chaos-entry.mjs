// Test harness only (never deployed): the entry of every backup Worker test. The test drives it over HTTP
// (POST /__drive) on a clock the test controls: it fires the cron, and delivers each queue message itself
// (workers/test/driven-queue.mjs), so deliveries, retries and leases never depend on the runtime's timers.
// Date.now() is the test's clock during a drive (the Worker's leases and deadlines read it); messages the
// Worker sends are returned to the test instead of going to a local queue.
//
// It also wraps the Worker's D1 and R2 bindings so a test can make the Nth operation of the Nth invocation
// fail, kill or stall an invocation, or write to the database between page reads. The plan lives in the
// bucket as __chaos.json: {failInvocation, failAt, target: "d1"|"r2"|"any", mutate, crashInvocation,
// crashAt, crashFrom (every invocation from that number dies at once), crashAfterCreate, crashAfterComplete,
// stallAt, copyAfterMs (with stallAt: the copy comes this long after the stalled delivery, not after its lease),
// copyOf: "earlier" (with stallAt: the copy is a late one of the continuation before the stalled one),
// msPerOperation (the test's clock advances this much at every operation), crashAfterManifest (a continuation
// dies at its first operation after writing a manifest)}. mutate: true | "replace" | "balanced" (see onPage).
import backup from "../backup/index.js";

class InjectedFault extends Error {}

class Crash extends Error {}
const crashedOnce = new Set(); // crashAfterCreate/crashAfterComplete kill one invocation per isolate, not every retry
// stallAt stalls one queue invocation per plan and isolate: armed by the drive that delivers it (see deliver()).
let stall = null;

function deferred() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

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
      if (plan.msPerOperation) clock += plan.msPerOperation; // slow storage: the invocation's wall time runs out
      if (this.sinceCreate !== undefined) this.sinceCreate += 1;
      if (this.sinceComplete !== undefined) this.sinceComplete += 1;
      if (this.sinceManifest !== undefined) this.sinceManifest += 1;
      const fires = (trigger, since) => {
        if (plan[trigger] === undefined || since !== plan[trigger] || crashedOnce.has(trigger)) return false;
        crashedOnce.add(trigger);
        return true;
      };
      if ((plan.crashInvocation === invocation && ops.any === plan.crashAt) ||
          (plan.crashFrom !== undefined && invocation >= plan.crashFrom && ops.any === 1) ||
          fires("crashAfterCreate", this.sinceCreate) || fires("crashAfterComplete", this.sinceComplete) ||
          (invocation > 1 && fires("crashAfterManifest", this.sinceManifest))) {
        // The invocation dies here (as at the CPU limit): no catch block runs, nothing is acknowledged.
        crash(new Crash(`invocation ${invocation} died at operation ${plan.crashAt}`));
        return new Promise(() => {});
      }
      if (stall && !stall.fired && plan.stallAt === ops.any && invocation > 1) {
        // Alive but slow (a stalled connection): it waits until the drive has let its lease run out.
        stall.fired = true;
        stall.reached.resolve();
        return stall.release.promise;
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
    async put(key, ...rest) {
      await chaos.tick("r2");
      const written = await bucket.put(key, ...rest);
      if (key.endsWith("/manifest.json")) chaos.sinceManifest = 0; // for {crashAfterManifest: n}
      return written;
    },
    get: op("get"), head: op("head"), list: op("list"), delete: op("delete"),
    async createMultipartUpload(key) {
      await chaos.tick("r2");
      chaos.sinceCreate = 0; // for {crashAfterCreate: n}: die at the n-th operation after this one
      return wrapUpload(await bucket.createMultipartUpload(key), chaos);
    },
    resumeMultipartUpload: (key, id) => wrapUpload(bucket.resumeMultipartUpload(key, id), chaos),
  };
}

// R2 bucket locks, as Cloudflare documents them (r2/buckets/bucket-locks.mdx; ../shared/reference/
// cloudflare-defaults-and-limits.md "R2 bucket lock semantics"): a rule covers the keys that start with its
// prefix (no prefix: every key); Age locks an object for maxAgeSeconds after it was written, Date until a
// date, Indefinite for ever; the strictest rule wins. Overwrites, deletes and multipart completions of a
// locked key are refused; creating a new key never is. The rules are the plan's (helpers.mjs reads them from
// the approved snapshot of the prod stack) and apply to every backup test. The write time is the test's clock.
export class LockRefused extends Error {}

function lockedUntil(rules, key, written) {
  let until = 0;
  for (const rule of rules) {
    if (rule.enabled === false || !key.startsWith(rule.prefix ?? "")) continue;
    const { type, maxAgeSeconds, date } = rule.condition ?? {};
    if (type === "Age") until = Math.max(until, written + maxAgeSeconds * 1000);
    else if (type === "Date") until = Math.max(until, Date.parse(date));
    else until = Infinity; // Indefinite, or a condition this emulation does not know: locked (fail closed)
  }
  return until;
}

function lockBucket(bucket, rules) {
  const stamp = (options) => ({ ...options, customMetadata: { ...options?.customMetadata, lockWrittenAt: String(Date.now()) } });
  async function refuseIfLocked(key, operation) {
    const existing = await bucket.head(key);
    if (!existing) return;
    const until = lockedUntil(rules, key, Number(existing.customMetadata?.lockWrittenAt ?? 0));
    if (until > Date.now()) {
      throw new LockRefused(`R2 bucket lock: ${operation} of ${key} refused, the object is locked until ` +
        `${until === Infinity ? "forever" : new Date(until).toISOString()}`);
    }
  }
  return {
    async put(key, value, options) {
      await refuseIfLocked(key, "overwrite");
      return bucket.put(key, value, stamp(options));
    },
    get: (...args) => bucket.get(...args),
    head: (...args) => bucket.head(...args),
    list: (...args) => bucket.list(...args),
    async delete(keys) {
      for (const key of [keys].flat()) await refuseIfLocked(key, "delete");
      return bucket.delete(keys);
    },
    async createMultipartUpload(key, options) {
      const upload = await bucket.createMultipartUpload(key, stamp(options));
      return lockUpload(upload, refuseIfLocked);
    },
    resumeMultipartUpload: (key, id) => lockUpload(bucket.resumeMultipartUpload(key, id), refuseIfLocked),
  };
}

function lockUpload(upload, refuseIfLocked) {
  return {
    uploadId: upload.uploadId,
    key: upload.key,
    uploadPart: (n, body) => upload.uploadPart(n, body),
    async complete(parts) {
      await refuseIfLocked(upload.key, "multipart completion");
      return upload.complete(parts);
    },
    abort: () => upload.abort(),
  };
}

const lockRules = (env) => JSON.parse(env.__LOCK_RULES ?? "[]");

async function readPlan(env) {
  const planObject = await env.BACKUPS.get("__chaos.json");
  return planObject ? JSON.parse(await planObject.text()) : null;
}

/** The env the backup Worker sees in this invocation, and a promise that rejects if the plan kills it. */
async function chaosEnv(env) {
  const plan = await readPlan(env);
  const locked = lockBucket(env.BACKUPS, lockRules(env));
  if (!plan) return { env: { ...env, BACKUPS: locked }, crashed: new Promise(() => {}) };
  const counter = await env.BACKUPS.get("__chaos_invocations");
  const invocation = Number(counter ? await counter.text() : 0) + 1;
  await env.BACKUPS.put("__chaos_invocations", String(invocation));
  const chaos = makeChaos(plan, invocation, []);
  const mutations = [];
  // Concurrent writes between page reads: update a row behind the cursor, update and delete rows ahead
  // of it, insert a new row. What was done is logged for the test to check the guarantee against.
  // "replace": INSERT OR REPLACE rewrites a row behind the cursor and one ahead of it (each gets a new
  // rowid, above any rowid bound) in the text-keyed table `accounts` (codes k0000..k0399).
  const onReplace = async (result) => {
    const { n } = result.results[0];
    if (!n) return;
    // Text keys travel as CAST(X'<hex>' AS TEXT): the code is in the hex.
    const hex = /X'([0-9A-F]+)'/.exec(JSON.parse(result.results[0].last)[0] ?? "")?.[1];
    const code = hex ? hex.match(/../g).map((h) => String.fromCharCode(parseInt(h, 16))).join("") : ""; // ASCII codes
    if (!n || !env.DB_CORE || !code.startsWith("k")) return;
    const at = Number(code.slice(1));
    const codeOf = (i) => `k${String(i).padStart(4, "0")}`;
    const db = env.DB_CORE;
    const targets = [at - 3, at + 4].filter((i) => i >= 0 && i < 400).map(codeOf);
    await db.batch(targets.map((c) => db.prepare("INSERT OR REPLACE INTO accounts (code, v) VALUES (?, ?)").bind(c, `replaced ${c}`)));
    const previous = await env.BACKUPS.get("__chaos_log.json");
    const logged = previous ? JSON.parse(await previous.text()) : [];
    await env.BACKUPS.put("__chaos_log.json", JSON.stringify([...logged, ...targets.map((c) => ({ kind: "replace", id: c }))]));
  };
  // "balanced": after each page, delete the row two ahead of the cursor and insert row 1, behind it, once (items
  // starting at id 2, read in two pages): the count at the bound ends as it started, one row short in the export.
  const onPage = plan.mutate === "replace" ? onReplace : plan.mutate ? async (result) => {
    const { n } = result.results[0];
    if (!n || !env.DB_CORE) return;
    const [last] = JSON.parse(result.results[0].last).map(Number);
    const db = env.DB_CORE;
    const statements = plan.mutate === "balanced" ? [
      ["delete", last + 2, db.prepare("DELETE FROM items WHERE id = ?").bind(last + 2)],
      ["insert", 1, db.prepare("INSERT OR IGNORE INTO items (id, value) VALUES (1, 'inserted behind the cursor')")],
    ] : [
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
  const wrapped = { ...env, BACKUPS: wrapBucket(locked, chaos) };
  for (const name of Object.keys(env)) {
    if (name.startsWith("DB_")) wrapped[name] = wrapDb(env[name], chaos, name === "DB_CORE" ? onPage : async () => {});
  }
  return { env: wrapped, crashed: chaos.crashed };
}

const realNow = Date.now.bind(Date);
let clock = null; // the test's time during a drive
Date.now = () => clock ?? realNow();

/** The Worker's env for one drive: the queue producer records what is sent instead of sending it. */
function drivenEnv(env, sent) {
  const record = (body, options) => { sent.push({ body, delaySeconds: options?.delaySeconds ?? 0 }); };
  return { ...env, BACKUP_QUEUE: {
    async send(body, options) { record(body, options); },
    async sendBatch(messages, options) {
      for (const m of messages) record(m.body, { delaySeconds: m.delaySeconds ?? options?.delaySeconds });
    },
  } };
}

/** A cron event, awaited with its waitUntil work. */
async function fireCron({ cron, time }, env) {
  const sent = [];
  clock = time;
  const chaos = await chaosEnv(drivenEnv(env, sent));
  const waits = [];
  await backup.scheduled({ cron, scheduledTime: time }, chaos.env,
    { waitUntil: (promise) => waits.push(promise), passThroughOnException() {} });
  const outcome = await Promise.race([Promise.all(waits).then(() => "ok"), chaos.crashed]).catch(() => "crashed");
  return { outcome, sent };
}

/** One delivery of a message to the queue handler: acknowledged, retried (with its delay), or failed. A
 *  handler that returns acknowledges what it did not decide; one that throws or dies retries it. */
async function deliverOnce(message, env, sent) {
  const decision = {};
  const decide = (d) => { if (!("ack" in decision)) Object.assign(decision, d); }; // the first call wins
  const delivered = { id: message.id, body: message.body, attempts: message.attempts + 1,
    timestamp: new Date(clock), ack: () => decide({ ack: true }),
    retry: (options) => decide({ ack: false, delaySeconds: options?.delaySeconds }) };
  const batch = { queue: "backup-continue", messages: [delivered],
    ackAll: () => decide({ ack: true }), retryAll: (options) => delivered.retry(options) };
  const chaos = await chaosEnv(drivenEnv(env, sent));
  try {
    await Promise.race([backup.queue(batch, chaos.env), chaos.crashed]);
    decide({ ack: true });
    return { outcome: "ok", ...decision };
  } catch (err) {
    decide({ ack: false });
    return { outcome: err instanceof Crash ? "crashed" : "error", error: String(err), ...decision };
  }
}

/** Deliver a message once, twice at the same moment (`copies: 2`), or, when the plan stalls this
 *  invocation, deliver a second copy after the stalled one's lease has run out (or `copyAfterMs` after the
 *  stalled delivery), then let it go on. */
async function deliver({ now, message, copies = 1 }, env) {
  const sent = [];
  clock = now;
  const plan = await readPlan(env);
  if (copies === 2) {
    return { outcomes: await Promise.all([deliverOnce(message, env, sent), deliverOnce(message, env, sent)]), sent };
  }
  const planText = JSON.stringify(plan);
  if (plan?.stallAt && stall?.plan !== planText) stall = { reached: deferred(), release: deferred(), fired: false, plan: planText };
  const first = deliverOnce(message, env, sent);
  const stalled = stall && !stall.done &&
    await Promise.race([first.then(() => false), stall.reached.promise.then(() => true)]);
  if (!stalled) return { outcomes: [await first], sent };
  stall.done = true;
  const run = JSON.parse(await (await env.BACKUPS.get(`runs/${message.body.runId}.json`)).text());
  clock = plan.copyAfterMs === undefined ? run.lease.until + 1000 : now + plan.copyAfterMs;
  const late = plan.copyOf === "earlier" ? { ...message, body: { ...message.body, after: message.body.after - 1 } } : message;
  const copy = await deliverOnce(late, env, sent);
  stall.release.resolve();
  return { outcomes: [await first, copy], sent };
}

/** Mutation testing: the mutant Stryker's command runner made active (helpers.mjs passes it as a binding)
 *  goes where the instrumented Worker's mutant switch reads it, before the Worker runs. No binding, no change. */
function activateMutant(env) {
  if (env.__STRYKER_ACTIVE_MUTANT__ === undefined) return;
  globalThis.__stryker__ ??= {};
  globalThis.__stryker__.activeMutant = env.__STRYKER_ACTIVE_MUTANT__;
}

export default {
  async fetch(request, env) {
    activateMutant(env);
    const url = new URL(request.url);
    if (request.method !== "POST" || url.pathname !== "/__drive") return new Response("unknown path", { status: 400 });
    const body = await request.json();
    try {
      return Response.json(body.kind === "scheduled" ? await fireCron(body, env) : await deliver(body, env));
    } finally {
      clock = null;
    }
  },
};
