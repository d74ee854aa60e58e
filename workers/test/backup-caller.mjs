// Test harness only (never deployed): calls the monitor's BackupReports entrypoint the way the backup Worker
// does, over the service binding workers/backup/worker.json names (`monitorBinding`), through the backup
// Worker's own reportToMonitor. POST {state} reports a run's state; POST {raw} sends any value to record()
// as a caller that does not go through reportToMonitor would.
import { reportToMonitor } from "../backup/index.js";

export default {
  async fetch(request, env) {
    const body = await request.json();
    if ("raw" in body) {
      try {
        return Response.json({ ok: true, result: await env.MONITOR.record(body.raw) });
      } catch (err) {
        return Response.json({ ok: false, error: String(err?.message ?? err) });
      }
    }
    return Response.json({ ok: true, result: await reportToMonitor(env, body.state) });
  },
};
