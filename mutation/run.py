"""`make mutate`: mutmut over the code that guards security and data, with the score and survivors written down.

mutmut names a mutant after its module path and only strips a `src/` prefix, so the pack's package
(`policies/parsify_policies`, imported as `parsify_policies`) would never match the functions the tests call.
The run therefore happens in a scratch copy (`.mutation/`) where the package sits at `src/parsify_policies`;
the pack folder keeps its `__main__.py` and config and imports the (mutated) package from there. Subprocesses
that the tests start (the console script) get the mutated code too, through PYTHONPATH.

Usage: python mutation/run.py [--only GLOB ...] [--max-children N]
  --only  mutate only these files (scratch-copy paths, e.g. src/parsify_infra/secrets.py); the results then go
          to .mutation/results.md, not to mutation/results.md, which only a full run rewrites.
"""

from __future__ import annotations

import argparse
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

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
RESULTS = ROOT / "mutation" / "results.md"
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
GOAL = 0.90

# The modules in scope (issue 14), as paths in the scratch copy. restore.py is left out until issue 11's rewrite
# has landed (add "src/parsify_infra/restore.py" here then).
IN_SCOPE = [
    "src/parsify_policies/*",
    "src/parsify_infra/gate.py",
    "src/parsify_infra/capture.py",
    "src/parsify_infra/secrets.py",
    "src/parsify_infra/changes.py",
    "src/parsify_infra/access_review.py",
    "stacks/config.py",
]
# The workflow checks (checkov, zizmor: 25 s, no code in scope) and the backup Worker's restore and drill tests
# (being rewritten, issue 11) exercise none of the modules above.
DESELECT = ["--ignore=tests/test_workflows.py", "--ignore=tests/test_restore.py"]
SKIP_COPY = shutil.ignore_patterns(".git", ".venv", ".tools", ".mutation", "node_modules", "__pycache__",
                                   ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache")
KILLED = {"killed", "caught by type check"}


class Equivalent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mutant: str = Field(pattern=r"^[\w.]+__mutmut_\d+$")
    reason: str = Field(min_length=20)


class EquivalentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    equivalent: list[Equivalent] = []


def read_equivalent() -> dict[str, str]:
    """Mutants reviewed as equivalent (no test can tell them apart), each with its reason."""
    where = EQUIVALENT.relative_to(ROOT)
    try:
        parsed = EquivalentFile.model_validate(tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"{where}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise SystemExit(f"{where}: key {key}: {error['msg']}") from None
    return {e.mutant: e.reason for e in parsed.equivalent}


def prepare() -> None:
    """A fresh scratch copy with the pack's package moved under src/ (see the module docstring)."""
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(ROOT, WORK, ignore=SKIP_COPY)
    if (ROOT / "workers" / "node_modules").is_dir():
        (WORK / "workers" / "node_modules").symlink_to(ROOT / "workers" / "node_modules")
    (WORK / "policies" / "parsify_policies").rename(WORK / "src" / "parsify_policies")
    pyproject = (WORK / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = pyproject.replace('pythonpath = ["policies", "."]', 'pythonpath = ["src", "."]')
    (WORK / "pyproject.toml").write_text(pyproject + "\n" + mutmut_config(), encoding="utf-8")


def mutmut_config(only: list[str] | None = None) -> str:
    also = sorted(p.name for p in ROOT.iterdir() if p.name not in {"src", "stacks", "tests", "pyproject.toml"}
                  and not SKIP_COPY(str(ROOT), [p.name]))
    return "[tool.mutmut]\n" + "\n".join([
        'source_paths = ["src", "stacks"]',
        f"only_mutate = {json.dumps(only or IN_SCOPE)}",
        f"also_copy = {json.dumps(also)}",
        f'pytest_add_cli_args_test_selection = {json.dumps(["tests", *DESELECT])}',
        'debug = true',
        # pulumi loads grpc, which is not fork-safe once used: fork each mutant from a clean server process.
        'process_isolation = "forkserver"',
        "",
    ])


def run_mutmut(max_children: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORK / "mutants" / "src"), str(WORK / "mutants")])}
    # Python caches a missing sys.path entry as "nothing there": the folders must exist before mutmut starts.
    (WORK / "mutants" / "src").mkdir(parents=True, exist_ok=True)
    mutmut = Path(sys.executable).parent / "mutmut"
    started = time.monotonic()
    subprocess.run([str(mutmut), "run", "--max-children", str(max_children)], cwd=WORK, env=env, check=True)
    return time.monotonic() - started


