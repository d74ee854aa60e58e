// Parsify backup Worker: exports every bound D1 database (bindings named DB_<NAME>) to the R2 bucket
// bound as BACKUPS, and in the afternoon verifies the newest backup of each database.
//
// Layout of one backup:  backups/<database>/<backup id>/schema.sql
//                        backups/<database>/<backup id>/tables/<table>.sql   (multipart, fixed-size parts)
//                        backups/<database>/<backup id>/manifest.json        <- written last
// A backup without manifest.json is incomplete and must never be restored. Every object is recorded in
// the manifest with its size, its chunk size and a SHA-256 per chunk (one chunk per multipart part).
//
// Scale: tables are read in pages (keyset pagination on rowid), at most BACKUP_QUERY_BUDGET D1 queries
// and R2 calls per invocation (D1 allows 1,000 queries per invocation). When the budget runs out the run
// saves its cursor in runs/<id>.json and continues in a new invocation through the BACKUP_QUEUE queue;
// an invocation also yields after BACKUP_INVOCATION_SECONDS (5 s) of wall time.
//
// At least once: a continuation message names the invocation it follows, and an invocation claims its
// number with a conditional write and a lease. Duplicates are ignored; an invocation that dies (CPU limit,
// eviction) is retried from its checkpoint, the state as of its start, once its lease has run out.
//
// Consistency (stated, and tested in workers/test/backup-consistency.test.mjs): at the start of a run the
// highest rowid of every table is fixed in one D1 batch (one transaction). The export of a table contains
// exactly the rows whose rowid is at or below that bound and that still exist when their page is read,
// each as it was at that moment. Rows inserted during the run are not exported; a row deleted during the
// run may or may not be; no row is exported twice. It is not a point-in-time snapshot across pages: for
// that, D1 Time Travel (any minute of the last 30 days) is the first resort.
//
// Failure: any failed read or write marks the run failed, aborts its multipart uploads, writes no
// manifest for the unfinished database and alerts ALERT_WEBHOOK_URL. The next scheduled run first
// removes what a failed or abandoned run left behind.

const encoder = new TextEncoder();
const FORMAT = "parsify-d1-backup/2";
const MIB = 1024 * 1024;

export function settings(env) {
  return {
    pageRows: Number(env.BACKUP_PAGE_ROWS ?? 10_000),
    // D1 strings are at most 2,000,000 bytes (SQLITE_TOOBIG beyond): pages aim at 80% of this.
    pageBytes: Number(env.BACKUP_PAGE_BYTES ?? 1_800_000),
    budget: Number(env.BACKUP_QUERY_BUDGET ?? 800),
    // Wall-clock budget per invocation: keeps each one far from the CPU limit (30 s by default) however
    // large the pages are, and bounds what a crashed invocation has to redo.
    seconds: Number(env.BACKUP_INVOCATION_SECONDS ?? 5),
    partBytes: Number(env.BACKUP_PART_BYTES ?? 10 * MIB),
    // An invocation that has not reached its next checkpoint this long after claiming it is taken to have
    // died (CPU limit, eviction): a retry of its message then takes over from the last checkpoint.
    leaseSeconds: Number(env.BACKUP_LEASE_SECONDS ?? 120),
    verifyCron: env.VERIFY_CRON ?? "0 14 * * *",
    maxAgeHours: Number(env.BACKUP_MAX_AGE_HOURS ?? 26),
  };
}

export function databaseBindings(env) {
  return Object.keys(env)
    .filter((name) => name.startsWith("DB_") && typeof env[name]?.batch === "function")
    .sort();
}

export function databaseName(binding) {
  return binding.slice(3).toLowerCase().replaceAll("_", "-");
}

export function backupId(scheduledTime) {
  return new Date(scheduledTime).toISOString().replace(/[:.]/g, "-");
}

function quoteIdent(name) {
  return `"${String(name).replaceAll('"', '""')}"`;
}

/** SQL that makes SQLite itself write one INSERT per row: quote() renders text, BLOBs (X'..'), NULLs and
 *  REALs (round-trip precision) exactly as `sqlite3 .dump` does, and the Worker only concatenates. */
export function insertExpression(table, columns) {
  const head = `INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(", ")}) VALUES (`;
  const literal = (text) => `'${text.replaceAll("'", "''")}'`;
  return `${literal(head)} || ${columns.map((c) => `quote(${quoteIdent(c)})`).join(" || ',' || ")} || ');' || char(10)`;
}

