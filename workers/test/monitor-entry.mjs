// Test harness only (never deployed): the entry of the monitor Worker tests. The test drives it on a clock
// it controls: POST /__drive {cron, time, failWrites} runs a cron event at `time`; any other request is
// answered as of the `x-test-now` header. Probe latency comes from the fake endpoint's `x-test-latency-ms`
// header (timing.latency), so a loaded machine cannot make a probe slow. `failWrites` makes every D1 write
// of that run fail, as when the monitor's database is broken.
import { handleRequest, handleScheduled, timing } from "../monitor/index.js";

// The named entrypoint the backup Worker calls, exported from the entry module as in production.
export { BackupReports } from "../monitor/index.js";

timing.start = () => 0;
timing.latency = (_started, response) => Number(response?.headers.get("x-test-latency-ms") ?? 0);

const WRITE = /^\s*(INSERT|UPDATE|DELETE|CREATE)/i;

function failingStatement(sql) {
  const fail = async () => { throw new Error(`D1_ERROR: injected write failure: ${sql.slice(0, 40)}`); };
  const statement = { bind: () => statement, run: fail, all: fail, first: fail, raw: fail };
  return statement;
}

function failingWrites(db) {
  return {
    prepare: (sql) => (WRITE.test(sql) ? failingStatement(sql) : db.prepare(sql)),
    batch: async () => { throw new Error("D1_ERROR: injected write failure (batch)"); },
    exec: async () => { throw new Error("D1_ERROR: injected write failure (exec)"); },
  };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/__drive" && request.method === "POST") {
      const { cron, time, failWrites = false } = await request.json();
      const runEnv = failWrites ? { ...env, MONITOR_DB: failingWrites(env.MONITOR_DB) } : env;
      try {
        return Response.json({ ok: true, result: await handleScheduled(cron, runEnv, time) ?? null });
      } catch (err) {
        return Response.json({ ok: false, error: String(err?.message ?? err) });
      }
    }
    return handleRequest(request, env, Number(request.headers.get("x-test-now")));
  },
};