def collect() -> dict[str, str]:
    """mutant name -> status, from mutmut's own result files."""
    from mutmut.stats import status_by_exit_code

    found: dict[str, str] = {}
    for meta in sorted((WORK / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        for name, code in data["exit_code_by_key"].items():
            found[name] = status_by_exit_code[code]
    return found


def diff_of(name: str) -> str:
    mutmut = Path(sys.executable).parent / "mutmut"
    shown = subprocess.run([str(mutmut), "show", name], cwd=WORK, capture_output=True, text=True, check=False)
    lines = shown.stdout.splitlines()
    return "\n".join(line for line in lines[1:] if not line.startswith(("---", "+++")))


def module_of(name: str) -> str:
    """`parsify_infra.secrets.x_scrub__mutmut_3`, `stacks.config.xǁStackConfigǁ_check__mutmut_1` -> the module."""
    return re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]


def report(statuses: dict[str, str], equivalent: dict[str, str], seconds: float, only: list[str] | None) -> str:
    survivors = sorted(n for n, s in statuses.items() if s not in KILLED and n not in equivalent)
    judged = [n for n in statuses if n not in equivalent]
    killed = [n for n in judged if statuses[n] in KILLED]
    score = len(killed) / len(judged) if judged else 1.0
    by_module: dict[str, Counter[str]] = {}
    for name, status in statuses.items():
        counter = by_module.setdefault(module_of(name), Counter())
        counter["equivalent" if name in equivalent else ("killed" if status in KILLED else status)] += 1
    stale = sorted(n for n in equivalent if statuses.get(n) not in ("survived", None) or n not in statuses)
    lines = [
        "# Mutation testing results",
        "",
        f"Written by `make mutate` ({'scoped: ' + ', '.join(only) if only else 'full run'}) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC with mutmut {metadata.version('mutmut')}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores (shared with other work).",
        "",
        f"**Score: {len(killed)} of {len(judged)} non-equivalent mutants killed ({score:.1%}); goal "
        f"{GOAL:.0%}.** {len(equivalent)} reviewed as equivalent ([equivalent.toml](equivalent.toml)). "
        f"Run time: {seconds / 60:.1f} minutes.",
        "",
        "| Module | killed | survived | equivalent | no tests | timeout | other |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, c in sorted(by_module.items()):
        other = sum(v for k, v in c.items() if k not in {"killed", "survived", "equivalent", "no tests", "timeout"})
        lines.append(f"| `{module}` | {c['killed']} | {c['survived']} | {c['equivalent']} | {c['no tests']} | "
                     f"{c['timeout']} | {other} |")
    lines += ["", "## Survivors (not killed, not reviewed as equivalent)", ""]
    if not survivors:
        lines.append("None.")
    for name in survivors:
        lines += [f"### `{name}` ({statuses[name]})", "", "```diff", diff_of(name), "```", ""]
    lines += ["", "## Equivalent mutants", "", "| Mutant | Why no test can tell it apart |", "|---|---|"]
    lines += [f"| `{n}` | {equivalent[n]} |" for n in sorted(equivalent)]
    if stale:
        lines += ["", "Listed as equivalent but not (or no longer) surviving: " + ", ".join(f"`{n}`" for n in stale)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="+", help="files to mutate (scratch-copy paths)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    equivalent = read_equivalent()
    prepare()
    if args.only:
        pyproject = WORK / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8")
        pyproject.write_text(text.replace(mutmut_config(), mutmut_config(args.only)), encoding="utf-8")
    seconds = run_mutmut(args.max_children)
    statuses = collect()
    target = WORK / "results.md" if args.only else RESULTS
    target.write_text(report(statuses, equivalent, seconds, args.only), encoding="utf-8")
    judged = [n for n in statuses if n not in equivalent]
    score = sum(statuses[n] in KILLED for n in judged) / len(judged) if judged else 1.0
    print(f"mutation score {score:.1%} over {len(judged)} non-equivalent mutants; written to {target}")
    return 0 if score >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
