// What the drill driver and the Worker tests share to drive Workers on the local runtime (workerd via
// miniflare) without miniflare's synchronous R2 proxy: see bucket-reader.js for why.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const READER_HOST = "bucket-reader.local";

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

/** Miniflare options: an entry Worker whose crons are fired over HTTP, and the bucket reader beside it. */
export function localRuntime(entry, shared = {}) {
  return { workers: [entry, bucketReaderWorker()], unsafeTriggerHandlers: true, cf: false, ...shared };
}

/** A second Worker, bound to the same bucket, that serves it read-only over HTTP. */
export function bucketReaderWorker(bucket = "BACKUPS") {
  return {
    name: "bucket-reader", modules: true, compatibilityDate: "2026-04-01",
    scriptPath: fileURLToPath(new URL("./bucket-reader.js", import.meta.url)),
    r2Buckets: { BACKUPS: bucket }, routes: [`${READER_HOST}/*`],
  };
}

/** The object's bytes as a Response, or null when it does not exist. */
export async function getObject(mf, key) {
  const response = await mf.dispatchFetch(`http://${READER_HOST}/object/${encodeURIComponent(key)}`);
  if (response.status === 404) {
    await response.arrayBuffer();
    return null;
  }
  if (!response.ok) throw new Error(`bucket reader: ${key}: HTTP ${response.status} ${await response.text()}`);
  return response;
}

/** Every key (and size) under a prefix. */
export async function listObjects(mf, prefix) {
  const keys = [];
  let cursor = "";
  do {
    const response = await mf.dispatchFetch(`http://${READER_HOST}/list?prefix=${encodeURIComponent(prefix)}` +
      `&cursor=${encodeURIComponent(cursor)}`);
    if (!response.ok) throw new Error(`bucket reader: list ${prefix}: HTTP ${response.status}`);
    const page = await response.json();
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
