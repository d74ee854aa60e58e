// Parsify backup Worker: exports every bound D1 database (bindings named DB_<NAME>) to the R2 bucket
// bound as BACKUPS, and in the afternoon verifies the newest backup of each database.
//
// Layout of one backup (the README's "Backups" section is the reference):
//   backups/<database>/<backup id>/schema.<claim>.sql         tables (and virtual tables), created first
//   backups/<database>/<backup id>/tables/<n>.<claim>.sql     one table's rows (multipart, fixed-size parts)
//   backups/<database>/<backup id>/post.<claim>.sql           AUTOINCREMENT counters, indexes, views,
//                                                             triggers: loaded after the data, as .dump does
//   backups/<database>/<backup id>/manifest.json              <- written last; lists the load order
// A backup whose manifest is missing or says `complete: false` must never be restored. Every object is
// recorded in the manifest with its size, its chunk size and a SHA-256 per chunk.
//
// Bucket lock (workers/backup/worker.json `prefixes`): everything under backups/ is written once and never
// overwritten or deleted by this Worker, so the program locks that prefix (R2 refuses overwrites, deletes
// and multipart completions on locked keys). Object names carry the claim of the invocation that wrote them
// (<claim>), so an invocation that takes over from one that died writes new keys instead of replacing
// objects. What the Worker overwrites or deletes (run state, carried bytes, undelivered alerts) lives
// under runs/ and alerts/, which are not locked.
//
// Rows (the guarantee, tested in workers/test/backup-keys.test.mjs and backup-consistency.test.mjs): a
// table is read in pages ordered by its key: its PRIMARY KEY, with the key's collation (WITHOUT ROWID
// tables included), or the rowid when it has none (or a NULL in it). The highest key is fixed at the start
// of the run, in one D1 batch with the schema and the row counts. Every row that exists for the whole run
// appears exactly once, keyed by its primary key, as it was when its page was read; rows inserted or
// deleted during the run may or may not appear. Keys travel between pages as SQL literals made by quote(),
// so 64-bit integers, text and blobs are compared by SQLite exactly, never as JavaScript numbers.
//
// Large values: a row whose INSERT would not fit one statement of D1 (100 KB) is written as an INSERT
// with its large values empty, followed by UPDATEs that append them in pieces; no statement of a backup
// is longer than STATEMENT_BYTES.
//
// Scale: at most BACKUP_QUERY_BUDGET D1 queries and R2 calls per invocation (D1 allows 1,000) and
// BACKUP_INVOCATION_SECONDS of wall time; then the run saves its cursor in runs/<id>.json and continues
// in a new invocation through the BACKUP_QUEUE queue. At least once: a continuation message names the
// invocation it follows, and an invocation claims its number with a conditional write and a lease.
//
// Isolation: a table that cannot be exported fails alone (its database's manifest says complete: false
// and names it); other tables and databases go on. Every failure alerts, naming database, table and row.

const encoder = new TextEncoder();
const FORMAT = "parsify-d1-backup/3";
const MIB = 1024 * 1024;
// D1: "Maximum SQL statement length: 100,000 bytes" (d1/platform/limits; reference §5). Statements of a
// backup stay below it with room for the key of the row in an UPDATE.
const STATEMENT_BYTES = 100_000;
const ROW_BYTES = 90_000; // an INSERT up to this size is written whole
const BLOB_PIECE_BYTES = 40_000; // 80 KB of hex per piece (text is cut as bytes too, and put back whole)
const INFO_COLUMNS_PER_QUERY = 15; // 6 result columns each: D1 returns at most 100 columns
const PIECES_PER_QUERY = 10; // about 1 MB of pieces per D1 result
// Rows the Worker writes itself (large values, inexact REALs) cost D1 queries of their own (at most about
// 10 for a 2 MB row): a page holds at most this many, and an invocation reads a page only while it has
// room for one such page in its budget, so it stays under D1's 1,000 queries per invocation.
const WORKER_ROWS_PER_PAGE = 25;
const PAGE_RESERVE = 300;
// D1 strings are at most 2,000,000 bytes: a row estimated above this is never rendered in one string.
const RENDER_LIMIT = 1_900_000;

export function settings(env) {
  return {
    pageRows: Number(env.BACKUP_PAGE_ROWS ?? 10_000),
    pageBytes: Number(env.BACKUP_PAGE_BYTES ?? 1_800_000),
    budget: Number(env.BACKUP_QUERY_BUDGET ?? 800),
    // Wall-clock budget per invocation: keeps each one far from the CPU limit (30 s by default).
    seconds: Number(env.BACKUP_INVOCATION_SECONDS ?? 5),
    partBytes: Number(env.BACKUP_PART_BYTES ?? 10 * MIB),
    // An invocation that has not reached its next checkpoint this long after claiming it is taken to have
    // died (CPU limit, eviction): a retry of its message then takes over from the last checkpoint.
    leaseSeconds: Number(env.BACKUP_LEASE_SECONDS ?? 120),
    verifyCron: env.VERIFY_CRON ?? "0 14 * * *",
    maxAgeHours: Number(env.BACKUP_MAX_AGE_HOURS ?? 26),
  };
}

/** Where backups go: the bucket lock's prefix (workers/backup/worker.json `lockedPrefix`, deployed as
 *  BACKUP_LOCKED_PREFIX). Required: a Worker writing outside the locked prefix would write mutable backups. */
export function lockedPrefix(env) {
  const prefix = env.BACKUP_LOCKED_PREFIX;
  if (typeof prefix !== "string" || !/^[a-z0-9-]+\/$/.test(prefix)) {
    throw new Error(`BACKUP_LOCKED_PREFIX is ${JSON.stringify(prefix)}: set it to the bucket lock's prefix, e.g. "backups/"`);
  }
  return prefix;
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

export function quoteIdent(name) {
  return `"${String(name).replaceAll('"', '""')}"`;
}

const literal = (text) => `'${String(text).replaceAll("'", "''")}'`;

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
// Alerts: delivered, or kept under alerts/ and delivered by the next run.

const PENDING_ALERTS = "alerts/pending/";

/** Retry-After in seconds (a number or an HTTP date), else null. */
function retryAfterMs(response) {
  const header = response.headers.get("retry-after");
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : null;
}

/** POST one alert. Slack answers 429 with Retry-After when rate-limited and 5xx when failing
 *  (api.slack.com/apis/rate-limits, docs.slack.dev webhooks "Handling errors"): those are retried with
 *  exponential backoff (Retry-After when given, capped); any other status is not. Returns null when
 *  delivered, else the reason. ALERT_RETRY_BASE_MS sets the backoff (the tests set 0). */
export async function deliverAlert(env, payload) {
  const base = Number(env.ALERT_RETRY_BASE_MS ?? 500);
  const attempts = Number(env.ALERT_ATTEMPTS ?? 4);
  let reason = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let response;
    try {
      response = await fetch(env.ALERT_WEBHOOK_URL, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload),
        signal: AbortSignal.timeout(Number(env.ALERT_TIMEOUT_MS ?? 10_000)),
      });
    } catch (err) {
      reason = `no response (${err?.name === "TimeoutError" ? "timed out" : err})`;
    }
    if (response) {
      await response.arrayBuffer().catch(() => {});
      if (response.ok) return null;
      reason = `HTTP ${response.status}`;
      if (response.status !== 429 && response.status < 500) return reason; // a bad URL or payload: not retried
    }
    if (attempt < attempts) {
      const wait = Math.min(response ? retryAfterMs(response) ?? base * 2 ** (attempt - 1) : base * 2 ** (attempt - 1),
        Math.max(base, 0) * 16);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  return reason;
}

