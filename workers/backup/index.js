// Parsify backup Worker: on its cron event, exports every bound D1 database (bindings named
// DB_<NAME>) to the R2 bucket bound as BACKUPS.
//
// Layout of one backup:  backups/<database>/<backup id>/schema.sql
//                        backups/<database>/<backup id>/tables/<table>.sql
//                        backups/<database>/<backup id>/manifest.json   <- written last
// A backup without manifest.json is incomplete and must never be restored.
//
// Consistency: all reads of one database run in a single DB.batch(), which D1 executes as one
// transaction, so the export is a point-in-time snapshot of that database even under concurrent
// writes. Databases are exported one after the other (no cross-database snapshot).

const encoder = new TextEncoder();

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

function sqlLiteral(value) {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "NULL";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return value ? "1" : "0";
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value) || Array.isArray(value)) {
    const bytes = Array.isArray(value) ? value : new Uint8Array(value.buffer ?? value);
    return `X'${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}'`;
  }
  return `'${String(value).replaceAll("'", "''")}'`;
}

export function insertStatements(table, rows) {
  if (rows.length === 0) return "";
  const columns = Object.keys(rows[0]);
  const head = `INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(", ")}) VALUES `;
  return rows.map((row) => `${head}(${columns.map((c) => sqlLiteral(row[c])).join(", ")});\n`).join("");
}

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const SCHEMA_QUERY =
  "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL " +
  "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type = 'table' DESC, name";

export async function exportDatabase(db, bucket, prefix) {
  const tables = (
    await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' " +
      "AND name NOT LIKE '_cf_%' ORDER BY name").all()
  ).results.map((r) => r.name);
  // One batch = one transaction = one consistent snapshot of schema and rows.
  const results = await db.batch([
    db.prepare(SCHEMA_QUERY),
    ...tables.map((t) => db.prepare(`SELECT * FROM ${quoteIdent(t)}`)),
  ]);
  // Deferred foreign keys let a restore load tables in any order inside its transaction.
  const schemaSql = "PRAGMA defer_foreign_keys = on;\n" + results[0].results.map((r) => `${r.sql};\n`).join("");
  const objects = {};
  const put = async (key, body) => {
    await bucket.put(`${prefix}/${key}`, body);
    objects[key] = { sha256: await sha256(body), bytes: encoder.encode(body).length };
  };
  await put("schema.sql", schemaSql);
  const tableCounts = {};
  for (const [i, table] of tables.entries()) {
    const rows = results[i + 1].results;
    await put(`tables/${table}.sql`, insertStatements(table, rows));
    tableCounts[table] = rows.length;
  }
  return { tables: tableCounts, objects };
}

export async function runBackup(env, scheduledTime) {
  const id = backupId(scheduledTime);
  const report = [];
  for (const binding of databaseBindings(env)) {
    const database = databaseName(binding);
    const prefix = `backups/${database}/${id}`;
    const { tables, objects } = await exportDatabase(env[binding], env.BACKUPS, prefix);
    const manifest = {
      format: "parsify-d1-backup/1",
      database,
      backupId: id,
      createdAt: new Date(scheduledTime).toISOString(),
      consistency: "single-transaction snapshot per database",
      tables,
      objects,
      complete: true,
    };
    await env.BACKUPS.put(`${prefix}/manifest.json`, JSON.stringify(manifest, null, 2));
    report.push({ database, prefix, tables });
  }
  return report;
}

export default {
  async scheduled(event, env, ctx) {
    ctx.waitUntil(runBackup(env, event.scheduledTime).then((report) => console.log(JSON.stringify(report))));
  },
};
