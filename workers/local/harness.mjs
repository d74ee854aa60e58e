// What the drill driver and the Worker tests share to drive Workers on the local runtime (workerd via
// miniflare) without miniflare's synchronous R2 proxy: see bucket-reader.js for why.
import { fileURLToPath } from "node:url";

const READER_HOST = "bucket-reader.local";

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
