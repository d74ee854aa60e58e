// What the drill driver and the Worker tests share to drive Workers on the local runtime (workerd via
// miniflare) without miniflare's synchronous D1 and R2 proxies: see data-access.js for why.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { encodeParams } from "./d1-values.js";

const ACCESS_HOST = "data-access.local";

export { backupId } from "../backup/index.js"; // the id a run gets from its scheduled time

/** workers/backup/worker.json: the settings stacks/backups.py deploys, declared once. */
export const backupManifest = JSON.parse(readFileSync(new URL("../backup/worker.json", import.meta.url), "utf8"));

/** The backup Worker as stacks/backups.py deploys it (compatibility date, the bucket, the plain-text
 *  settings, the continuation queue and its consumer settings), for the tests and the drill. With
 *  `queue: "driven"` no local queue is declared: the test entry delivers the messages itself
 *  (workers/test/driven-queue.mjs). */
export function backupWorkerOptions({ scriptPath, d1Databases, bindings = {}, queue = "local", ...rest }) {
  const m = backupManifest;
  const queueName = "backup-continue";
  const local = queue === "local" ? {
    queueProducers: { [m.queue.binding]: queueName },
    queueConsumers: { [queueName]: { maxBatchSize: m.queue.consumer.batchSize,
      maxBatchTimeout: m.queue.consumer.maxWaitTimeMs / 1000, maxRetries: m.queue.consumer.maxRetries } },
  } : {};
  return {
    name: "backup", modules: true, modulesRules: [{ type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    scriptPath, compatibilityDate: m.compatibilityDate, d1Databases, r2Buckets: [m.bucketBinding], ...local,
    bindings: { VERIFY_CRON: m.verifyCron, BACKUP_MAX_AGE_HOURS: String(m.maxAgeHours),
      BACKUP_LOCKED_PREFIX: m.lockedPrefix, ...bindings }, ...rest,
  };
}

/** Miniflare options: an entry Worker (or a list, the entry first) whose crons are fired over HTTP, and the
 *  data-access Worker beside it. */
export function localRuntime(entry, shared = {}) {
  return withDataAccess({ workers: [entry].flat(), unsafeTriggerHandlers: true, cf: false, ...shared });
}

/** Miniflare options (with `workers`) and the data-access Worker added: bound to the bucket and to every D1
 *  database of the other Workers, so Node reaches them over HTTP only (localD1, localBucket, getObject). */
export function withDataAccess(options) {
  const d1Databases = {};
  const routes = {}; // "<worker>/<binding>" -> the data-access Worker's own binding of that database
  for (const worker of options.workers) {
    const declared = worker.d1Databases ?? {};
    for (const [binding, id] of Array.isArray(declared) ? declared.map((b) => [b, b]) : Object.entries(declared)) {
      const own = `D1_${Object.keys(d1Databases).length}`;
      d1Databases[own] = id;
      routes[`${worker.name}/${binding}`] = own;
    }
  }
  return { ...options, workers: [...options.workers, {
    name: "data-access", modules: true, compatibilityDate: "2026-04-01",
    scriptPath: fileURLToPath(new URL("./data-access.js", import.meta.url)),
    modulesRoot: fileURLToPath(new URL(".", import.meta.url)), // module names without "..", from any directory
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
    r2Buckets: { BACKUPS: "BACKUPS" }, d1Databases, routes: [`${ACCESS_HOST}/*`],
    bindings: { D1_BINDINGS: routes, DEFAULT_WORKER: options.workers[0].name }, // a JSON binding: an object in env
  }] };
}

/** A request to the data-access Worker. A failure is an Error: D1's own message (HTTP 500), or what failed. */
async function access(mf, path, init, what) {
  const response = await mf.dispatchFetch(`http://${ACCESS_HOST}${path}`, init);
  if (response.ok) return response;
  const text = await response.text();
  throw new Error(response.status === 500 && path === "/d1" ? text : `${what}: HTTP ${response.status} ${text}`);
}

/** What D1 binds; anything else is refused at bind(), with D1's message (a JSON body would turn undefined into
 *  NULL silently, or fail on a BigInt). */
function bindable(value) {
  if (value === null || ["number", "string", "boolean"].includes(typeof value) || value instanceof ArrayBuffer
      || ArrayBuffer.isView(value)) return value;
  throw new Error(`D1_TYPE_ERROR: Type '${typeof value}' not supported for value '${value}'`);
}

/** A D1 database of the local runtime, as `mf.getD1Database(binding, worker)` gives it (prepare, bind, run,
 *  all, first, raw, batch, exec), reached over HTTP: see data-access.js for why. `worker` is the Worker's `name`
 *  in the Miniflare options (every Worker there needs one); without it, the first Worker's binding. */
export function localD1(mf, binding, worker) {
  // Statements as the data-access Worker takes them: their SQL, their parameters with bytes encoded, and options.
  const query = async (mode, statements) => (await access(mf, "/d1", { method: "POST", body: JSON.stringify({
    worker, binding, mode,
    statements: statements.map(({ params = [], ...rest }) => ({ ...rest, params: encodeParams(params) })),
  }) }, `D1 ${binding}`)).json();
  const statement = (sql, params = []) => {
    const one = (mode, extra = {}) => query(mode, [{ sql, params, ...extra }]);
    return {
      sql, params,
      bind: (...values) => statement(sql, values.map(bindable)),
      run: () => one("run"),
      all: () => one("all"),
      raw: (options) => one("raw", { options }),
      first: (column) => one("first", { column }),
    };
  };
  return {
    prepare: (sql) => statement(sql),
    batch: (statements) => query("batch", statements.map(({ sql, params }) => ({ sql, params }))),
    exec: (sql) => query("exec", [{ sql }]),
  };
}

/** The backup bucket of the local runtime (the R2 bucket id "BACKUPS", which every Worker here binds; get, put,
 *  delete, list by prefix), reached over HTTP: see data-access.js. What it does not do (options, several keys at
 *  once) is refused, never ignored. */
export function localBucket(mf) {
  const only = (name, extra) => {
    if (extra !== undefined) throw new Error(`localBucket.${name}: only the key (and a value) are supported`);
  };
  return {
    async get(key, options) {
      only("get", options);
      const response = await getObject(mf, key);
      return response && { key, size: Number(response.headers.get("content-length")), body: response.body,
        text: () => response.text(), json: () => response.json(), arrayBuffer: () => response.arrayBuffer() };
    },
    async put(key, value, options) {
      only("put", options);
      await (await access(mf, objectPath(key), { method: "PUT", body: value }, `put ${key}`)).text();
    },
    async delete(key) {
      if (typeof key !== "string") throw new Error("localBucket.delete: one key (a string) at a time");
      await (await access(mf, objectPath(key), { method: "DELETE" }, `delete ${key}`)).text();
    },
    async list({ prefix = "", ...rest } = {}) {
      only("list", Object.keys(rest).length ? rest : undefined);
      return { objects: await listObjects(mf, prefix), truncated: false, delimitedPrefixes: [] };
    },
  };
}

const objectPath = (key) => `/object/${encodeURIComponent(key)}`;

/** The object's bytes as a Response, or null when it does not exist. */
export async function getObject(mf, key) {
  const response = await mf.dispatchFetch(`http://${ACCESS_HOST}${objectPath(key)}`);
  if (response.ok) return response;
  const text = await response.text();
  if (response.status === 404) return null;
  throw new Error(`get ${key}: HTTP ${response.status} ${text}`);
}

/** Every key (and size) under a prefix. */
export async function listObjects(mf, prefix) {
  const keys = [];
  let cursor = "";
  do {
    const page = await (await access(mf, `/list?prefix=${encodeURIComponent(prefix)}&cursor=${encodeURIComponent(cursor)}`,
      {}, `list ${prefix}`)).json();
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor);
  return keys;
}

/** Fire a cron event on the entry Worker (needs `unsafeTriggerHandlers`); resolves when its work is done. */
export async function triggerCron(mf, cron, scheduledTime) {
  const response = await mf.dispatchFetch(`http://entry.local/cdn-cgi/handler/scheduled?cron=` +
    `${encodeURIComponent(cron)}&time=${new Date(scheduledTime).getTime()}`);
  const body = await response.text();
  if (!response.ok) throw new Error(`the cron ${cron} failed: HTTP ${response.status} ${body}`);
}

/** workers/monitor/worker.json: the monitor's settings stacks/monitoring.py deploys, declared once. */
export const monitorManifest = JSON.parse(readFileSync(new URL("../monitor/worker.json", import.meta.url), "utf8"));

/** The monitor Worker as stacks/monitoring.py deploys it: the manifest's compatibility date, its database
 *  binding and its settings, merged with the stack's part (`stack`: SLOs, burn-rate alerts, maintenance
 *  windows, routes, report schedules), as the MONITOR_SETTINGS binding. */
export function monitorWorkerOptions({ scriptPath, targets, stack, settings = {}, bindings = {}, ...rest }) {
  const m = monitorManifest;
  const merged = { ...m.settings, databaseBinding: m.databaseBinding, backupMaxAgeHours: backupManifest.maxAgeHours,
    ...stack, ...settings,
    delivery: { ...m.settings.delivery, ...settings.delivery } };
  return {
    name: "monitor", modules: true, modulesRules: [{ type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    scriptPath, compatibilityDate: m.compatibilityDate, d1Databases: { [m.databaseBinding]: "monitor" },
    bindings: { MONITOR_SETTINGS: JSON.stringify(merged), MONITOR_TARGETS: JSON.stringify(targets), ...bindings },
    ...rest,
  };
}
