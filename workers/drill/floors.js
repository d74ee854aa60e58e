// Benchmark only (never deployed): the two halves of a backup on the local runtime, measured apart, so
// bench/results-backup.md can say where the backup Worker's time goes.
//   GET /read           -> every table of DB_CORE read page by page with the backup Worker's own query, nothing written
//   GET /write?bytes=N  -> N bytes written to BACKUPS in multipart parts of the backup Worker's part size
import { databaseBindings, insertExpression, nextPageRows, pageQuery, settings } from "../backup/index.js";

const TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'";

async function readAll(env) {
  const config = settings(env);
  let bytes = 0;
  let queries = 0;
  for (const binding of databaseBindings(env)) {
    const db = env[binding];
    for (const { name } of (await db.prepare(TABLES).all()).results) {
      const columns = (await db.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid").bind(name).all()).results;
      const query = pageQuery(name, insertExpression(name, columns.map((c) => c.name)));
      let cursor = 0;
      let rows = Math.min(config.pageRows, 1000);
      for (;;) {
        const page = (await db.prepare(query).bind(cursor, Number.MAX_SAFE_INTEGER, rows).all()).results[0];
        queries += 1;
        if (!page.n) break;
        const size = new TextEncoder().encode(page.sql).length;
        bytes += size;
        cursor = page.last;
        rows = nextPageRows(config, page.n, size);
      }
    }
  }
  return { bytes, queries };
}

async function writeBytes(env, total) {
  const { partBytes } = settings(env);
  const part = new Uint8Array(partBytes).fill(73);
  const upload = await env.BACKUPS.createMultipartUpload("floor/write-test");
  const parts = [];
  for (let written = 0; written < total; written += partBytes) {
    parts.push(await upload.uploadPart(parts.length + 1, part.subarray(0, Math.min(partBytes, total - written))));
  }
  await upload.complete(parts);
  await env.BACKUPS.delete("floor/write-test");
  return { bytes: total, parts: parts.length };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/read") return Response.json(await readAll(env));
    if (url.pathname === "/write") return Response.json(await writeBytes(env, Number(url.searchParams.get("bytes"))));
    return new Response("unknown path", { status: 400 });
  },
};