/** One page: the rows after a rowid, up to a bound, at most a number of them, as one string of INSERTs. */
export function pageQuery(table, insert) {
  return `SELECT max(r) AS last, count(*) AS n, group_concat(s, '' ORDER BY r) AS sql FROM (SELECT rowid AS r, ` +
    `${insert} AS s FROM ${quoteIdent(table)} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?)`;
}

/** The row count of the next page: about `pageBytes` of SQL at the last page's bytes per row. */
export function nextPageRows(settings, rows, bytes) {
  return Math.max(1, Math.min(settings.pageRows, Math.floor((0.8 * settings.pageBytes * rows) / bytes)));
}

export async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", typeof bytes === "string" ? encoder.encode(bytes) : bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(chunks, total) {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Alerts

export async function alert(env, severity, text) {
  if (!env.ALERT_WEBHOOK_URL) {
    console.error(`[${severity}] ${text}`);
    return;
  }
  try {
    await fetch(env.ALERT_WEBHOOK_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: `[${severity}] parsify backups: ${text}`, severity }),
    });
  } catch (err) {
    console.error(`alert delivery failed: ${err}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Run state (runs/<id>.json): the cursor that lets a run continue in the next invocation.

const runKey = (id) => `runs/${id}.json`;
// Carried bytes are written under the invocation that wrote them, so an invocation that dies after writing
// its carry but before its checkpoint cannot overwrite the bytes the checkpoint still points to. They are
// removed when the run completes (or by the clean-up of a failed run), never while a retry may need them.
const carryPrefix = (id, db, table) => `runs/${id}/carry/${db}/${encodeURIComponent(table)}/`;

async function deletePrefix(env, prefix) {
  let cursor;
  do {
    const page = await env.BACKUPS.list({ prefix, cursor });
    if (page.objects.length) await env.BACKUPS.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}

/** Write the run state; with `etag`, only if nobody wrote it since (else null: the run was taken over). */
async function saveState(env, state, etag) {
  const written = await env.BACKUPS.put(runKey(state.id), JSON.stringify(state),
    etag ? { onlyIf: { etagMatches: etag } } : undefined);
  return written?.etag ?? null;
}

/** This invocation's claim on the run was taken over (its lease ran out while it was still alive). */
class Superseded extends Error {}

async function loadState(env, id) {
  const object = await env.BACKUPS.get(runKey(id));
  return object ? { state: JSON.parse(await object.text()), etag: object.etag } : null;
}

/** Claim invocation `number` of a run with a conditional write: of two copies of one queue message
 *  delivered at once, only one wins; the state written is the checkpoint the invocation starts from. */
async function claim(env, state, etag, number) {
  state.invocations = number;
  state.lease = { invocation: number, holder: crypto.randomUUID(),
    until: Date.now() + (state.settings.leaseSeconds ?? 120) * 1000 };
  return saveState(env, state, etag);
}

/** One invocation: its budget, and the checkpoint a retry resumes from if it dies. Only the checkpoint is
 *  ever written mid-way (with the ids of new multipart uploads, so they can be aborted): never a cursor
 *  whose bytes are still in memory. Every write of the state is conditional on the invocation's own last
 *  write (`etag`), so an invocation that was taken over stops instead of forking the run. */
class Invocation {
  constructor(env, state, etag, takeover = false) {
    this.env = env;
    this.etag = etag;
    this.takeover = takeover; // its predecessor died: objects may be further along than the checkpoint
    this.left = state.settings.budget;
    this.deadline = Date.now() + (state.settings.seconds ?? 5) * 1000; // Date.now() advances across I/O
    this.number = state.invocations;
    this.name = `${state.invocations}-${state.lease?.holder ?? "cron"}`; // unique per claim
    this.checkpoint = structuredClone(state);
    this.state = state;
  }
  async recordUpload(key, uploadId) {
    this.state.uploads.push({ key, uploadId });
    this.checkpoint.uploads = structuredClone(this.state.uploads);
    await this.save(this.checkpoint);
    this.spend();
  }
  /** Before what must never be done twice (completing an upload, writing a manifest): still ours? */
  async fence() {
    await this.save(this.checkpoint);
    this.spend();
  }
  async save(state) {
    this.etag = await saveState(this.env, state, this.etag);
    if (!this.etag) throw new Superseded(`backup run ${state.id}: invocation ${this.number} was taken over`);
  }
  spend(n = 1) {
    this.left -= n;
  }
  get exhausted() {
    return this.left <= 0 || Date.now() > this.deadline;
  }
}

// ---------------------------------------------------------------------------------------------------
// Backup

const TABLES_QUERY =
  "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' " +
  "AND name NOT LIKE '_cf_%' ORDER BY name";
const SCHEMA_QUERY =
  "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL " +
  "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type = 'table' DESC, name";

async function startDatabase(env, state, entry, invocation) {
  const db = env[entry.binding];
  const tables = (await db.prepare(TABLES_QUERY).all()).results;
  invocation.spend();
  const rowidTables = tables.filter((t) => !/WITHOUT\s+ROWID/i.test(t.sql ?? ""));
  if (rowidTables.length !== tables.length) {
    throw new Error(`${entry.name}: WITHOUT ROWID tables are not supported by the paged export`);
  }
  // One batch = one transaction: the schema and every table's rowid bound come from the same instant.
  const results = await db.batch([
    db.prepare(SCHEMA_QUERY),
    ...tables.map((t) => db.prepare(`SELECT max(rowid) AS bound FROM ${quoteIdent(t.name)}`)),
    ...tables.map((t) => db.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid").bind(t.name)),
  ]);
  invocation.spend();
  // Deferred foreign keys let a restore load tables in any order inside its transaction.
  const schemaSql = "PRAGMA defer_foreign_keys = on;\n" + results[0].results.map((r) => `${r.sql};\n`).join("");
  const schemaBytes = encoder.encode(schemaSql);
  await env.BACKUPS.put(`${entry.prefix}/schema.sql`, schemaBytes);
  invocation.spend();
  entry.objects["schema.sql"] = { bytes: schemaBytes.length, chunkBytes: Math.max(schemaBytes.length, 1),
    chunks: [await sha256Hex(schemaBytes)] };
  entry.tables = tables.map((t, i) => ({
    name: t.name, bound: results[i + 1].results[0].bound ?? 0, cursor: 0, rows: 0, bytes: 0,
    insert: insertExpression(t.name, results[1 + tables.length + i].results.map((c) => c.name)),
    uploadId: null, parts: [], carryKey: null, done: false,
  }));
  entry.phase = "tables";
}

async function exportTable(env, state, entry, table, invocation) {
  const db = env[entry.binding];
  const key = `${entry.prefix}/tables/${table.name}.sql`;
  const { partBytes, pageRows } = state.settings;
  if (invocation.takeover && table.uploadId && (await env.BACKUPS.head(key))) {
    // The invocation that died completed this table's upload after its checkpoint: the checkpoint no
    // longer describes the object, so the table starts over.
    console.log(`${entry.name}.${table.name}: completed by an invocation that died; exporting it again`);
    await env.BACKUPS.delete(key);
    Object.assign(table, { cursor: 0, rows: 0, bytes: 0, uploadId: null, parts: [], carryKey: null,
      nextRows: undefined });
  }
  let pending = [];
  let pendingBytes = 0;
  if (table.carryKey) {
    const carried = await env.BACKUPS.get(table.carryKey);
    invocation.spend();
    if (!carried) throw new Error(`${entry.name}.${table.name}: the carried bytes of the previous invocation are missing`);
    const bytes = new Uint8Array(await carried.arrayBuffer());
    pending = [bytes];
    pendingBytes = bytes.length;
  }
  const upload = () =>
    table.uploadId ? env.BACKUPS.resumeMultipartUpload(key, table.uploadId) : null;

  // One part is uploaded while the next page is read (D1 and R2 overlap in production); it is settled
  // before the run yields or completes, so the run state never records a part that is not stored.
  let inflight = null;
  async function settle() {
    if (!inflight) return;
    const uploading = inflight;
    inflight = null;
    table.parts.push(await uploading);
  }

  async function flush(final) {
    while (pendingBytes >= partBytes || (final && pendingBytes > 0)) {
      const all = concat(pending, pendingBytes);
      const size = final && pendingBytes < partBytes ? pendingBytes : partBytes;
      const part = all.slice(0, size);
      const rest = all.slice(size);
      if (!table.uploadId) {
        const created = await env.BACKUPS.createMultipartUpload(key);
        invocation.spend();
        table.uploadId = created.uploadId;
        await invocation.recordUpload(key, created.uploadId); // known, so it can be aborted after a crash
      }
      await settle();
      const sha256 = await sha256Hex(part);
      inflight = upload().uploadPart(table.parts.length + 1, part)
        .then(({ partNumber, etag }) => ({ partNumber, etag, sha256 }));
      inflight.catch(() => {}); // observed in settle(); never an unhandled rejection meanwhile
      invocation.spend();
      pending = rest.length ? [rest] : [];
      pendingBytes = rest.length;
    }
  }

  // One query per page; SQLite renders the rows as one string of INSERT statements. D1 strings stop at
  // 2 MB (SQLITE_TOOBIG), so the row count of the next page is estimated from the last one to fill about
  // pageBytes; when rows grow and a page is too big anyway, it is retried with a quarter of the rows.
  // (Measured: bounding each page exactly with a window function made SQLite three times slower.)
  async function readPage() {
    for (;;) {
      const limit = table.nextRows ?? Math.min(pageRows, 1000);
      try {
        const page = await db.prepare(pageQuery(table.name, table.insert)).bind(table.cursor, table.bound, limit).all();
        return page.results[0];
      } catch (err) {
        if (!/TOOBIG|too big/i.test(String(err?.message ?? err))) throw err;
        if (limit === 1) {
          throw new Error(`${entry.name}.${table.name}: the row after rowid ${table.cursor} renders to an INSERT ` +
            "statement longer than D1's 2 MB string limit; back this database up with the D1 export API");
        }
        table.nextRows = Math.max(1, Math.floor(limit / 4));
        table.pagesRetried = (table.pagesRetried ?? 0) + 1;
      } finally {
        invocation.spend();
      }
    }
  }

  while (table.cursor < table.bound) {
    if (invocation.exhausted) {
      // Yield: keep the bytes not yet in a part, and continue in the next invocation.
      await settle();
      const carried = concat(pending, pendingBytes);
      table.carryKey = `${carryPrefix(state.id, entry.name, table.name)}${invocation.name}`;
      await env.BACKUPS.put(table.carryKey, carried); // even when empty: removed when the table is done
      return false;
    }
    const { last, n, sql } = await readPage();
    if (!n) break;
    const bytes = encoder.encode(sql);
    pending.push(bytes);
    pendingBytes += bytes.length;
    table.bytes += bytes.length;
    table.rows += n;
    table.cursor = last;
    table.nextRows = nextPageRows(state.settings, n, bytes.length);
    await flush(false);
  }
  if (table.uploadId) {
    await flush(true);
    await settle();
    await invocation.fence();
    await upload().complete(table.parts.map(({ partNumber, etag }) => ({ partNumber, etag })));
  } else {
    // Smaller than one part (or empty): a single put, recorded as one chunk.
    const all = concat(pending, pendingBytes);
    await env.BACKUPS.put(key, all);
    table.parts = [{ sha256: await sha256Hex(all) }];
  }
  invocation.spend();
  entry.objects[`tables/${table.name}.sql`] = { bytes: table.bytes, chunkBytes: partBytes,
    chunks: table.parts.map((p) => p.sha256) };
  table.done = true;
  table.carryKey = null;
  return true;
}

async function finishDatabase(env, state, entry, invocation) {
  const manifest = {
    format: FORMAT,
    database: entry.name,
    backupId: state.id,
    createdAt: state.startedAt,
    completedAt: new Date().toISOString(),
    consistency: "rows with rowid <= the bound fixed at start, each as of its page read",
    tables: Object.fromEntries(entry.tables.map((t) => [t.name, t.rows])),
    bounds: Object.fromEntries(entry.tables.map((t) => [t.name, t.bound])),
    objects: entry.objects,
    complete: true,
  };
  await invocation.fence();
  await env.BACKUPS.put(`${entry.prefix}/manifest.json`, JSON.stringify(manifest, null, 2));
  entry.phase = "done";
}

async function advance(env, state, invocation) {
  for (const entry of state.databases) {
    if (entry.phase === "done") continue;
    if (entry.phase === "pending") await startDatabase(env, state, entry, invocation);
    for (const table of entry.tables) {
      if (table.done) continue;
      if (!(await exportTable(env, state, entry, table, invocation))) return false;
    }
    await finishDatabase(env, state, entry, invocation);
    invocation.spend();
    if (invocation.exhausted) return state.databases.every((d) => d.phase === "done");
  }
  return true;
}

/** Multipart uploads of the run that no finished table holds: all of them when the run failed, and at the
 *  end of a complete run those an invocation that died had started. */
async function abortUploads(env, state) {
  const tables = state.databases.flatMap((d) => (d.tables ?? []).map((t) => ({ ...t, key: `${d.prefix}/tables/${t.name}.sql` })));
  const kept = new Set(tables.filter((t) => t.done).map((t) => t.uploadId));
  const open = tables.filter((t) => t.uploadId && !t.done).map(({ key, uploadId }) => ({ key, uploadId }));
  for (const { key, uploadId } of [...(state.uploads ?? []), ...open]) {
    if (kept.has(uploadId)) continue;
    try {
      await env.BACKUPS.resumeMultipartUpload(key, uploadId).abort();
    } catch (err) {
      console.error(`abort of ${key} failed: ${err}`);
    }
  }
}

/** Remove what failed or abandoned runs left: aborted uploads, partial objects of unfinished databases. */
export async function cleanUp(env, currentId) {
  const listed = await env.BACKUPS.list({ prefix: "runs/", delimiter: "/" });
  for (const object of listed.objects) {
    const id = object.key.slice("runs/".length, -".json".length);
    if (id === currentId) continue;
    const state = JSON.parse(await (await env.BACKUPS.get(object.key)).text());
    if (state.status === "complete" || state.status === "cleaned") continue;
    await abortUploads(env, state);
    for (const entry of state.databases) {
      if (entry.phase !== "done") await deletePrefix(env, `${entry.prefix}/`);
    }
    await deletePrefix(env, `runs/${id}/`);
    if (state.status === "running") {
      await alert(env, "critical", `backup run ${id} never finished; its partial objects were removed.`);
    }
    state.status = "cleaned";
    await saveState(env, state);
  }
}

async function continueRun(env, state, etag, takeover = false) {
  const invocation = new Invocation(env, state, etag, takeover);
  try {
    const done = await advance(env, state, invocation);
    state.lease = null; // the checkpoint: everything this invocation did is stored
    if (done) {
      await abortUploads(env, state);
      await deletePrefix(env, `runs/${state.id}/`);
      state.status = "complete";
      await invocation.save(state);
      return state;
    }
    await invocation.save(state);
    if (!env.BACKUP_QUEUE) throw new Error("the query budget ran out and no BACKUP_QUEUE is bound to continue");
    // The message names the invocation it continues: a redelivered copy finds the run moved on.
    await env.BACKUP_QUEUE.send({ runId: state.id, after: state.invocations });
  } catch (err) {
    if (err instanceof Superseded) {
      console.log(`${err.message}; it stops here and leaves the run to the invocation that took over`);
      return state;
    }
    state.status = "failed";
    state.error = String(err?.message ?? err);
    state.lease = null;
    await abortUploads(env, state);
    try {
      await invocation.save(state);
    } catch (saveErr) {
      console.error(`could not record the failure: ${saveErr}`);
    }
    const unfinished = state.databases.filter((d) => d.phase !== "done").map((d) => d.name);
    await alert(env, "critical", `backup run ${state.id} failed: ${state.error}. No manifest was written for ` +
      `${unfinished.join(", ") || "any database"}; the next run starts clean.`);
  }
  return state;
}

export async function startBackup(env, scheduledTime) {
  const id = backupId(scheduledTime);
  const state = {
    id, startedAt: new Date(scheduledTime).toISOString(), status: "running", settings: settings(env),
    invocations: 1, lease: null, uploads: [],
    databases: databaseBindings(env).map((binding) => ({
      binding, name: databaseName(binding), prefix: `backups/${databaseName(binding)}/${id}`,
      phase: "pending", tables: [], objects: {},
    })),
  };
  let etag;
  try {
    await cleanUp(env, id);
    etag = await saveState(env, state);
  } catch (err) {
    await alert(env, "critical", `backup run ${id} could not start: ${err?.message ?? err}`);
    return { ...state, status: "failed" };
  }
  return continueRun(env, state, etag);
}

/** Continue a run from a queue message {runId, after}. Returns the state, and `retryAfterSeconds` when
 *  the message must come back later. Queues deliver at least once and retry what an invocation that died
 *  did not acknowledge, so: a copy of a continuation already done is ignored; a copy of one that is
 *  claimed and may still be running comes back when its lease ends; a claim whose lease ended (the
 *  invocation died) is taken over from its checkpoint. */
export async function resumeBackup(env, runId, after) {
  const loaded = await loadState(env, runId);
  if (!loaded || loaded.state.status !== "running") return { state: loaded?.state ?? null };
  const { state, etag } = loaded;
  const next = after + 1;
  const claimed = state.lease?.invocation === next;
  if (claimed && state.lease.until > Date.now()) {
    return { state, retryAfterSeconds: Math.ceil((state.lease.until - Date.now()) / 1000) + 1 };
  }
  if (!claimed && state.invocations !== after) {
    console.log(`backup run ${runId}: ignoring a redelivered continuation of invocation ${after} ` +
      `(the run is at invocation ${state.invocations})`);
    return { state };
  }
  if (claimed) {
    console.log(`backup run ${runId}: invocation ${next} did not reach its checkpoint within its lease; taking over`);
    state.takeovers = (state.takeovers ?? 0) + 1; // visible in runs/<id>.json
  }
  const claimEtag = await claim(env, state, etag, next);
  if (!claimEtag) {
    console.log(`backup run ${runId}: another delivery claimed invocation ${next}`);
    return { state };
  }
  return { state: await continueRun(env, state, claimEtag, claimed) };
}

// ---------------------------------------------------------------------------------------------------
// Verification (the handbook's afternoon check)

export async function verifyObject(bucket, key, meta) {
  const object = await bucket.get(key);
  if (!object) return `${key} is missing`;
  const bytes = new Uint8Array(await object.arrayBuffer());
  if (bytes.length !== meta.bytes) return `${key} has ${bytes.length} bytes, the manifest says ${meta.bytes}`;
  for (let i = 0; i < meta.chunks.length; i++) {
    const chunk = bytes.slice(i * meta.chunkBytes, (i + 1) * meta.chunkBytes);
    if ((await sha256Hex(chunk)) !== meta.chunks[i]) return `${key} chunk ${i + 1} fails its SHA-256`;
  }
  return null;
}

export async function newestManifest(bucket, database) {
  const listed = await bucket.list({ prefix: `backups/${database}/`, delimiter: "/" });
  const ids = listed.delimitedPrefixes.map((p) => p.slice(`backups/${database}/`.length, -1)).sort().reverse();
  for (const id of ids) {
    const object = await bucket.get(`backups/${database}/${id}/manifest.json`);
    if (object) {
      const manifest = JSON.parse(await object.text());
      if (manifest.complete) return manifest;
    }
  }
  return null;
}

export async function verifyBackups(env, now) {
  const { maxAgeHours } = settings(env);
  const problems = [];
  for (const binding of databaseBindings(env)) {
    const database = databaseName(binding);
    const manifest = await newestManifest(env.BACKUPS, database);
    if (!manifest) {
      problems.push(`${database}: no complete backup exists`);
      continue;
    }
    const ageHours = (now - Date.parse(manifest.createdAt)) / 3.6e6;
    if (ageHours > maxAgeHours) {
      problems.push(`${database}: the newest complete backup (${manifest.backupId}) is ${ageHours.toFixed(1)} h old, ` +
        `more than the ${maxAgeHours} h the schedule allows`);
    }
    for (const [name, meta] of Object.entries(manifest.objects)) {
      const problem = await verifyObject(env.BACKUPS, `backups/${database}/${manifest.backupId}/${name}`, meta);
      if (problem) problems.push(`${database}: ${problem}`);
    }
  }
  if (problems.length) await alert(env, "critical", `backup verification failed: ${problems.join("; ")}`);
  return problems;
}

export default {
  async scheduled(event, env, ctx) {
    const work = event.cron === settings(env).verifyCron
      ? verifyBackups(env, event.scheduledTime)
      : startBackup(env, event.scheduledTime);
    ctx.waitUntil(work);
  },
  async queue(batch, env) {
    for (const message of batch.messages) {
      const { retryAfterSeconds } = await resumeBackup(env, message.body.runId, message.body.after);
      if (retryAfterSeconds) message.retry({ delaySeconds: retryAfterSeconds });
      else message.ack();
    }
  },
};
