"""`make mutate`: mutmut over the code that guards security and data, with the score and survivors written down.

mutmut names a mutant after its module path and only strips a `src/` prefix, so the pack's package
(`policies/parsify_policies`, imported as `parsify_policies`) would never match the functions the tests call.
The run therefore happens in a scratch copy (`.mutation/`) where the package sits at `src/parsify_policies`;
the pack folder keeps its `__main__.py` and config and imports the (mutated) package from there. Subprocesses
that the tests start (the console script) get the mutated code too, through PYTHONPATH.

Usage: python mutation/run.py [--only GLOB ...] [--sample DIGIT | --mutants NAME ...] [--max-children N]
                              [--resume | --report-only | --render-only]
  --only  mutate only these files (scratch-copy paths, e.g. src/parsify_infra/secrets.py); the results of the
          modules it mutated replace theirs in mutation/status.json and mutation/results.md.
  --sample  only the mutants whose number ends in DIGIT: a systematic tenth, to estimate a module's score
          quickly; it replaces only the verdicts of the mutants it checked (as does --mutants).
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
RESULTS = ROOT / "mutation" / "results.md"
STATUS = ROOT / "mutation" / "status.json"  # every mutant's last status (and diff when not killed), by run
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
GOAL = 0.90
QUICK_TEST_SECONDS = 1.0  # the first pass's tests (see quick_then_full)
QUICK_SURVIVOR = "survived the quick pass"  # a run stopped before its second pass: not yet a verdict of the full suite

# The modules in scope (issue 14), as paths in the scratch copy.
IN_SCOPE = [
    "src/parsify_policies/*",
    "src/parsify_infra/gate.py",
    "src/parsify_infra/capture.py",
    "src/parsify_infra/secrets.py",
    "src/parsify_infra/changes.py",
    "src/parsify_infra/access_review.py",
    "src/parsify_infra/restore.py",
    "stacks/config.py",
]
# The workflow checks (checkov, zizmor: 25 s) exercise none of the modules above.
DESELECT = ["--ignore=tests/test_workflows.py"]
PRELOAD = WORK / "preload-modules.txt"
CONFIRMED = WORK / "full-pass-done"  # the survivors the second pass (every test) has re-checked
STARTED = WORK / "started"  # when the run began (an interrupted run is reported with --report-only)
SCOPE_FILE = WORK / "scope.json"  # the files the run mutates: RESUME=1 goes on only with the same
THIRD_PARTY = ["pulumi", "pulumi.runtime", "pulumi_policy", "pulumi_cloudflare", "pulumiverse_vercel", "pydantic",
               "jsonschema", "yaml", "detect_secrets", "codeowners", "hypothesis", "pytest"]
SKIP_COPY = shutil.ignore_patterns(".git", ".venv", ".tools", ".mutation", "node_modules", "__pycache__",
                                   ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache")
# mutmut stops a mutant's tests at the first failure (-x) but runs them in collection order. Run the cheapest first,
# by what each cost in mutmut's stats run, setup included: mutmut's own durations leave out fixture setup, so a test
# that builds the prod plan in a fixture looked free and ran first for every mutant.
FASTEST_FIRST = """
import os  # noqa: E402

_MUTATION_COSTS = Path("mutation-test-costs.json")  # appended by mutation/run.py (cwd: the mutants/ copy)
_measured: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _measured:
        _MUTATION_COSTS.write_text(json.dumps(_measured), encoding="utf-8")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _MUTATION_COSTS.is_file():
        return
    cost = json.loads(_MUTATION_COSTS.read_text(encoding="utf-8"))
    items.sort(key=lambda item: cost.get(item.nodeid, 0.0))
    cap = os.environ.get("MUTATION_TEST_SECONDS_CAP")
    if cap and "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", "") and items:
        # The quick pass: only the cheaper tests (at least one). A mutant that survives them is checked again
        # with every test that reaches it before it counts as a survivor (mutation/run.py).
        kept = [item for item in items[1:] if cost.get(item.nodeid, 0.0) <= float(cap)]
        config.hook.pytest_deselected(items=[item for item in items[1:] if item not in kept])
        items[:] = items[:1] + kept
