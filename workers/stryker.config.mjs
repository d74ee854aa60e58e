// Stryker (mutation testing) for the backup Worker's safety logic: `make mutate-workers` at the top level,
// never part of `make test`. The mutated code runs inside workerd, a separate process: the command runner
// puts the active mutant in __STRYKER_ACTIVE_MUTANT__, test/helpers.mjs passes it to the Worker as a binding
// of the same name, and test/chaos-entry.mjs sets it where Stryker's mutant switch reads it
// (globalThis.__stryker__.activeMutant) before it calls the Worker. Without the variable nothing changes.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PluginKind, declareValuePlugin } from "@stryker-mutator/api/plugin";

const WORKER = "backup/index.js";
const lines = readFileSync(new URL(`./${WORKER}`, import.meta.url), "utf8").split("\n");

/** The lines of a top-level function or class, found by its name, so the scope follows the code when lines
 *  move; only the lines from the one containing `from` to the one containing `to` when part of it is in scope.
 *  Throws when a name or an anchor is gone: a renamed function must not drop out of the scope unnoticed. */
function range(name, from = null, to = null) {
  const start = lines.findIndex((l) => new RegExp(`^(export )?(async )?(function|class) ${name}\\b`).test(l));
  if (start < 0) throw new Error(`stryker.config.mjs: ${WORKER} has no top-level function or class ${name}`);
  const end = lines.findIndex((l, i) => i > start && l === "}");
  const find = (text) => {
    const at = lines.findIndex((l, i) => i >= start && i < end && l.includes(text));
    if (at < 0) throw new Error(`stryker.config.mjs: ${name} in ${WORKER} has no line containing ${JSON.stringify(text)}`);
    return at;
  };
  return `${WORKER}:${(from ? find(from) : start) + 1}-${(to ? find(to) : end) + 1}`;
}

// What must hold for a backup to be restorable, or for a bad one to be refused (the header of backup/index.js
// and the README's "Backups"):
export const SCOPE = [
  // The lease: one invocation per continuation, a taken-over invocation stops at its next write, a copy of a
  // finished continuation is ignored. `Invocation` holds the conditional writes (save, fence) and the budget. Its
  // recordUpload is left out: it only lets a later run abort an upload that a dead invocation left open (R2 aborts
  // those after 7 days anyway), which no binding can list, and it needs a table over one 5 MiB part
  // (backup-faults.test.mjs covers a death right after an upload starts).
  ["claim"], ["saveState"], ["loadState"], ["Invocation", null, "this.state = state;"],
  ["Invocation", "Before what must never be done twice", null], ["continueRun"], ["resumeBackup"], ["startBackup"],
  // The manifest: written last, complete only when every table is whole, its counts and checksums.
  ["putSmall"], ["finishDatabase"], ["tableRecord"], ["countProblem"],
  // startDatabase: the one batch that fixes every table's bound and row count, and each table's entry (its
  // bound, or why it fails). The schema and post.sql text between them is left to the restore tests.
  ["startDatabase", "const exportable", "const sequences"], ["startDatabase", "entry.tables = tables.map", "entry.post ="],
  // What a restore loads: the rows between cursor and bound, exactly once, in an order that loads, with exact REALs.
  ["keyCondition"], ["pageQuery"], ["boundQuery"], ["loadOrder"], ["exactRealLiteral"],
  // Verification: a missing, stale, corrupted or incomplete backup is reported, never the newest good one missed.
  ["verifyObject"], ["newestManifest"], ["verifyDatabase"],
];

/** Log lines are read by people, not by a restore: mutants of console.* calls are not made. (Alerts are. They
 *  go through alert(), and their text is what the on-call reads.) */
export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, "console", {
  shouldIgnore(path) {
    const callee = path.isExpressionStatement() && path.node.expression.type === "CallExpression" && path.node.expression.callee;
    return callee?.type === "MemberExpression" && callee.object.name === "console" ? "a log line, not behaviour" : undefined;
  },
})];

const stacks = fileURLToPath(new URL("../stacks", import.meta.url));
// Stryker splits the build command at spaces and runs it without a shell: no quoting is possible.
if (/\s/.test(stacks)) throw new Error(`stryker.config.mjs: the path ${stacks} has a space; move the checkout`);

export default {
  testRunner: "command",
  commandRunner: { command: "node --test test/backup-safety.test.mjs" },
  mutate: SCOPE.map((where) => range(...where)),
  plugins: ["@stryker-mutator/*", fileURLToPath(import.meta.url)],
  ignorers: ["console"],
  coverageAnalysis: "off", // the command runner cannot see which test reaches a mutant (it runs in workerd)
  concurrency: 1,
  // The tests read the approved plan's lock rules from ../../stacks (test/helpers.mjs planLockRules): the
  // sandbox is .stryker-tmp/sandbox-*/, so ../stacks beside it points at the repository's.
  buildCommand: `ln -sfn ${stacks} ../stacks`,
  ignorePatterns: ["test-output", "reports"],
  reporters: ["json", "clear-text", "progress"],
  fileLogLevel: "info", // stryker.log: mutation/results-workers.mjs reads the run's times from it
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  // A mutant that loops for ever hangs the Worker: it counts as killed once it takes this much longer.
  timeoutMS: 15_000,
  timeoutFactor: 2,
  thresholds: { high: 95, low: 90, break: null },
};
