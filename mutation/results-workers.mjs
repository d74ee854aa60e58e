// The second step of `make mutate-workers`: reads Stryker's report (workers/reports/mutation/mutation.json) and
// log (workers/stryker.log), and the reviewed equivalent mutants (mutation/equivalent-workers.json), and writes
// mutation/results-workers.md: the score, counts per function, every survivor with its change, the equivalents
// with their reasons, and the run's times. Exits 1 when fewer than 90 % of the non-equivalent mutants are killed.
//
// A mutant is named by what it changes, not by Stryker's numeric id (which changes with every edit of the
// file): "function: Mutator: original -> replacement"; when the same change occurs more than once in a function,
// " @ <its line>" follows, and " #n" if that is not enough.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const GOAL = 90;
const root = new URL("../", import.meta.url);
const read = (path) => readFileSync(new URL(path, root), "utf8");
const report = JSON.parse(read("workers/reports/mutation/mutation.json"));
// {"equivalent": {key: reason}, "survivors": {key: why it is not killed yet}}: the second only annotates.
const { equivalent: equivalents, survivors: notes = {} } = JSON.parse(read("mutation/equivalent-workers.json"));
const log = existsSync(new URL("workers/stryker.log", root)) ? read("workers/stryker.log") : "";

const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);

const flat = (text) => text.replace(/\s+/g, " ").trim();
const short = (text, max = 110) => (text.length <= max ? text : `${text.slice(0, max - 25)} … ${text.slice(-20)}`);

/** The top-level function or class each line belongs to (the scope in workers/stryker.config.mjs is made of them). */
function owners(lines) {
  const owner = [];
  let current = null;
  lines.forEach((line, i) => {
    const start = /^(?:export )?(?:async )?(?:function|class) (\w+)/.exec(line);
    if (start) current = start[1];
    owner[i + 1] = current;
    if (line === "}") current = null;
  });
  return owner;
}

/** The source text a mutant replaces (the report's locations count lines and columns from 1). */
function original(lines, { start, end }) {
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1);
  return [lines[start.line - 1].slice(start.column - 1), ...lines.slice(start.line, end.line - 1),
    lines[end.line - 1].slice(0, end.column - 1)].join("\n");
}

const mutants = [];
for (const [file, { source, mutants: fileMutants }] of Object.entries(report.files)) {
  const lines = source.split("\n");
  const owner = owners(lines);
  const described = [...fileMutants].sort((a, b) => a.location.start.line - b.location.start.line ||
    a.location.start.column - b.location.start.column).map((m) => {
    const fn = owner[m.location.start.line] ?? "(top level)";
    const from = flat(original(lines, m.location));
    const to = flat(m.replacement ?? "");
    return { m, fn, from, to, base: `${fn}: ${m.mutatorName}: ${short(from)} -> ${short(to)}`,
      at: short(flat(lines[m.location.start.line - 1]), 90) };
  });
  const repeated = (list, key) => list.filter((d) => key(d) === key(list[0])).length > 1;
  const seen = new Map();
  for (const d of described) {
    const same = described.filter((x) => x.base === d.base);
    let key = same.length > 1 ? `${d.base} @ ${d.at}` : d.base;
    if (same.length > 1 && repeated(same.filter((x) => x.at === d.at), (x) => x.at)) {
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      key = `${key} #${n}`;
    }
    mutants.push({ key, fn: d.fn, file, line: d.m.location.start.line, status: d.m.status, reason: d.m.statusReason,
      from: d.from, to: d.to, mutator: d.m.mutatorName });
  }
}

// A run scoped by hand (`npx stryker run stryker.config.mjs --mutate "backup/index.js:254-254"`, to re-check a few
// survivors) covers part of the scope: its report must not replace the record of the whole run.
const { SCOPE } = await import("../workers/stryker.config.mjs");
const unmutated = [...new Set(SCOPE.map(([fn]) => fn))].filter((fn) => !mutants.some((m) => m.fn === fn));
if (unmutated.length) {
  console.error(`mutation/results-workers.mjs: the report has no mutant of ${unmutated.join(", ")}: it is a scoped ` +
    "run (--mutate), so mutation/results-workers.md is left as it is; Stryker's own report is in workers/reports/");
  process.exit(2);
}

const keys = new Set(mutants.map((m) => m.key));
const stale = [...Object.keys(equivalents), ...Object.keys(notes)].filter((k) => !keys.has(k));
for (const m of mutants) {
  if (UNDETECTED.has(m.status) && equivalents[m.key]) m.equivalent = equivalents[m.key];
  if (DETECTED.has(m.status) && equivalents[m.key]) m.wronglyEquivalent = true; // a test tells it apart after all
}
const count = (list, test) => list.filter(test).length;
const tally = (list) => ({
  mutants: list.length,
  killed: count(list, (m) => m.status === "Killed"),
  timeout: count(list, (m) => m.status === "Timeout"),
  survived: count(list, (m) => UNDETECTED.has(m.status) && !m.equivalent),
  equivalent: count(list, (m) => m.equivalent),
  ignored: count(list, (m) => m.status === "Ignored"),
  errors: count(list, (m) => m.status === "RuntimeError" || m.status === "CompileError"),
});
const pct = (t) => (t.killed + t.timeout + t.survived ? (100 * (t.killed + t.timeout)) / (t.killed + t.timeout + t.survived) : 100);
const total = tally(mutants);
const score = pct(total);