/** Send an alert; one that is still undelivered is kept in the bucket (never lost) and delivered by the next
 *  backup or verification, whichever comes first. */
export async function alert(env, severity, text) {
  const payload = { text: `[${severity}] parsify backups: ${text}`, severity, at: new Date(Date.now()).toISOString() };
  console.error(payload.text);
  if (!env.ALERT_WEBHOOK_URL) return false;
  const failure = await deliverAlert(env, payload);
  if (!failure) return true;
  console.error(`alert delivery failed (${failure}); kept for the next run`);
  try {
    await env.BACKUPS.put(`${PENDING_ALERTS}${payload.at}-${crypto.randomUUID()}.json`,
      JSON.stringify({ ...payload, failure }));
  } catch (err) {
    console.error(`could not keep the undelivered alert: ${err}`);
  }
  return false;
}

/** Deliver the alerts earlier runs could not; each is removed only once delivered. */
export async function redeliverAlerts(env) {
  if (!env.ALERT_WEBHOOK_URL) return;
  const listed = await env.BACKUPS.list({ prefix: PENDING_ALERTS });
  for (const { key } of listed.objects) {
    const object = await env.BACKUPS.get(key);
    if (!object) continue;
    const payload = JSON.parse(await object.text());
    delete payload.failure;
    payload.text = `${payload.text} (first attempted at ${payload.at})`;
    if (!(await deliverAlert(env, payload))) await env.BACKUPS.delete(key);
  }
}

// ---------------------------------------------------------------------------------------------------
// Run state (runs/<id>.json): the cursor that lets a run continue in the next invocation.

const runKey = (id) => `runs/${id}.json`;
// Carried bytes are written under the invocation that wrote them, so an invocation that dies after writing
// its carry but before its checkpoint cannot overwrite the bytes the checkpoint still points to.
const carryPrefix = (id, db, index) => `runs/${id}/carry/${db}/${index}/`;

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

/** A table that cannot be exported: it fails alone, the others go on. */
class TableFailure extends Error {}

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
    this.takeover = takeover; // its predecessor died: objects may be further along than the checkpoint
    this.etag = etag;
    this.budget = state.settings.budget;
    this.left = this.budget;
    this.deadline = Date.now() + (state.settings.seconds ?? 5) * 1000; // Date.now() advances across I/O
    this.number = state.invocations;
    // Unique per claim: the names of the objects this invocation writes under backups/ carry it.
    this.name = `${state.invocations}-${(state.lease?.holder ?? "cron").slice(0, 8)}`;
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
    // (The reserve applies to production-sized budgets; the tests' tiny ones count every query.)
    const reserve = this.budget >= 2 * PAGE_RESERVE ? PAGE_RESERVE : 0;
    return this.left <= reserve || Date.now() > this.deadline;
  }
}

// ---------------------------------------------------------------------------------------------------
// What a database holds, read at the start of a run in one D1 batch (one transaction).

// pragma_table_list (SQLite 3.37+, a D1 "compatible PRAGMA": d1/sql-api/sql-statements) says which
// tables are virtual (FTS5) and which are their shadow tables, and which are WITHOUT ROWID. sqlite_*
// tables are SQLite's own, _cf_* tables D1's (substr, not LIKE: '_' is a LIKE wildcard).
const OBJECTS_QUERY =
  "SELECT m.type, m.name, m.tbl_name, m.sql, l.type AS kind, l.wr FROM sqlite_schema AS m " +
  "LEFT JOIN pragma_table_list AS l ON l.schema = 'main' AND l.name = m.name " +
  "WHERE substr(m.name, 1, 7) <> 'sqlite_' AND substr(m.name, 1, 4) <> '_cf_' ORDER BY m.rowid";
const HAS_SEQUENCE_QUERY = "SELECT count(*) AS n FROM sqlite_schema WHERE name = 'sqlite_sequence'";

/** SQLite keeps a view's trailing "-- comment" in its SQL without a newline, which would swallow a ";"
 *  written on the same line (found by an adversarial test; `.dump` puts the ";" on a new line then). */
export function endsInLineComment(sql) {
  let inside = null; // the quote or comment the scan is in
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (inside === "--") {
      if (c === "\n") inside = null;
    } else if (inside === "/*") {
      if (c === "*" && sql[i + 1] === "/") { inside = null; i++; }
    } else if (inside) {
      if (c === inside) inside = null;
    } else if (c === "-" && sql[i + 1] === "-") { inside = "--"; i++; }
    else if (c === "/" && sql[i + 1] === "*") { inside = "/*"; i++; }
    else if (c === "'" || c === '"' || c === "`") inside = c;
    else if (c === "[") inside = "]";
  }
  return inside === "--";
}

/** The key of a table: its primary key columns with the primary key's collation, else the rowid. */
export function rowidName(columns) {
  const taken = new Set(columns.map((c) => c.toLowerCase()));
  return ["rowid", "_rowid_", "oid"].find((name) => !taken.has(name)) ?? null;
}

