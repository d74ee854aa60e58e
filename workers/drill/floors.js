// Benchmark only (never deployed): the halves of a backup on the local runtime, measured apart, so
// bench/results-backup.md can say where the backup Worker's time goes.
//   GET /read[?gzip=1]  -> every table of DB_CORE read page by page with the backup Worker's own query, nothing
//                          written (with gzip=1, each page also goes through the runtime's CompressionStream)
//   GET /write?bytes=N  -> N bytes written to BACKUPS in multipart parts of the backup Worker's part size
import { boundQuery, databaseBindings, nextPageRows, pageQuery, settings, tablesOf } from "../backup/index.js";

async function gzipSize(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

async function readAll(env, gzip) {
  const config = settings(env);
  let bytes = 0;
  let compressed = 0;
  let queries = 0;
  for (const binding of databaseBindings(env)) {
    const db = env[binding];
    for (const table of (await tablesOf(db)).tables.filter((t) => t.key)) {
      const bound = (await boundQuery(db, table).first())?.k;
      if (!bound) continue;
      Object.assign(table, { bound: JSON.parse(bound), cursor: null });
      let rows = Math.min(config.pageRows, 1000);
      for (;;) {
        const page = (await db.prepare(pageQuery(table, rows)).all()).results[0];
        queries += 1;
        if (!page.n) break;
        const encoded = new TextEncoder().encode(page.sql ?? "");
        bytes += encoded.length;
        if (gzip) compressed += await gzipSize(encoded);
        table.cursor = JSON.parse(page.last);
        rows = nextPageRows(config, page.n, encoded.length);
      }
    }
  }
  return { bytes, compressed, queries };
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
    if (url.pathname === "/read") return Response.json(await readAll(env, url.searchParams.get("gzip") === "1"));
    if (url.pathname === "/write") return Response.json(await writeBytes(env, Number(url.searchParams.get("bytes"))));
    return new Response("unknown path", { status: 400 });
  },
};