// Times, from Stryker's log: the initial (dry) run, and the whole run.
const dryRunMs = Number(/Initial test run succeeded\. .*\(net (\d+) ms/.exec(log)?.[1] ?? NaN);
const done = /Done in (?:(\d+) minutes?)?(?:,? and )?(?:(\d+) seconds?)?\./.exec(log);
const runSeconds = done ? Number(done[1] ?? 0) * 60 + Number(done[2] ?? 0) : NaN;
const tested = total.mutants - total.ignored;
const minutes = (s) => `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;

const functions = [...new Set(mutants.map((m) => m.fn))];
const row = (name, t) => `| ${name} | ${t.mutants} | ${t.killed} | ${t.timeout} | ${t.survived} | ${t.equivalent} | ` +
  `${t.ignored} | ${t.errors} | ${pct(t).toFixed(1)} % |`;
const survivors = mutants.filter((m) => UNDETECTED.has(m.status) && !m.equivalent);
const code = (text) => `\`${text.replaceAll("`", "'")}\``;

const out = [
  "# Mutation testing of the backup Worker (Stryker)",
  "",
  "Written by `make mutate-workers` (mutation/results-workers.mjs) from Stryker's report; scope, wiring and",
  "timeouts in [workers/stryker.config.mjs](../workers/stryker.config.mjs), the test command",
  "`node --test test/backup-safety.test.mjs`. Equivalent mutants are reviewed in",
  "[equivalent-workers.json](equivalent-workers.json), each with the reason no test can tell it apart.",
  "",
  `**Score: ${total.killed + total.timeout} of ${total.killed + total.timeout + total.survived} non-equivalent mutants ` +
    `killed (${score.toFixed(1)} %; goal ${GOAL} %).** ${total.mutants} mutants: ${total.killed} killed, ${total.timeout} ` +
    `timed out (counted as killed: the mutant hangs the Worker), ${total.survived} survived, ${total.equivalent} ` +
    `equivalent, ${total.ignored} ignored (log lines), ${total.errors} errors.`,
  "",
  `Times (this run): the initial test run ${Number.isFinite(dryRunMs) ? `${(dryRunMs / 1000).toFixed(1)} s` : "unknown"}, ` +
    `the whole run ${Number.isFinite(runSeconds) ? minutes(runSeconds) : "unknown"}` +
    (Number.isFinite(runSeconds) && tested ? `, ${(runSeconds / tested).toFixed(1)} s per mutant on average (a killed ` +
      "mutant stops at the first failing test).": "."),
  "",
  "| function | mutants | killed | timeout | survived | equivalent | ignored | errors | score |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...functions.map((fn) => row(fn, tally(mutants.filter((m) => m.fn === fn)))),
  row("**all**", total),
  "",
  "## Survivors",
  "",
  ...(survivors.length ? survivors.map((m) => `- ${m.file}:${m.line}${m.status === "NoCoverage" ? " (no coverage)" : ""}: ` +
    `${code(m.key)}${notes[m.key] ? `. ${notes[m.key]}` : ""}`) : ["None."]),
  "",
  "## Equivalent mutants (reviewed)",
  "",
  ...(total.equivalent ? mutants.filter((m) => m.equivalent).map((m) => `- ${m.file}:${m.line}: ${code(m.key)}. ` +
    `${m.equivalent}`) : ["None."]),
  "",
  ...(stale.length || mutants.some((m) => m.wronglyEquivalent) ? [
    "## Entries of equivalent-workers.json to review",
    "",
    ...stale.map((k) => `- no such mutant any more: ${code(k)}`),
    ...mutants.filter((m) => m.wronglyEquivalent).map((m) => `- listed as equivalent, but killed: ${code(m.key)}`),
    "",
  ] : []),
];
writeFileSync(new URL("mutation/results-workers.md", root), out.join("\n"));
console.log(`mutation/results-workers.md: ${score.toFixed(1)} % of non-equivalent mutants killed ` +
  `(${total.killed + total.timeout}/${total.killed + total.timeout + total.survived}), ${total.survived} survivors`);
for (const m of survivors) console.log(`  survived: ${m.key}`);
if (score < GOAL) {
  console.error(`below the goal of ${GOAL} %: kill the survivors with tests, or list the equivalent ones with a reason`);
  process.exit(1);
}