function describeFts(sql) {
  // FTS5 options (sqlite.org/fts5.html §4.4): content='' keeps no content (nothing to export);
  // content=<table> indexes another table (rebuilt from it after the load).
  const match = /\bcontent\s*=\s*('(?:[^']|'')*'|"(?:[^"]|"")*"|[^,\s)]+)/i.exec(sql ?? "");
  if (!match) return { content: "own" };
  const value = match[1].replace(/^['"]|['"]$/g, "");
  return { content: value === "" ? "none" : "external" };
}

/** `terms` joined by a binary operator as a balanced tree: SQLite limits expression depth to 100 (D1 too),
 *  and a chain over a 100-column table is deeper than that (found by an adversarial test at 47 columns). */
function balanced(terms, operator, empty) {
  if (!terms.length) return empty;
  if (terms.length === 1) return terms[0];
  const middle = Math.ceil(terms.length / 2);
  return `(${balanced(terms.slice(0, middle), operator, empty)} ${operator} ${balanced(terms.slice(middle), operator, empty)})`;
}

/** concat() of many arguments, in groups (SQLite functions take at most 127 arguments). */
function concatAll(parts) {
  if (parts.length <= 100) return `concat(${parts.join(", ")})`;
  const groups = [];
  for (let i = 0; i < parts.length; i += 100) groups.push(`concat(${parts.slice(i, i + 100).join(", ")})`);
  return concatAll(groups);
}

/** A value the page query cannot write as SQL text, so the Worker writes its row (workerRowSql): a REAL
 *  that the runtime's quote() writes inexactly (hypothesis found 3.9112851797666976e+278) or a subnormal
 *  one (older parsers misread those), and text holding a NUL character (quote() stops at it). CASE, not
 *  AND: SQLite may evaluate both sides of an AND. */
export function needsWorker(sql) {
  return `CASE typeof(${sql}) WHEN 'real' THEN CAST(quote(${sql}) AS REAL) IS NOT ${sql} OR ` +
    `(${sql} <> 0 AND ${sql} BETWEEN -2.2250738585072014e-308 AND 2.2250738585072014e-308) ` +
    `WHEN 'text' THEN instr(CAST(${sql} AS BLOB), X'00') > 0 ELSE 0 END`;
}

/** The SQL expressions of a page: one row as an INSERT statement (quote() writes text, BLOBs, NULLs,
 *  integers and most REALs as `sqlite3 .dump` does), a cheap upper bound of its size (hex doubles BLOBs,
 *  quoting at most doubles text), the key literal of the row, and whether the Worker must write it. */
export function rowExpressions(table) {
  const columns = table.insertColumns;
  const head = `INSERT INTO ${quoteIdent(table.name)} (${columns.map((c) => c.sql).join(", ")}) VALUES (`;
  const insert = concatAll([literal(head), ...columns.flatMap((c, i) => [...(i ? ["','"] : []), `quote(${c.sql})`]),
    "');'", "char(10)"]);
  const estimate = balanced(columns.map((c) => `(CASE typeof(${c.sql}) WHEN 'blob' THEN 2 * length(${c.sql}) ` +
    `WHEN 'text' THEN 2 * length(CAST(${c.sql} AS BLOB)) ELSE 24 END + 4)`), "+", "0");
  // Text keys travel as the bytes they are (NULs and all): CAST(X'..' AS TEXT) compares as the text itself.
  const keyLiteral = `json_array(${table.key.map((k) => `CASE typeof(${quoteIdent(k.name)}) WHEN 'text' THEN ` +
    `'CAST(X''' || hex(CAST(${quoteIdent(k.name)} AS BLOB)) || ''' AS TEXT)' ELSE quote(${quoteIdent(k.name)}) END`)
    .join(", ")})`;
  return { insert, estimate, keyLiteral, inexact: balanced(columns.map((c) => `(${needsWorker(c.sql)})`), "OR", "0"),
    keyInexact: balanced(table.key.map((k) => `(typeof(${quoteIdent(k.name)}) = 'real' AND ${needsWorker(quoteIdent(k.name))})`),
      "OR", "0") };
}

const TWO_60 = 2n ** 60n;

/** A finite double as SQL that every SQLite evaluates to exactly that double: its 53-bit integer
 *  significand, scaled by powers of two (exact in IEEE 754; D1 refuses power()). */
export function exactRealLiteral(x) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const high = view.getUint32(0);
  const exponentBits = (high >>> 20) & 0x7ff;
  let significand = (BigInt(high & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  let exponent = -1074; // subnormal
  if (exponentBits) {
    significand += 1n << 52n;
    exponent = exponentBits - 1075;
  }
  let sql = `CAST(${high >>> 31 ? "-" : ""}${significand} AS REAL)`;
  const op = exponent > 0 ? "*" : "/";
  for (let left = Math.abs(exponent); left > 0; left -= 60) {
    sql += ` ${op} ${left >= 60 ? TWO_60 : 2n ** BigInt(left)}`;
  }
  return `(${sql})`;
}

const keyTerms = (table) => table.key.map((k) => `${quoteIdent(k.name)} COLLATE ${quoteIdent(k.coll)}`);

/** `(k1, k2) > (lit1, lit2)`: row values compare left to right, each with its collation. */
export function keyCondition(table, operator, literals) {
  return `(${keyTerms(table).join(", ")}) ${operator} (${literals.join(", ")})`;
}

/** The row count of the next page: about `pageBytes` of SQL at the last page's bytes per row, and few rows
 *  the Worker writes itself (`workerRows` of the last page's `rows`). */
export function nextPageRows(settings, rows, bytes, workerRows = 0) {
  return Math.max(1, Math.min(settings.pageRows, Math.floor((0.8 * settings.pageBytes * rows) / Math.max(1, bytes)),
    workerRows ? Math.floor((WORKER_ROWS_PER_PAGE * rows) / workerRows) : Infinity));
}

/** One page: the rows after the cursor up to the bound, as one string of INSERTs for the rows that fit a
 *  statement, the key literals of those that do not, and the key of the last row. */
export function pageQuery(table, limit) {
  const { insert, estimate, keyLiteral, inexact, keyInexact } = rowExpressions(table);
  const after = table.cursor ? keyCondition(table, ">", table.cursor) : "1";
  const order = keyTerms(table).join(", ");
  const keyCols = keyTerms(table).map((term, i) => `${term} AS _k${i}`).join(", ");
  const keyOrder = (dir) => table.key.map((k, i) => `_k${i} COLLATE ${quoteIdent(k.coll)}${dir}`).join(", ");
  return `WITH page AS MATERIALIZED (SELECT ${keyCols}, ${keyLiteral} AS kl, ${inexact} AS x, ${keyInexact} AS kx, ` +
    `CASE WHEN ${estimate} <= ${RENDER_LIMIT} THEN ${insert} END AS s FROM ${quoteIdent(table.name)} ` +
    `WHERE ${after} AND ${keyCondition(table, "<=", table.bound)} ORDER BY ${order} LIMIT ${Number(limit)}), ` +
    `sized AS (SELECT *, length(CAST(s AS BLOB)) AS b FROM page) ` +
    `SELECT count(*) AS n, group_concat(CASE WHEN b <= ${ROW_BYTES} AND NOT x THEN s END, '' ORDER BY ${keyOrder("")}) AS sql, ` +
    `(SELECT kl FROM page ORDER BY ${keyOrder(" DESC")} LIMIT 1) AS last, max(kx) AS keyInexact, ` +
    `json_group_array(kl) FILTER (WHERE b IS NULL OR b > ${ROW_BYTES} OR x) AS large FROM sized`;
}

/** The bound of a table: the key literal of its last row, or null when it is empty. */
export function boundQuery(db, table) {
  return db.prepare(`SELECT ${rowExpressions(table).keyLiteral} AS k FROM ${quoteIdent(table.name)} ` +
    `ORDER BY ${keyTerms(table).map((t) => `${t} DESC`).join(", ")} LIMIT 1`);
}

async function describeTables(db, objects) {
  const tables = objects.filter((o) => o.type === "table" && (o.kind === "table" || o.kind === "virtual"));
  if (!tables.length) return [];
  const info = await db.batch(tables.flatMap((t) => [
    db.prepare("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid").bind(t.name),
    db.prepare("SELECT x.name, x.coll FROM pragma_index_list(?) AS l, pragma_index_xinfo(l.name) AS x " +
      "WHERE l.origin = 'pk' AND x.key = 1 ORDER BY x.seqno").bind(t.name),
    db.prepare("SELECT DISTINCT \"table\" AS parent FROM pragma_foreign_key_list(?)").bind(t.name),
  ]));
  return tables.map((t, i) => {
    const columns = info[3 * i].results;
    const names = columns.map((c) => c.name);
    const virtual = t.kind === "virtual";
    const fts = virtual ? describeFts(t.sql) : null;
    const rowid = rowidName(names);
    const pkIndex = info[3 * i + 1].results;
    const pk = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    let key;
    if (pkIndex.length) key = pkIndex.map((c) => ({ name: c.name, coll: c.coll ?? "BINARY" }));
    else if (pk.length) key = pk.map((c) => ({ name: c.name, coll: "BINARY" })); // INTEGER PRIMARY KEY = rowid
    else if (rowid) key = [{ name: rowid, coll: "BINARY" }];
    const insertColumns = names.map((name) => ({ name, sql: quoteIdent(name) }));
    return {
      name: t.name, virtual, withoutRowid: t.wr === 1, fts, key, rowid, primaryKey: pk.map((c) => c.name),
      insertColumns, parents: info[3 * i + 2].results.map((r) => r.parent).filter((p) => p !== t.name),
    };
  });
}

/** Parents before children (foreign keys), else the schema's order: a restore never needs a row that is
 *  loaded later, even where deferred foreign keys do not span the whole load. */
export function loadOrder(tables) {
  const byName = new Map(tables.map((t) => [t.name.toLowerCase(), t]));
  const ordered = [];
  const state = new Map();
  const visit = (table) => {
    if (state.get(table.name)) return; // done, or a cycle (deferred foreign keys cover it)
    state.set(table.name, "visiting");
    for (const parent of table.parents) {
      const found = byName.get(String(parent).toLowerCase());
      if (found) visit(found);
    }
    state.set(table.name, "done");
    ordered.push(table);
  };
  tables.forEach(visit);
  return ordered;
}

/** The database's objects (sqlite_schema order), its tables with their keys (parents first), and whether
 *  it has AUTOINCREMENT counters. Two D1 queries. */
export async function tablesOf(db) {
  const [objectsResult, sequenceResult] = await db.batch([db.prepare(OBJECTS_QUERY), db.prepare(HAS_SEQUENCE_QUERY)]);
  const objects = objectsResult.results;
  return { objects, tables: loadOrder(await describeTables(db, objects)), hasSequence: sequenceResult.results[0].n > 0 };
}

async function startDatabase(env, state, entry, invocation) {
  const db = env[entry.binding];
  const { objects, tables, hasSequence } = await tablesOf(db);
  invocation.spend(2);
  // A rowid table may hold NULLs in its primary key (SQLite allows it): such a table is read by rowid.
  const nullable = tables.filter((t) => !t.withoutRowid && !t.virtual && t.key && t.rowid && t.key[0].name !== t.rowid);
  if (nullable.length) {
    const nulls = await db.batch(nullable.map((t) => db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(t.name)} ` +
      `WHERE ${t.key.map((k) => `${quoteIdent(k.name)} IS NULL`).join(" OR ")}`)));
    invocation.spend();
    nullable.forEach((t, i) => {
      if (nulls[i].results[0].n) t.key = [{ name: t.rowid, coll: "BINARY" }];
    });
  }
  for (const t of tables) {
    // A table read by rowid is written with its rowids (as `.dump --preserve-rowids`): a row written in
    // pieces is found again by its rowid, and no restored row can take another's. A virtual table's rowid is
    // content too (FTS5 rows are joined to other tables by it).
    if (t.rowid && (t.virtual || t.key?.[0].name === t.rowid)) t.insertColumns.unshift({ name: t.rowid, sql: quoteIdent(t.rowid) });
  }
  const exportable = tables.filter((t) => t.key && !(t.fts && t.fts.content !== "own"));
  // One batch = one transaction: the bounds, the row counts and the AUTOINCREMENT counters of one instant.
  const queries = [...exportable.map((t) => boundQuery(db, t)),
    ...exportable.map((t) => db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(t.name)}`)),
    ...(hasSequence ? [db.prepare("SELECT quote(name) AS name, quote(seq) AS seq FROM sqlite_sequence ORDER BY rowid")] : [])];
  const results = queries.length ? await db.batch(queries) : [];
  invocation.spend();
  const sequences = hasSequence ? results[results.length - 1].results : [];

  const statement = (sql) => `${sql}${endsInLineComment(sql) ? "\n" : ""};\n`;
  const schemaSql = "PRAGMA defer_foreign_keys = on;\n" + PIECES_DDL + objects
    .filter((o) => o.type === "table" && (o.kind === "table" || o.kind === "virtual") && o.sql)
    .map((o) => statement(o.sql)).join("");
  const post = [`DROP TABLE ${PIECES};\n`];
  if (sequences.length) {
    // As .dump writes them: the counters as of the bound (as SQL literals: they go past 2^53), so a restored
    // AUTOINCREMENT never reuses a key.
    post.push("DELETE FROM sqlite_sequence;\n",
      ...sequences.map((s) => `INSERT INTO sqlite_sequence (name, seq) VALUES (${s.name}, ${s.seq});\n`));
  }
  for (const type of ["index", "view", "trigger"]) {
    post.push(...objects.filter((o) => o.type === type && o.sql).map((o) => statement(o.sql)));
  }
  for (const t of tables.filter((x) => x.fts?.content === "external")) {
    post.push(`INSERT INTO ${quoteIdent(t.name)} (${quoteIdent(t.name)}) VALUES ('rebuild');\n`);
  }
  entry.schema = await putSmall(env, entry, `schema.${invocation.name}.sql`, schemaSql, invocation);
  entry.tables = tables.map((t, index) => {
    const at = exportable.indexOf(t);
    const base = { name: t.name, index, key: t.key, insertColumns: t.insertColumns, rowid: t.rowid,
      cursor: null, rows: 0, bytes: 0, uploadId: null, parts: [], carryKey: null, done: false, object: null,
      sourceRows: at >= 0 ? results[exportable.length + at].results[0].n : 0 };
    if (!t.key) {
      return { ...base, done: true, failed: `${entry.name}.${t.name}: the table has no primary key, and columns named ` +
        "rowid, _rowid_ and oid hide its rowid, so its rows cannot be read in order; give it a primary key" };
    }
    if (t.fts?.content === "none") {
      return { ...base, done: true, failed: `${entry.name}.${t.name}: a contentless FTS5 table (content='') does not ` +
        "store its text, so it cannot be backed up; rebuild it from its source after a restore" };
    }
    if (t.fts?.content === "external") return { ...base, done: true, external: true };
    const bound = results[at].results[0]?.k;
    if (bound && bound.length > KEY_LITERAL_CHARS) return { ...base, done: true, failed: keyTooLong(entry, t) };
    return { ...base, bound: bound ? JSON.parse(bound) : null };
  });
  entry.post = post.join("");
  entry.phase = "tables";
}

async function putSmall(env, entry, name, text, invocation) {
  const bytes = encoder.encode(text);
  await env.BACKUPS.put(`${entry.prefix}/${name}`, bytes);
  invocation.spend();
  entry.objects[name] = { bytes: bytes.length, chunkBytes: Math.max(bytes.length, 1), chunks: [await sha256Hex(bytes)] };
  return name;
}

// ---------------------------------------------------------------------------------------------------
// Rows the Worker writes itself: large values, exact REALs, text with NUL characters.
//
// A large value goes into a scratch table in pieces (each INSERT well under D1's 100 KB statements), and the
// row's one INSERT takes it from there, whole: CHECK, UNIQUE and NOT NULL constraints see the real value,
// never a placeholder. schema.sql creates the scratch table; post.sql drops it.

const PIECES_TABLE = "_parsify_restore_pieces";
const PIECES = quoteIdent(PIECES_TABLE);
const PIECES_DDL = `CREATE TABLE ${PIECES} (n INTEGER PRIMARY KEY, c INTEGER NOT NULL, v BLOB NOT NULL);\n`;

function rowLocator(table, keyLiterals) {
  return table.key.map((k, i) => `${quoteIdent(k.name)} = ${keyLiterals[i]}`).join(" AND ");
}

// A key travels inside each page query (twice, with the bound): a longer one would not fit D1's 100 KB.
const KEY_LITERAL_CHARS = 30_000;
const keyTooLong = (entry, table) => `${entry.name}.${table.name}: a primary key value is over ` +
  `${KEY_LITERAL_CHARS / 2} bytes, too long to page by it within D1's 100 KB statements; use a shorter key (or an ` +
  "INTEGER one)";

/** A message never carries a whole key: a text key can be 96 KB (an adversarial test's). */
export function clip(text, max = 200) {
  const value = String(text);
  return value.length <= max ? value : `${value.slice(0, max)}... (${value.length - max} more characters)`;
}

async function workerRowSql(db, table, keyLiterals, invocation, where) {
  const cols = table.insertColumns;
  const from = `FROM ${quoteIdent(table.name)} WHERE ${rowLocator(table, keyLiterals)}`;
  // Per column: its type and size in bytes; its quote() when that is exact and small; the double when
  // quote() is not exact (D1 hands it to JavaScript exactly; infinities quote() writes exactly); the bytes
  // of a small text holding a NUL.
  const row = {};
  for (let first = 0; first < cols.length; first += INFO_COLUMNS_PER_QUERY) {
    const group = cols.slice(first, first + INFO_COLUMNS_PER_QUERY);
    const info = await db.prepare(`SELECT ${group.map((c, j) => {
      const i = first + j;
      const bytes = `coalesce(length(CAST(${c.sql} AS BLOB)), 0)`;
      return `typeof(${c.sql}) AS t${i}, ${bytes} AS l${i}, (${needsWorker(c.sql)}) AS w${i}, ` +
        `CASE WHEN ${bytes} <= ${BLOB_PIECE_BYTES} THEN quote(${c.sql}) END AS q${i}, ` +
        `CASE WHEN typeof(${c.sql}) = 'real' THEN ${c.sql} END AS r${i}, ` +
        `CASE WHEN typeof(${c.sql}) = 'text' AND ${bytes} <= ${BLOB_PIECE_BYTES} THEN hex(CAST(${c.sql} AS BLOB)) END AS h${i}`;
    }).join(", ")} ${from}`).all();
    invocation.spend();
    if (!info.results.length) return null; // deleted since its page was read: such rows may be missing
    Object.assign(row, info.results[0]);
  }
  const values = cols.map((c, i) => {
    const [type, bytes, worker, quoted, real, hex] = ["t", "l", "w", "q", "r", "h"].map((f) => row[`${f}${i}`]);
    if (type === "real") return { sql: worker ? exactRealLiteral(real) : quoted };
    if (type === "text" && worker) return hex !== null ? { sql: `CAST(X'${hex}' AS TEXT)` } : { column: i, type, bytes };
    if (quoted !== null) return { sql: quoted };
    return { column: i, type, bytes }; // large: in pieces
  });
  // Values that together still make the INSERT too long go in pieces too, the largest first (by bytes:
  // an independent check found rows of many 2.7 KB CJK values that a count of characters let through).
  const head = encoder.encode(`INSERT INTO ${quoteIdent(table.name)} (${cols.map((c) => c.sql).join(", ")}) VALUES ();`).length;
  const bytesOf = (v) => (v.sql ? encoder.encode(v.sql).length : 160); // 160: the subquery that takes the pieces
  let size = values.reduce((n, v) => n + bytesOf(v) + 1, head);
  for (const v of [...values].filter((x) => x.sql && x.sql.length > 160).sort((a, b) => bytesOf(b) - bytesOf(a))) {
    if (size <= ROW_BYTES) break;
    const i = values.indexOf(v);
    size -= bytesOf(v) - 160;
    values[i] = { column: i, type: row[`t${i}`], bytes: row[`l${i}`] };
  }
  const statements = [];
  for (const v of values.filter((x) => x.column !== undefined)) {
    const column = cols[v.column].sql;
    const starts = [];
    for (let start = 1; start <= v.bytes; start += BLOB_PIECE_BYTES) starts.push(start);
    for (let i = 0; i < starts.length; i += PIECES_PER_QUERY) {
      const group = starts.slice(i, i + PIECES_PER_QUERY);
      const pieces = await db.prepare(`SELECT ${group.map((start, j) =>
        `hex(substr(CAST(${column} AS BLOB), ${start}, ${BLOB_PIECE_BYTES})) AS p${j}`).join(", ")} ${from}`).all();
      invocation.spend();
      if (!pieces.results.length) return null;
      group.forEach((_, j) => statements.push(`INSERT INTO ${PIECES} (c, v) VALUES (${v.column}, X'${pieces.results[0][`p${j}`]}');\n`));
    }
    // The bytes, put back together in order and given their type back, byte for byte.
    v.sql = `(SELECT CAST(group_concat(v, '' ORDER BY n) AS ${v.type === "blob" ? "BLOB" : "TEXT"}) FROM ${PIECES} ` +
      `WHERE c = ${v.column})`;
  }
  statements.push(`INSERT INTO ${quoteIdent(table.name)} (${cols.map((c) => c.sql).join(", ")}) VALUES (` +
    `${values.map((v) => v.sql).join(",")});\n`);
  if (statements.length > 1) statements.push(`DELETE FROM ${PIECES};\n`);
  for (const statement of statements) {
    if (encoder.encode(statement).length > STATEMENT_BYTES) {
      throw new TableFailure(`${where}: the row with key ${clip(keyLiterals.join(", "))} needs a statement over D1's ` +
        `${STATEMENT_BYTES}-byte limit even with its values in pieces (its table and column names are too long)`);
    }
  }
  return statements.join("");
}

// ---------------------------------------------------------------------------------------------------
// Export of one table

async function exportTable(env, state, entry, table, invocation) {
  const db = env[entry.binding];
  const where = `${entry.name}.${table.name}`;
  const { partBytes, pageRows } = state.settings;
  // The object is named by the invocation that creates it (the multipart upload, or the single put), so
  // an invocation that takes over never writes a key its dead predecessor may have written: R2 would
  // refuse the overwrite of a locked key.
  const newObject = () => `tables/${String(table.index).padStart(4, "0")}.${invocation.name}.sql`;
  if (invocation.takeover && table.uploadId && (await env.BACKUPS.head(`${entry.prefix}/${table.object}`))) {
    // The invocation that died completed this table's upload after its checkpoint: the checkpoint no
    // longer describes that object, so the table starts over in a new one (the other stays, locked and unlisted).
    console.log(`${where}: completed by an invocation that died; exporting it again`);
    Object.assign(table, { cursor: null, rows: 0, bytes: 0, uploadId: null, parts: [], carryKey: null,
      object: null, nextRows: undefined });
  }
  const key = () => `${entry.prefix}/${table.object}`;
  let pending = [];
  let pendingBytes = 0;
  if (table.carryKey) {
    const carried = await env.BACKUPS.get(table.carryKey);
    invocation.spend();
    if (!carried) throw new Error(`${where}: the carried bytes of the previous invocation are missing`);
    const bytes = new Uint8Array(await carried.arrayBuffer());
    pending = [bytes];
    pendingBytes = bytes.length;
  }
  const upload = () => (table.uploadId ? env.BACKUPS.resumeMultipartUpload(key(), table.uploadId) : null);

  // One part is uploaded while the next page is read; it is settled before the run yields or completes,
  // so the run state never records a part that is not stored.
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
        table.object = newObject();
        const created = await env.BACKUPS.createMultipartUpload(key());
        invocation.spend();
        table.uploadId = created.uploadId;
        await invocation.recordUpload(key(), created.uploadId); // known, so it can be aborted after a crash
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

  const append = (sql) => {
    const bytes = encoder.encode(sql);
    pending.push(bytes);
    pendingBytes += bytes.length;
    table.bytes += bytes.length;
  };

  // One query per page: SQLite renders the rows as one string of INSERT statements. D1 strings stop at
  // 2 MB (SQLITE_TOOBIG), so the row count of the next page is estimated from the last one to fill about
  // pageBytes; a page too big anyway is retried with a quarter of the rows.
  async function readPage() {
    for (;;) {
      const limit = table.nextRows ?? Math.min(pageRows, WORKER_ROWS_PER_PAGE); // the first page learns the row size
      try {
        return (await db.prepare(pageQuery(table, limit)).all()).results[0];
      } catch (err) {
        if (!/TOOBIG|too big/i.test(String(err?.message ?? err)) || limit === 1) {
          throw new TableFailure(`${where}: reading the rows after key ${clip(table.cursor?.join(", ") ?? "(start)")} ` +
            `failed: ${err?.message ?? err}`);
        }
        table.nextRows = Math.max(1, Math.floor(limit / 4));
        table.pagesRetried = (table.pagesRetried ?? 0) + 1;
      } finally {
        invocation.spend();
      }
    }
  }

  while (table.bound) {
    if (invocation.exhausted) {
      // Yield: keep the bytes not yet in a part, and continue in the next invocation.
      await settle();
      table.carryKey = `${carryPrefix(state.id, entry.name, table.index)}${invocation.name}`;
      await env.BACKUPS.put(table.carryKey, concat(pending, pendingBytes)); // removed when the run ends
      return false;
    }
    const bytesBefore = table.bytes;
    const page = await readPage();
    if (!page.n) break;
    if (page.keyInexact) {
      // The cursor is carried as quote()'s literal: one that is not exact could skip or repeat rows.
      throw new TableFailure(`${where}: a primary key value after key ${clip(table.cursor?.join(", ") ?? "(start)")} ` +
        "is a REAL that quote() cannot write exactly, so the table cannot be paged by its key; give it an INTEGER " +
        "or TEXT primary key");
    }
    if (page.sql) append(page.sql);
    let rows = page.n;
    if (page.last.length > KEY_LITERAL_CHARS) throw new TableFailure(keyTooLong(entry, table));
    const large = JSON.parse(page.large);
    for (const keyJson of large) { // at most about WORKER_ROWS_PER_PAGE once sized
      let sql;
      try {
        sql = await workerRowSql(db, table, JSON.parse(keyJson), invocation, where);
      } catch (err) {
        if (err instanceof TableFailure || err instanceof Superseded) throw err;
        throw new TableFailure(`${where}: the row with key ${clip(JSON.parse(keyJson).join(", "))} could not be read: ` +
          `${err?.message ?? err}`);
      }
      if (sql === null) rows -= 1;
      else append(sql);
    }
    table.rows += rows;
    table.cursor = JSON.parse(page.last);
    table.nextRows = nextPageRows(state.settings, page.n, table.bytes - bytesBefore, large.length);
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
    table.object = newObject();
    await env.BACKUPS.put(key(), all);
    table.parts = [{ sha256: await sha256Hex(all) }];
  }
  invocation.spend();
  entry.objects[table.object] = { bytes: table.bytes, chunkBytes: partBytes, chunks: table.parts.map((p) => p.sha256) };
  // The source's rows at the bound now: with the count at the start, it tells a quiet table (both equal:
  // the export must have exactly that many rows) from one written during the run.
  if (table.bound) {
    const end = await db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(table.name)} WHERE ` +
      keyCondition(table, "<=", table.bound)).all();
    invocation.spend();
    table.sourceRowsAtEnd = end.results[0].n;
  } else table.sourceRowsAtEnd = table.sourceRows;
  table.done = true;
  table.carryKey = null;
  return true;
}

/** A table whose export failed: its upload is aborted, the failure recorded, the others go on. */
async function failTable(env, entry, table, err) {
  table.failed = String(err?.message ?? err);
  table.done = true;
  if (table.uploadId) {
    try {
      await env.BACKUPS.resumeMultipartUpload(`${entry.prefix}/${table.object}`, table.uploadId).abort();
    } catch (abortErr) {
      console.error(`abort of ${table.object} failed: ${abortErr}`);
    }
  }
  table.uploadId = null;
  table.carryKey = null;
}

/** The per-table record of the manifest: where the rows are, how many, and how many the source had. */
export function tableRecord(table) {
  const record = { index: table.index, object: table.object, key: (table.key ?? []).map((k) => k.name), rows: table.rows,
    sourceRows: table.sourceRows, sourceRowsAtEnd: table.sourceRowsAtEnd ?? table.sourceRows };
  if (table.external) Object.assign(record, { object: null, rows: 0, external: true });
  if (table.failed) record.failed = table.failed;
  return record;
}

/** Why a table's export cannot be trusted, or null: a table nobody wrote to during the run (the same
 *  count at the start and at the end) must have exactly that many rows in its export. */
export function countProblem(name, record) {
  if (record.failed || record.external) return null;
  if (record.sourceRows === record.sourceRowsAtEnd && record.rows !== record.sourceRows) {
    return `table ${name}: ${record.rows} rows exported, but the source had ${record.sourceRows} at the bound ` +
      "and was not written during the run";
  }
  return null;
}

async function finishDatabase(env, state, entry, invocation) {
  const manifestKey = `${entry.prefix}/manifest.json`;
  const written = await env.BACKUPS.get(manifestKey);
  invocation.spend();
  if (written) {
    // An invocation that died after writing it finished this database: the manifest is locked, and kept.
    const manifest = JSON.parse(await written.text());
    Object.assign(entry, { phase: "done", complete: manifest.complete, failures: manifest.failures ?? [] });
    return;
  }
  const post = entry.post ? await putSmall(env, entry, `post.${invocation.name}.sql`, entry.post, invocation) : null;
  const tables = Object.fromEntries(entry.tables.map((t) => [t.name, tableRecord(t)]));
  const failures = entry.tables.filter((t) => t.failed).map((t) => ({ table: t.name, error: t.failed }));
  for (const [name, record] of Object.entries(tables)) {
    const problem = countProblem(name, record);
    if (problem) failures.push({ table: name, error: `${entry.name}: ${problem}` });
  }
  const manifest = {
    format: FORMAT,
    database: entry.name,
    backupId: state.id,
    createdAt: state.startedAt,
    completedAt: new Date(Date.now()).toISOString(),
    consistency: "every row that exists for the whole run appears exactly once, keyed by its primary key (or rowid), " +
      "as of its page read; rows inserted or deleted during the run may or may not appear",
    complete: failures.length === 0,
    failures,
    // What a restore loads, in this order: the tables, their rows (parents before children), then post.
    load: [entry.schema, ...entry.tables.filter((t) => !t.failed && !t.external).map((t) => t.object),
      ...(post ? [post] : [])],
    tables,
    objects: entry.objects,
  };
  await invocation.fence();
  await env.BACKUPS.put(manifestKey, JSON.stringify(manifest, null, 2));
  Object.assign(entry, { phase: "done", complete: manifest.complete, failures });
}

async function advance(env, state, invocation) {
  for (const entry of state.databases) {
    if (entry.phase === "done" || entry.phase === "failed") continue;
    try {
      if (entry.phase === "pending") await startDatabase(env, state, entry, invocation);
      for (const table of entry.tables) {
        if (table.done) continue;
        try {
          if (!(await exportTable(env, state, entry, table, invocation))) return false;
        } catch (err) {
          if (!(err instanceof TableFailure)) throw err;
          await failTable(env, entry, table, err);
        }
      }
      await finishDatabase(env, state, entry, invocation);
    } catch (err) {
      if (err instanceof Superseded) throw err;
      // The database fails alone: what it wrote stays under backups/ without a complete manifest.
      console.error(`${entry.name}: ${err?.stack ?? err}`);
      entry.phase = "failed";
      entry.error = String(err?.message ?? err);
      for (const table of entry.tables ?? []) if (!table.done) await failTable(env, entry, table, err);
    }
    invocation.spend();
    if (invocation.exhausted) return state.databases.every((d) => d.phase === "done" || d.phase === "failed");
  }
  return true;
}

/** Multipart uploads of the run that no finished table holds. */
async function abortUploads(env, state) {
  const tables = state.databases.flatMap((d) => (d.tables ?? []).map((t) => ({ ...t, key: `${d.prefix}/${t.object}` })));
  const kept = new Set(tables.filter((t) => t.done && !t.failed).map((t) => t.uploadId));
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

/** Clean up after failed or abandoned runs: abort their uploads and delete their run data (runs/).
 *  Objects under backups/ are never deleted (the bucket lock refuses it): a backup without a complete
 *  manifest is never restored, and the lifecycle rule removes it with the others. */
export async function cleanUp(env, currentId) {
  const listed = await env.BACKUPS.list({ prefix: "runs/", delimiter: "/" });
  for (const object of listed.objects) {
    const id = object.key.slice("runs/".length, -".json".length);
    if (id === currentId) continue;
    const state = JSON.parse(await (await env.BACKUPS.get(object.key)).text());
    if (state.status === "complete" || state.status === "cleaned") continue;
    await abortUploads(env, state);
    await deletePrefix(env, `runs/${id}/`);
    if (state.status === "running") {
      const unfinished = state.databases.filter((d) => d.phase !== "done").map((d) => d.name);
      await alert(env, "critical", `backup run ${id} never finished; no complete manifest exists for ` +
        `${unfinished.join(", ") || "any database"} of that run. Its unfinished uploads were aborted.`);
    }
    state.status = "cleaned";
    await saveState(env, state);
  }
}

/** One alert per database that did not back up completely, naming its tables and the reason. */
async function reportDatabases(env, state) {
  for (const entry of state.databases) {
    if (entry.phase === "failed") {
      await alert(env, "critical", `backup run ${state.id}: database ${entry.name} failed: ${entry.error}. ` +
        "Its backup has no complete manifest and will not be restored; the other databases are unaffected.");
    } else if (entry.complete === false) {
      await alert(env, "critical", `backup run ${state.id}: database ${entry.name} is incomplete: ` +
        `${entry.failures.map((f) => f.error).join("; ")}. Its manifest says complete: false; the other ` +
        "tables and databases were backed up.");
    }
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
      await reportDatabases(env, state);
      await reportToMonitor(env, state); // never throws: an unreachable monitor is logged, the backup stands
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
    await alert(env, "critical", `backup run ${state.id} failed: ${state.error}. No complete manifest was written ` +
      `for ${unfinished.join(", ") || "any database"}; the next run starts clean.`);
  }
  return state;
}

export async function startBackup(env, scheduledTime) {
  const id = backupId(scheduledTime);
  const state = {
    id, startedAt: new Date(scheduledTime).toISOString(), status: "running", settings: settings(env),
    invocations: 1, lease: null, uploads: [],
    databases: databaseBindings(env).map((binding) => ({
      binding, name: databaseName(binding), prefix: `${lockedPrefix(env)}${databaseName(binding)}/${id}`,
      phase: "pending", tables: [], objects: {},
    })),
  };
  let etag;
  try {
    await redeliverAlerts(env);
    await cleanUp(env, id);
    etag = await saveState(env, state);
  } catch (err) {
    await alert(env, "critical", `backup run ${id} could not start: ${err?.message ?? err}. No database was ` +
      `backed up (${state.databases.map((d) => d.name).join(", ")}); the next run starts clean.`);
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

/** Check an object against its manifest entry, reading it as a stream: at most one chunk (the part size,
 *  10 MiB) is held at a time, whatever the object's size (Workers have 128 MB). */
export async function verifyObject(bucket, key, meta) {
  const object = await bucket.get(key);
  if (!object) return `${key} is missing`;
  if (object.size !== meta.bytes) {
    await object.body.cancel();
    return `${key} has ${object.size} bytes, the manifest says ${meta.bytes}`;
  }
  const chunk = new Uint8Array(Math.min(meta.chunkBytes, Math.max(meta.bytes, 1)));
  let filled = 0;
  let index = 0;
  const reader = object.body.getReader();
  const check = async () => {
    const digest = await sha256Hex(chunk.subarray(0, filled));
    const problem = digest !== meta.chunks[index] ? `${key} chunk ${index + 1} fails its SHA-256` : null;
    index += 1;
    filled = 0;
    return problem;
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let offset = 0;
    while (offset < value.length) {
      const take = Math.min(value.length - offset, chunk.length - filled);
      chunk.set(value.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === chunk.length) {
        const problem = await check();
        if (problem) {
          await reader.cancel();
          return problem;
        }
      }
    }
  }
  if (filled > 0 || index === 0) {
    const problem = await check();
    if (problem) return problem;
  }
  return index === meta.chunks.length ? null : `${key} has ${index} chunks, the manifest lists ${meta.chunks.length}`;
}

export async function newestManifest(bucket, root) {
  const listed = await bucket.list({ prefix: root, delimiter: "/" });
  const ids = listed.delimitedPrefixes.map((p) => p.slice(root.length, -1)).sort().reverse();
  for (const id of ids) {
    const object = await bucket.get(`${root}${id}/manifest.json`);
    if (object) {
      const manifest = JSON.parse(await object.text());
      if (manifest.complete) return manifest;
    }
  }
  return null;
}

async function verifyDatabase(env, database, now, maxAgeHours) {
  const problems = [];
  const root = `${lockedPrefix(env)}${database}/`;
  const manifest = await newestManifest(env.BACKUPS, root);
  if (!manifest) return [`${database}: no complete backup exists`];
  const ageHours = (now - Date.parse(manifest.createdAt)) / 3.6e6;
  if (ageHours > maxAgeHours) {
    problems.push(`${database}: the newest complete backup (${manifest.backupId}) is ${ageHours.toFixed(1)} h old, ` +
      `more than the ${maxAgeHours} h the schedule allows`);
  }
  for (const [name, record] of Object.entries(manifest.tables ?? {})) {
    const problem = typeof record === "object" ? countProblem(name, record) : null;
    if (problem) problems.push(`${database}: ${problem}`);
  }
  for (const [name, meta] of Object.entries(manifest.objects)) {
    const problem = await verifyObject(env.BACKUPS, `${root}${manifest.backupId}/${name}`, meta);
    if (problem) problems.push(`${database}: ${problem}`);
  }
  return problems;
}

export async function verifyBackups(env, now) {
  const { maxAgeHours } = settings(env);
  const problems = [];
  try {
    await redeliverAlerts(env); // twice a day, not only with the next backup
  } catch (err) {
    problems.push(`undelivered alerts could not be read: ${err?.message ?? err}`);
  }
  for (const binding of databaseBindings(env)) {
    const database = databaseName(binding);
    try {
      problems.push(...(await verifyDatabase(env, database, now, maxAgeHours)));
    } catch (err) {
      // A verification that cannot finish is a failed verification, never a silent one.
      problems.push(`${database}: the verification itself failed: ${err?.message ?? err}`);
    }
  }
  if (problems.length) await alert(env, "critical", `backup verification failed: ${problems.join("; ")}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// Report to the monitor: at the end of a run, what the morning and weekly reports say about backups.
// The monitor serves a public page, so it is bound to neither the bucket nor the databases; this Worker,
// which has both, tells it over a service binding (MONITOR, workers/backup/worker.json `monitorBinding`)
// to the monitor's named entrypoint BackupReports (an RPC call: Cloudflare,
// workers/runtime-apis/bindings/service-bindings/rpc).

/** Per database: name, backup id, whether its manifest is complete, when the manifest was written (R2
 *  head's `uploaded`), the failed tables, and the database's size in bytes (`meta.size_after` of a D1
 *  result: "the size of the database after the query is successfully applied", d1/worker-api/return-object).
 *  Returns the monitor's answer, or null. Never throws: a monitor that cannot be reached is logged and the
 *  backup is not failed (the morning report then shows the backup as stale after 26 h). */
export async function reportToMonitor(env, state) {
  const monitor = env.MONITOR;
  if (!monitor) return null; // a stack without the monitor
  try {
    const databases = [];
    for (const entry of state.databases) {
      let sizeBytes = null;
      try {
        sizeBytes = (await env[entry.binding].prepare("SELECT 1").run()).meta?.size_after ?? null;
      } catch (err) {
        console.error(`${entry.name}: its size could not be read: ${err?.message ?? err}`);
      }
      let completedAt = null;
      if (entry.phase === "done") {
        const manifest = await env.BACKUPS.head(`${entry.prefix}/manifest.json`);
        completedAt = manifest?.uploaded ? new Date(manifest.uploaded).toISOString() : null;
      }
      const failures = new Set([...(entry.failures ?? []).map((f) => f.table),
        ...(entry.tables ?? []).filter((t) => t.failed).map((t) => t.name)]);
      databases.push({ name: entry.name, complete: entry.phase === "done" && entry.complete === true && completedAt !== null,
        completedAt, failures: [...failures], sizeBytes, error: entry.phase === "failed" ? String(entry.error) : null });
    }
    // Bounded: a monitor that does not answer must not hold the invocation (or its queue message) open.
    const seconds = 30;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${seconds} s`)), seconds * 1000);
    });
    try {
      return await Promise.race([monitor.record({ backupId: state.id, databases }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    console.error(`backup run ${state.id}: the report to the monitor failed: ${err?.message ?? err}`);
    return null;
  }
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
