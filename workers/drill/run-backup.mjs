// Drill and benchmark driver: the backup Worker on workerd against a D1 database whose data was
// loaded straight into its local SQLite file (fast, for 100 MB to 1 GB databases).
//   node drill/run-backup.mjs init <persist dir>            -> prints the D1 SQLite file to fill
//   node drill/run-backup.mjs backup <persist dir> <out dir> -> runs one backup, mirrors the bucket to <out dir>
//   node drill/run-backup.mjs floors <persist dir>           -> times reading every page, and writing as many bytes
import { execFileSync } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { mkdir, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Log, LogLevel, Miniflare } from "miniflare";
import { backupId, backupManifest, backupWorkerOptions, getObject, listObjects, localD1, localRuntime, triggerCron } from "../local/harness.mjs";

const [command, persist, out] = process.argv.slice(2);
const SCHEDULED = Date.UTC(2026, 10, 27, 2, 15, 0);

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

// The Worker's own defaults, unless a BACKUP_* variable of the environment overrides one.
const overrides = () => Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("BACKUP_")));

// The backup Worker is the entry (its cron is fired over HTTP); the data-access Worker serves what it wrote.
function worker() {
  return new Miniflare(localRuntime(
    backupWorkerOptions({ scriptPath: here("../backup/index.js"), d1Databases: { DB_CORE: "drill-core" },
      bindings: overrides() }),
    { d1Persist: persist, log: process.env.DRILL_DEBUG ? new Log(LogLevel.VERBOSE) : undefined }));
}

/** Resident memory of the workerd processes this driver started (Linux /proc), in bytes. */
function workerdRss() {
  let pids = [];
  try {
    pids = execFileSync("pgrep", ["-P", String(process.pid), "workerd"], { encoding: "utf8" }).trim().split("\n");
  } catch {
    return null; // no pgrep, or not Linux: not measured
  }
  let total = 0;
  for (const pid of pids.filter(Boolean)) {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  }
  return total;
}

/** The afternoon verification of the backup just made: its time, and workerd's resident memory before it
 *  and at its peak (sampled every 20 ms), to compare with the 128 MB a Worker has. */
async function measureVerification(mf) {
  const before = workerdRss();
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak ?? 0, workerdRss() ?? 0); }, 20);
  const started = performance.now();
  await triggerCron(mf, backupManifest.verifyCron, SCHEDULED + 12 * 3600e3);
  clearInterval(sampler);
  return { seconds: (performance.now() - started) / 1000, rssBefore: before, rssPeak: peak };
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
  await (localD1(mf, "DB_CORE")).prepare("CREATE TABLE IF NOT EXISTS _drill_init (x)").run();
  await (localD1(mf, "DB_CORE")).prepare("DROP TABLE _drill_init").run();
  await mf.dispose();
  console.log(JSON.stringify({ sqlite: await findSqlite(persist) }));
} else if (command === "backup") {
  const mf = worker();
  const started = performance.now();
  await triggerCron(mf, "15 2 * * *", SCHEDULED);
  const id = backupId(SCHEDULED);
  let state;
  let progress = "";
  let lastChange = performance.now();
  for (;;) {
    const object = await getObject(mf, `runs/${id}.json`);
    state = object ? await object.json() : null;
    if (state && state.status !== "running") break;
    const now = JSON.stringify(state?.databases?.map((d) => d.tables.map((t) => t.cursor)));
    if (now !== progress) {
      if (process.env.DRILL_DEBUG) console.error("progress", now, state?.invocations);
      progress = now;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > 300_000) {
      console.error(`Error: the backup made no progress for 5 minutes: ${JSON.stringify(state)?.slice(0, 2000)}`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const seconds = (performance.now() - started) / 1000;
  const verification = await measureVerification(mf);
  for (const { key } of await listObjects(mf, "backups/")) {
    const path = join(out, key);
    await mkdir(dirname(path), { recursive: true });
    await pipeline(Readable.fromWeb((await getObject(mf, key)).body), createWriteStream(path));
  }
  await mf.dispose();
  const failures = state.databases.flatMap((d) => d.failures ?? (d.error ? [{ error: d.error }] : []));
  console.log(JSON.stringify({ status: state.status, error: state.error, failures, invocations: state.invocations,
    seconds, backupId: id, verification }));
} else if (command === "floors") {
  // The backup's two halves apart, on the same database: reading every page, and writing as many bytes.
  const mf = new Miniflare({
    modules: true, modulesRules: [{ type: "ESModule", include: ["**/*.js"] }], scriptPath: here("floors.js"),
    compatibilityDate: "2026-04-01", d1Databases: { DB_CORE: "drill-core" }, d1Persist: persist,
    r2Buckets: ["BACKUPS"], bindings: overrides(), cf: false,
  });
  const timed = async (path) => {
    const started = performance.now();
    const response = await mf.dispatchFetch(`http://floors.local${path}`);
    if (!response.ok) throw new Error(`floors ${path}: HTTP ${response.status} ${await response.text()}`);
    return { ...(await response.json()), seconds: (performance.now() - started) / 1000 };
  };
  const read = await timed("/read");
  const write = await timed(`/write?bytes=${read.bytes}`);
  // Compressed objects, tried: the same pages through the runtime's CompressionStream, and the smaller write.
  const gzipRead = await timed("/read?gzip=1");
  const gzipWrite = await timed(`/write?bytes=${gzipRead.compressed}`);
  await mf.dispose();
  console.log(JSON.stringify({ read, write, gzipRead, gzipWrite }));
} else {
  console.error("usage: run-backup.mjs init|backup|floors <persist dir> [<out dir>]");
  process.exit(2);
}
