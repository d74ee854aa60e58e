// Read-only view of the BACKUPS bucket over HTTP, for the drill driver and the Worker tests (never deployed).
// Why: miniflare's Node-side R2 proxy makes the first call on every returned object synchronous, blocking
// Node while workerd runs a backup invocation; during invocations of a few seconds workerd then closed the
// proxy connection ("fetch failed: other side closed"). A plain fetch to this Worker is asynchronous.
//   GET /object/<key>               -> the object's bytes (404 if missing)
//   GET /list?prefix=...&cursor=... -> {keys: [{key, size}], cursor}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/object/")) {
      const object = await env.BACKUPS.get(decodeURIComponent(url.pathname.slice("/object/".length)));
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
