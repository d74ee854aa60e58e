// Parsify API edge Worker (thin entry point): health endpoint backed by the D1 binding.
// The product routes are deployed by the application pipeline; infrastructure owns the
// bindings, secrets and this health contract that the health checks and monitors probe.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") {
      const started = Date.now();
      try {
        await env.DB.prepare("SELECT 1").first();
        return Response.json({ status: "ok", db_ms: Date.now() - started, environment: env.ENVIRONMENT });
      } catch (err) {
        return Response.json({ status: "degraded", error: String(err) }, { status: 503 });
      }
    }
    return Response.json({ error: "not found" }, { status: 404 });
  },
};