"""
class UsageError(Exception):
    """Bad input (an argument, equivalent.toml): one line, exit status 2, before any time is spent."""


# A mutant name as mutmut makes it (module, x_ or xǁClassǁ, the function, __mutmut_ and a number), or a glob of them.
MUTANT_NAME = re.compile(r"^[\w.*?]+\.x[_ǁ][\wǁ*?]*__mutmut_[\d*?]+$|^[\w.]+\.\*$")


def check_arguments(only: list[str] | None, mutants: list[str] | None) -> None:
    """Refuse what cannot match before mutmut spends minutes measuring the tests: paths outside the scope (or given
    as repository paths rather than the scratch copy's), and names that are not mutant names."""
    for path in only or []:
        if not any(fnmatch.fnmatch(path, pattern) for pattern in IN_SCOPE):
            raise UsageError(f"ONLY {path}: not a file in scope ({', '.join(IN_SCOPE)})")
        if not any(ROOT.glob(repository_path(path))):  # a file, or a glob that matches one
            raise UsageError(f"ONLY {path}: no such file")
    for name in mutants or []:
        if not MUTANT_NAME.match(name):
            raise UsageError(f"MUTANTS {name}: not a mutant name (module.x_function__mutmut_N, as results.md lists "
                             "them; * and ? match any text)")


PACK_IN_REPOSITORY, PACK_IN_COPY = "policies/parsify_policies/", "src/parsify_policies/"


def repository_path(path: str) -> str:
    """A scratch-copy path as the repository has it (the pack's package is moved under src/ in the copy)."""
    return PACK_IN_REPOSITORY + path.removeprefix(PACK_IN_COPY) if path.startswith(PACK_IN_COPY) else path


def copy_path(path: str) -> str:
    """A repository path as the scratch copy has it."""
    return PACK_IN_COPY + path.removeprefix(PACK_IN_REPOSITORY) if path.startswith(PACK_IN_REPOSITORY) else path


KILLED = {"killed", "caught by type check"}
NOT_CHECKED = "not checked"  # an interrupted run: counted apart, not in the score


class Equivalent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mutant: str = Field(pattern=r"^[\w.]+__mutmut_\d+$")
    reason: str = Field(min_length=20)


class EquivalentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    equivalent: list[Equivalent] = []

    @model_validator(mode="after")
    def _each_mutant_once(self) -> EquivalentFile:
        seen: set[str] = set()
        for entry in self.equivalent:
            if entry.mutant in seen:
                raise ValueError(f"{entry.mutant} is listed twice: give it one reason")
            seen.add(entry.mutant)
        return self


def read_equivalent() -> dict[str, str]:
    """Mutants reviewed as equivalent (no test can tell them apart), each with its reason."""
    where = EQUIVALENT.relative_to(ROOT)
    try:
        parsed = EquivalentFile.model_validate(tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"]) or "equivalent"
        raise UsageError(f"{where}: key {key}: {error['msg']}") from None
    return {e.mutant: e.reason for e in parsed.equivalent}


def prepare(only: list[str], resume: bool = False) -> None:
    """A fresh scratch copy with the pack's package moved under src/ (see the module docstring). To resume, the
    copy is refreshed but mutmut's mutants/ (with its verdicts) is kept: mutmut makes the mutants of a changed file
    again (it compares modification times) and keeps the verdicts of the functions that did not change."""
    if resume:
        if not (WORK / "mutants").is_dir():
            raise UsageError("RESUME=1: .mutation/ holds no stopped run to go on with; run without RESUME=1")
        # mutmut regenerates only files it sees changed: a run of another scope would leave the rest unmutated.
        stopped = json.loads(SCOPE_FILE.read_text(encoding="utf-8")) if SCOPE_FILE.is_file() else IN_SCOPE
        if stopped != only:
            raise UsageError(f"RESUME=1: the stopped run in .mutation/ mutated {' '.join(stopped)}, not "
                             f"{' '.join(only)}; resume it with the same ONLY, or start anew without RESUME=1")
        (WORK / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)  # the tests changed: which reach what, again
        for entry in WORK.iterdir():
            # mutmut's verdicts, and which survivors the second pass confirmed, stay
            if entry.name not in {"mutants", STARTED.name, SCOPE_FILE.name, CONFIRMED.name}:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    else:
        shutil.rmtree(WORK, ignore_errors=True)
        WORK.mkdir()
        STARTED.write_text(str(time.time()), encoding="utf-8")
        SCOPE_FILE.write_text(json.dumps(only), encoding="utf-8")
    shutil.copytree(ROOT, WORK, ignore=SKIP_COPY, dirs_exist_ok=True)
    if (ROOT / "workers" / "node_modules").is_dir():
        (WORK / "workers" / "node_modules").symlink_to(ROOT / "workers" / "node_modules")
    (WORK / "policies" / "parsify_policies").rename(WORK / "src" / "parsify_policies")
    pyproject = (WORK / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = pyproject.replace('pythonpath = ["policies", "."]', 'pythonpath = ["src", "."]')
    (WORK / "pyproject.toml").write_text(pyproject + "\n" + mutmut_config(only), encoding="utf-8")
    PRELOAD.write_text("\n".join(THIRD_PARTY) + "\n", encoding="utf-8")
    with (WORK / "tests" / "conftest.py").open("a", encoding="utf-8") as conftest:
        conftest.write(FASTEST_FIRST)


def mutmut_config(only: list[str]) -> str:
    also = sorted(p.name for p in ROOT.iterdir() if p.name not in {"src", "stacks", "tests", "pyproject.toml"}
                  and not SKIP_COPY(str(ROOT), [p.name]))
    return "[tool.mutmut]\n" + "\n".join([
        'source_paths = ["src", "stacks"]',
        f"only_mutate = {json.dumps(only)}",
        f"also_copy = {json.dumps(also)}",
        f'pytest_add_cli_args_test_selection = {json.dumps(["tests", *DESELECT])}',
        # pulumi loads grpc, which is not fork-safe once used: fork each mutant from a clean server process.
        'process_isolation = "forkserver"',
        # The server preloads only third-party modules: the pack builds its policies (framework._guarded, the
        # waiver and fail-closed code) when it is imported, so it must be imported after a mutant is switched on.
        'forkserver_warmup = "import"',
        f'preload_modules_file = "{PRELOAD.name}"',
        # mutmut ends a child with SIGXCPU after (its tests' measured seconds + 1) x multiplier x 2 of CPU time. Its
        # default multiplier (15) gave a `sql_blocks` mutant that loops forever more than ten minutes per slot;
        # 3 still allows six times the CPU of every test that reaches the mutant (CPU time: load does not count).
        "timeout_multiplier = 3.0",
        "",
    ])


def run_mutmut(max_children: int, names: list[str], quick: bool = False) -> float:
    """One mutmut run over `names` (everything not yet checked when empty); `quick`: each mutant meets only the
    tests that cost at most QUICK_TEST_SECONDS in the stats run, see quick_then_full."""
    # The scratch copy is thrown away: let it keep bytecode, or every forked child compiles the mutated modules and
    # rewrites the test modules' asserts again (PYTHONDONTWRITEBYTECODE=1 here and on many CI images).
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "MUTATION_TEST_SECONDS_CAP"}}
    env = {**env, "PYTHONPATH": os.pathsep.join([str(WORK / "mutants" / "src"), str(WORK / "mutants")])}
    if quick:
        env["MUTATION_TEST_SECONDS_CAP"] = str(QUICK_TEST_SECONDS)
    # Python caches a missing sys.path entry as "nothing there": the folders must exist before mutmut starts.
    (WORK / "mutants" / "src").mkdir(parents=True, exist_ok=True)
    mutmut = Path(sys.executable).parent / "mutmut"
    started = time.monotonic()
    done = subprocess.run([str(mutmut), "run", "--max-children", str(max_children), *names], cwd=WORK, env=env,
                          check=False)
    if done.returncode:
        raise UsageError(f"mutmut run stopped with status {done.returncode} (its output is above); nothing was "
                         "recorded in mutation/")
    return time.monotonic() - started


def quick_then_full(max_children: int, names: list[str], equivalent: dict[str, str]) -> float:
    """Every mutant first meets only its cheaper tests; those that survive them are run again against
    every test that reaches them. A verdict is therefore the full suite's, at a fraction of the cost: a survivor
    used to run all its tests (30 s and more with the plan and preview tests), and most mutants die on a cheap one.
    A survivor reviewed as equivalent skips the second pass: its review says why no test tells it apart."""
    def named(name: str) -> bool:  # a mutant this run checks (all of them when no names are given)
        return not names or any(fnmatch.fnmatch(name, pattern) for pattern in names)

    # Survivors an earlier run confirmed stay confirmed, unless this run checks them again.
    CONFIRMED.write_text(json.dumps(sorted(n for n in confirmed() if not named(n))), encoding="utf-8")
    minutes = run_mutmut(max_children, names, quick=True)
    survivors = [name for name, status in statuses().items()
                 if status == "survived" and named(name) and name not in equivalent]
    minutes += run_mutmut(max_children, survivors) if survivors else 0.0
    CONFIRMED.write_text(json.dumps(sorted(confirmed() | set(survivors))), encoding="utf-8")
    return minutes


def confirmed() -> set[str]:
    """Survivors that the second pass (every test) has re-checked."""
    return set(json.loads(CONFIRMED.read_text(encoding="utf-8"))) if CONFIRMED.is_file() else set()


def generated() -> int:
    """How many mutants mutmut made for this run's scope (checked or not)."""
    return sum(len(json.loads(m.read_text(encoding="utf-8"))["exit_code_by_key"])
               for m in (WORK / "mutants").rglob("*.py.meta"))


def statuses() -> dict[str, str]:
    """mutant name -> mutmut's verdict, from its result files."""
    # Imported here: mutmut is only installed for `make mutate` (the lock's `mutation` group).
    status_by_exit_code = importlib.import_module("mutmut.stats").status_by_exit_code
    found: dict[str, str] = {}
    for meta in sorted((WORK / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        found |= {name: status_by_exit_code[code] for name, code in data["exit_code_by_key"].items()}
    return found


def collect() -> dict[str, dict[str, str]]:
    """mutant name -> {status, diff} (the diff only for what was not killed). A survivor of a run whose second pass
    has not run is QUICK_SURVIVOR: it may still die on a test above the quick pass's limit."""
    final = confirmed()

    def status_of(name: str, status: str) -> str:
        return QUICK_SURVIVOR if status == "survived" and name not in final else status

    return {name: {"status": status_of(name, status),
                   "diff": "" if status in KILLED | {NOT_CHECKED} else diff_of(name)}
            for name, status in statuses().items()}


def diff_of(name: str) -> str:
    mutmut = Path(sys.executable).parent / "mutmut"
    shown = subprocess.run([str(mutmut), "show", name], cwd=WORK, capture_output=True, text=True, check=False)
    lines = shown.stdout.splitlines()
    return "\n".join(line for line in lines[1:] if not line.startswith(("---", "+++")))


def module_of(name: str) -> str:
    """`parsify_infra.secrets.x_scrub__mutmut_3`, `stacks.config.xǁStackConfigǁ_check__mutmut_1` -> the module."""
    return re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]


def merge(found: dict[str, dict[str, str]], scope: list[str], minutes: float, sampled: bool) -> dict[str, Any]:
    """The recorded results with this run's modules replaced (a scoped run refreshes only what it mutated); a
    sampled run replaces only the mutants it checked."""
    recorded: dict[str, Any] = json.loads(STATUS.read_text(encoding="utf-8")) if STATUS.is_file() else {}
    # A mutant mutmut no longer makes (its code changed or is now excluded) has no verdict any more.
    made, made_modules = set(found), {module_of(n) for n in found}
    recorded["mutants"] = {n: v for n, v in recorded.get("mutants", {}).items()
                           if n in made or module_of(n) not in made_modules}
    if sampled:
        found = {n: v for n, v in found.items() if v["status"] != NOT_CHECKED}
    modules = {module_of(n) for n in found}
    mutants = {n: v for n, v in recorded.get("mutants", {}).items()
               if (n not in found if sampled else module_of(n) not in modules)} | found
    checked = sum(v["status"] != NOT_CHECKED for v in found.values())
    run = {"finished": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "scope": scope, "generated": generated(),
           "mutants": checked, "minutes": round(minutes, 1), "modules": sorted(modules)}
    runs = [r for r in recorded.get("runs", []) if sampled or set(r["modules"]) - modules] + [run]
    return {"tool": f"mutmut {metadata.version('mutmut')}", "python": platform.python_version(),
            "runs": runs, "mutants": dict(sorted(mutants.items()))}


def dump_status(results: dict[str, Any]) -> None:
    """mutation/status.json with one line per mutant, so a run's changes read as a short diff."""
    head = {k: v for k, v in results.items() if k != "mutants"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "mutants": {']
    entries = [f"{json.dumps(n, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}"
               for n, v in results["mutants"].items()]
    STATUS.write_text("\n".join([*lines, ",\n".join(entries), "}}"]) + "\n", encoding="utf-8")


def score(mutants: dict[str, Any], equivalent: dict[str, str]) -> tuple[int, int]:
    judged = [n for n in mutants if n not in equivalent and mutants[n]["status"] != NOT_CHECKED]  # listed or unchecked
    return sum(mutants[n]["status"] in KILLED for n in judged), len(judged)


def report(results: dict[str, Any], equivalent: dict[str, str]) -> str:
    mutants: dict[str, Any] = results["mutants"]
    survivors = [n for n, v in mutants.items() if v["status"] not in KILLED | {NOT_CHECKED} and n not in equivalent]
    killed, judged = score(mutants, equivalent)
    by_module: dict[str, Counter[str]] = {}
    for name, value in mutants.items():
        counter = by_module.setdefault(module_of(name), Counter())
        status = value["status"]
        # A listed mutant counts as equivalent once a run has checked it (and it survived); unchecked, it is unchecked.
        counter["equivalent" if name in equivalent and status != NOT_CHECKED else
                ("killed" if status in KILLED else status)] += 1
    stale = sorted(n for n in equivalent if n not in mutants or mutants[n]["status"] in KILLED)
    minutes = sum(r["minutes"] for r in results["runs"])
    unchecked = sum(v["status"] == NOT_CHECKED for v in mutants.values())
    lines = [
        "# Mutation testing results",
        "",
        f"Written by `make mutate` ({results['tool']}, Python {results['python']}) on a machine of "
        f"{os.cpu_count()} cores shared with other work. Modules in scope and how to run: README, "
        "\"Mutation testing\". A scoped run (`make mutate ONLY=...`) replaces the rows of the modules it mutated.",
        "",
        f"**Score: {killed} of the {judged} checked non-equivalent mutants killed "
        f"({killed / judged if judged else 1:.1%}); goal {GOAL:.0%}.** {len(equivalent)} reviewed as equivalent "
        f"([equivalent.toml](equivalent.toml)). "
        + (f"**{unchecked} of the {len(mutants)} mutants made have not been checked yet** (see Runs), so the score "
           "is an estimate from those checked. " if unchecked else "Every mutant made has been checked. ")
        + (f"{quick} survivors of the quick pass have not been re-checked against every test yet: each counts as "
           "not killed, so the score is a lower bound." if (quick := sum(v["status"] == QUICK_SURVIVOR
                                                                         for n, v in mutants.items()
                                                                         if n not in equivalent)) else ""),
        "",
        "| Module | killed | survived | survived the quick pass | equivalent | no tests | timeout | other "
        "| not checked | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for module, c in sorted(by_module.items()):
        named = {"killed", "survived", QUICK_SURVIVOR, "equivalent", "no tests", "timeout", NOT_CHECKED}
        other = sum(v for k, v in c.items() if k not in named)
        total = sum(c.values()) - c["equivalent"] - c[NOT_CHECKED]
        module_score = format(c["killed"] / total, ".0%") if total else "-"
        lines.append(f"| `{module}` | {c['killed']} | {c['survived']} | {c[QUICK_SURVIVOR]} | {c['equivalent']} | "
                     f"{c['no tests']} | {c['timeout']} | {other} | {c[NOT_CHECKED]} | {module_score} |")
    lines += ["", f"## Runs (time on this machine: {minutes:.0f} minutes in all)", "",
              "A run's rate (mutants checked per minute) estimates a full run: generated / rate.", "",
              "| Finished | Scope | Generated | Checked | Minutes | Full run at this rate |",
              "|---|---|---:|---:|---:|---:|"]
    for r in results["runs"]:
        rate = r["mutants"] / r["minutes"] if r["minutes"] else 0
        # Survivors only, or one module: not a fair rate for a full run.
        recheck = any(part.startswith("re-check") for part in r["scope"]) or IN_SCOPE[0] not in r["scope"]
        full = f"{r.get('generated', r['mutants']) / rate / 60:.1f} h" if rate and not recheck else "-"
        lines.append(f"| {r['finished']} | {', '.join(r['scope'])} | {r.get('generated', '-')} | {r['mutants']} | "
                     f"{r['minutes']} | {full} |")
    lines += ["", "## Survivors (not killed, not reviewed as equivalent)", ""]
    if not survivors:
        lines.append("None.")
    for name in survivors:
        lines += [f"### `{name}` ({mutants[name]['status']})", "", "```diff", mutants[name]["diff"], "```", ""]
    lines += ["", "## Equivalent mutants", "", "| Mutant | Why no test can tell it apart |", "|---|---|"]
    lines += [f"| `{n}` | {equivalent[n].replace('|', chr(92) + '|')} |" for n in sorted(equivalent)]
    if stale:
        lines += ["", "Listed as equivalent but killed, or no longer made: " + ", ".join(f"`{n}`" for n in stale)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="+", help="files to mutate (scratch-copy paths)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--sample", metavar="DIGIT", choices=list("0123456789"),
                        help="a systematic tenth: only the mutants whose number ends in DIGIT (an estimate)")
    parser.add_argument("--mutants", nargs="+", metavar="NAME",
                        help="re-check these mutants (names or globs, e.g. the survivors of a run after new tests)")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite mutation/results.md from mutation/status.json (after editing equivalent.toml)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with the stopped run in .mutation/ on the current code and tests: the verdicts "
                             "of unchanged functions are kept")
    parser.add_argument("--report-only", action="store_true",
                        help="collect what the last (possibly interrupted) run in .mutation/ has, without running")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        print(f"mutation/run.py: error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    # The pack's files may be named as in the repository: the scratch copy has them under src/.
    args.only = [copy_path(p) for p in args.only or []] or None
    check_arguments(args.only, args.mutants)
    equivalent = read_equivalent()
    if args.render_only:
        results = json.loads(STATUS.read_text(encoding="utf-8"))
        dump_status(results)
        RESULTS.write_text(report(results, equivalent), encoding="utf-8")
        killed, judged = score(results["mutants"], equivalent)
        print(f"mutation score {killed}/{judged}; written to {RESULTS.relative_to(ROOT)}")
        return 0 if not judged or killed / judged >= GOAL else 1
    minutes = (time.time() - float(STARTED.read_text(encoding="utf-8"))) / 60 if STARTED.is_file() else 0.0
    if args.resume:
        prepare(args.only or IN_SCOPE, resume=True)
        # With --mutants: re-check those (mutmut keeps an unchanged function's verdicts even when the tests changed).
        quick_then_full(args.max_children, list(args.mutants or []), equivalent)
        minutes = (time.time() - float(STARTED.read_text(encoding="utf-8"))) / 60  # wall time since the start
    elif not args.report_only:
        if (WORK / "mutants").is_dir():
            print("mutation/run.py: note: the earlier run in .mutation/ is discarded (RESUME=1 goes on with it "
                  "instead)", file=sys.stderr)
        prepare(args.only or IN_SCOPE)
        names = [f"*__mutmut_*{args.sample}"] if args.sample else list(args.mutants or [])
        minutes = quick_then_full(args.max_children, names, equivalent) / 60
    scope = [*(args.only or IN_SCOPE), *([f"sample: mutants numbered *{args.sample}"] if args.sample else []),
             *([f"re-check of the mutants matching {len(args.mutants)} "
               f"{'name or glob' if len(args.mutants) == 1 else 'names or globs'} (Checked: every verdict it holds)"]
             if args.mutants else [])]
    results = merge(collect(), scope, minutes, sampled=bool(args.sample or args.mutants))
    dump_status(results)
    RESULTS.write_text(report(results, equivalent), encoding="utf-8")
    killed, judged = score(results["mutants"], equivalent)
    print(f"mutation score {killed}/{judged} ({killed / judged if judged else 1:.1%}) of the non-equivalent "
          f"mutants; written to {RESULTS.relative_to(ROOT)}")
    # The exit status is this run's: a scoped run answers for the modules it mutated.
    ran = set(results["runs"][-1]["modules"])
    killed, judged = score({n: v for n, v in results["mutants"].items() if module_of(n) in ran}, equivalent)
    if args.only:
        print(f"this run's modules: {killed}/{judged} ({killed / judged if judged else 1:.1%})")
    return 0 if not judged or killed / judged >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
