// Drill and benchmark driver: the backup Worker on workerd against a D1 database whose data was
// loaded straight into its local SQLite file (fast, for 100 MB to 1 GB databases).
//   node drill/run-backup.mjs init <persist dir>            -> prints the D1 SQLite file to fill
//   node drill/run-backup.mjs backup <persist dir> <out dir> -> runs one backup, mirrors the bucket to <out dir>
import { createWriteStream } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";

const [command, persist, out] = process.argv.slice(2);
const SCHEDULED = Date.UTC(2026, 10, 27, 2, 15, 0);
const RANGE = 32 * 1024 * 1024;

function worker(extra = {}) {
  return new Miniflare({
    modules: true,
    scriptPath: fileURLToPath(new URL("../backup/index.js", import.meta.url)),
    compatibilityDate: "2026-04-01",
    d1Databases: { DB_CORE: "drill-core" },
    d1Persist: persist,
    r2Buckets: ["BACKUPS"],
    queueProducers: { BACKUP_QUEUE: "backup-continue" },
    queueConsumers: { "backup-continue": { maxBatchSize: 1, maxBatchTimeout: 0.05 } },
    bindings: { BACKUP_PAGE_ROWS: process.env.BACKUP_PAGE_ROWS ?? "500",
      BACKUP_QUERY_BUDGET: process.env.BACKUP_QUERY_BUDGET ?? "800",
      BACKUP_INVOCATION_SECONDS: process.env.BACKUP_INVOCATION_SECONDS ?? "5" },
    cf: false,
    log: process.env.DRILL_DEBUG ? new Log(LogLevel.VERBOSE) : undefined,
    ...extra,
  });
}

async function findSqlite(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath ?? entry.path, entry.name);
    if (entry.isFile() && entry.name.endsWith(".sqlite") && !path.includes("metadata")) return path;
  }
  throw new Error(`no D1 SQLite file under ${dir}`);
}

if (command === "init") {
  const mf = worker();
  await (await mf.getD1Database("DB_CORE")).prepare("CREATE TABLE IF NOT EXISTS _drill_init (x)").run();
  await (await mf.getD1Database("DB_CORE")).prepare("DROP TABLE _drill_init").run();
  await mf.dispose();
  console.log(JSON.stringify({ sqlite: await findSqlite(persist) }));
} else if (command === "backup") {
  const mf = worker();
  const started = performance.now();
  await (await mf.getWorker()).scheduled({ cron: "15 2 * * *", scheduledTime: new Date(SCHEDULED) });
  const bucket = await mf.getR2Bucket("BACKUPS");
  const id = new Date(SCHEDULED).toISOString().replace(/[:.]/g, "-");
  let state;
  let progress = "";
  let lastChange = performance.now();
  let proxyErrors = 0;
  for (;;) {
    let object;
    try {
      object = await bucket.get(`runs/${id}.json`);
      proxyErrors = 0;
    } catch (err) {
      // The poller talks to workerd through miniflare's proxy; tolerate a dropped connection or two.
      if (++proxyErrors > 5) throw err;
      console.error(`poll failed (${err.message}); retrying`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    state = object ? JSON.parse(await object.text()) : null;
    if (state && state.status !== "running") break;
    if (process.env.DRILL_DEBUG) console.error("progress", JSON.stringify(state?.databases?.map((d) => d.tables.map((t) => [t.name, t.cursor, t.parts.length]))), state?.invocations);
    const now = JSON.stringify(state?.databases?.map((d) => d.tables.map((t) => t.cursor)));
    if (now !== progress) {
      progress = now;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > 300_000) {
      console.error(`Error: the backup made no progress for 5 minutes: ${JSON.stringify(state)?.slice(0, 2000)}`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  let cursor;
  do {
    const page = await bucket.list({ prefix: "backups/", cursor });
    for (const object of page.objects) {
      const path = join(out, object.key);
      await mkdir(dirname(path), { recursive: true });
      // Ranged reads: objects can exceed what one proxied response carries (and 2 GB).
      const sink = createWriteStream(path);
      for (let offset = 0; offset < object.size; offset += RANGE) {
        const part = await bucket.get(object.key, { range: { offset, length: Math.min(RANGE, object.size - offset) } });
        const bytes = Buffer.from(await part.arrayBuffer());
        await new Promise((resolve, reject) => sink.write(bytes, (e) => (e ? reject(e) : resolve())));
      }
      await new Promise((resolve) => sink.end(resolve));
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  await mf.dispose();
  console.log(JSON.stringify({ status: state.status, error: state.error, invocations: state.invocations, seconds, backupId: id }));
} else {
  console.error("usage: run-backup.mjs init|backup <persist dir> [<out dir>]");
  process.exit(2);
}
