// The local runtime's D1 databases and R2 bucket over HTTP, for the drill driver and the Worker tests (never
// deployed). Why: miniflare's Node-side proxies (getD1Database, getR2Bucket) make some calls synchronous: every
// D1 prepare() and bind(), and the first call on every object R2 returns. A synchronous call blocks Node on
// an Atomics handle, then reads a message port; on a starved machine the message was not there yet and
// miniflare failed an assertion (`message?.id === id`); during backup invocations of a few seconds workerd
// also closed the proxy connection ("fetch failed: other side closed"). A plain dispatchFetch is asynchronous.
//   GET /object/<key>               -> the object's bytes (404 if missing)
//   PUT /object/<key>               -> stores the request body
//   DELETE /object/<key>            -> deletes it
//   GET /list?prefix=...&cursor=... -> {keys: [{key, size}], cursor}
//   POST /d1 {worker, binding, mode, statements: [{sql, params, column, options}]}
//        -> what D1 answers: run, all, first, raw on the one statement, batch on them all, or exec; an error
//           is HTTP 500 with D1's message. D1_BINDINGS maps "<worker>/<binding>" to this Worker's own binding.
import { decodeParams } from "./d1-values.js";

const MODES = new Set(["run", "all", "first", "raw", "batch", "exec"]);

async function d1(request, env) {
  const { worker, binding, mode, statements } = await request.json();
  const db = env[env.D1_BINDINGS[`${worker ?? env.DEFAULT_WORKER}/${binding}`]];
  if (!db) return new Response(`no D1 database bound as ${binding} on ${worker ?? env.DEFAULT_WORKER}`, { status: 400 });
  if (!MODES.has(mode)) return new Response(`unknown mode ${mode}`, { status: 400 });
  try {
    if (mode === "exec") return Response.json(await db.exec(statements[0].sql));
    const prepared = statements.map(({ sql, params }) => db.prepare(sql).bind(...decodeParams(params)));
    if (mode === "batch") return Response.json(await db.batch(prepared));
    const [{ column, options }] = statements;
    return Response.json(mode === "first" ? await prepared[0].first(column)
      : mode === "raw" ? await prepared[0].raw(options) : await prepared[0][mode]());
  } catch (error) {
    return new Response(String(error?.message ?? error), { status: 500 });
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/d1" && request.method === "POST") return d1(request, env);
    if (url.pathname.startsWith("/object/")) {
      const key = decodeURIComponent(url.pathname.slice("/object/".length));
      if (request.method === "PUT") {
        await env.BACKUPS.put(key, await request.arrayBuffer());
        return new Response("stored");
      }
      if (request.method === "DELETE") {
        await env.BACKUPS.delete(key);
        return new Response("deleted");
      }
      const object = await env.BACKUPS.get(key);
      return object ? new Response(object.body, { headers: { "content-length": String(object.size) } })
        : new Response("not found", { status: 404 });
    }
    if (url.pathname === "/list") {
      const page = await env.BACKUPS.list({ prefix: url.searchParams.get("prefix") ?? "",
        cursor: url.searchParams.get("cursor") || undefined });
      return Response.json({ keys: page.objects.map((o) => ({ key: o.key, size: o.size })),
        cursor: page.truncated ? page.cursor : null });
    }
    return new Response("unknown path", { status: 400 });
  },
};
