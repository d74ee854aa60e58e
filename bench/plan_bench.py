"""Benchmark of the offline plan and the policy gate (run on demand: `make bench`).

Measures, in one run: the time split of the prod plan (imports, program, capture, output), and for
generated stacks of 500 and 5,000 resources the cost per resource of (a) the bare Pulumi mock
registration floor (plain MockMonitor, nothing captured), (b) the plan, and (c) the policy gate.
Results go to bench/results.md. Ratios, not absolute times, are the point: the machines are noisy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPEATS = {500: 5, 5000: 2}  # resources -> interleaved repetitions; the best time of each counts
GENERIC = REPO / "tests" / "fixtures" / "generic"
TYPES = [
    ("cloudflare:index/d1Database:D1Database", {"name": "db"}, True),
    ("cloudflare:index/workersScript:WorkersScript", {"scriptName": "w", "observability": {"enabled": True}}, False),
    ("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
     {"decision": "allow", "requires": [{"authMethod": {"authMethod": "mfa"}}], "sessionDuration": "8h"}, False),
    ("cloudflare:index/accountToken:AccountToken", {"name": "t", "expiresOn": "2027-01-01T00:00:00Z"}, False),
]


def generated_program(count: int, root: Path) -> Path:
    program = root / f"generated-{count}"
    shutil.copytree(GENERIC, program)
    resources = [{"type": t, "name": f"r{i}", "inputs": inputs, "protect": protect}
                 for i in range(count) for t, inputs, protect in [TYPES[i % len(TYPES)]]]
    (program / "Pulumi.bench.yaml").write_text(json.dumps({"config": {"policy-fixture:resources": resources}}))
    return program


def floor_seconds(program: Path) -> float:
    """Bare SDK cost: the same program under plain mocks, registrations not captured."""
    import runpy

    import pulumi
    from pulumi.runtime import mocks, settings

    from parsify_infra.capture import _program_context
    from parsify_infra.stackfile import load_stack_files

    files = load_stack_files(program, "bench")

    class Bare(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            return f"{args.name}-id", args.inputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
            return {}, []

    settings.ROOT.set(None)
    pulumi.runtime.set_all_config(dict(files.config), [])
    pulumi.runtime.set_mocks(Bare(), project=files.project, stack="bench", preview=False)
    start = time.perf_counter()
    with _program_context(program):
        mocks.test(lambda: runpy.run_path(str(program / "__main__.py"), run_name="__main__"))()
    return time.perf_counter() - start


def command_seconds(program: Path) -> float:
    """Wall time of `parsify-infra plan --stack prod` in a new process (what a user waits for)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "parsify_infra", "plan", "--stack", "prod", "--program", str(program)],
                   capture_output=True, check=False, cwd=REPO)
    return time.perf_counter() - started


def start_up_row() -> str:
    """A whole plan in a new process, against a stack file with a typo (reported before the providers load)."""
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad"
        bad.mkdir()
        for name in ["Pulumi.yaml", "__main__.py", "stacks", "workers", "fixtures"]:
            source = REPO / name
            if source.is_dir():
                shutil.copytree(source, bad / name, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
            else:
                shutil.copy(source, bad / name)
        (bad / "Pulumi.prod.yaml").write_text((REPO / "Pulumi.prod.yaml").read_text().replace(
            "retentionDays: 35", "retentionDays: thirty-five"))
        plan, typo = command_seconds(REPO), command_seconds(bad)
    return f"| new process | whole plan {plan:.2f}s | config typo reported in {typo:.2f}s ({typo / plan:.2f}x) | | | |"


def main() -> None:
    started_up = start_up_row()
    started = time.perf_counter()
    import pulumi  # noqa: F401
    import pulumi_cloudflare  # noqa: F401
    import pulumiverse_vercel  # noqa: F401

    from parsify_infra.gate import evaluate, load_pack
    from parsify_infra.plan import capture_stack, plan_document
    imports = time.perf_counter() - started

    rows = []
    t0 = time.perf_counter()
    _, capture = capture_stack(REPO, "prod")
    t1 = time.perf_counter()
    doc = plan_document(capture)
    t2 = time.perf_counter()
    json.dumps(doc)
    t3 = time.perf_counter()
    pack = load_pack(REPO / "policies")
    evaluate(pack, capture.resources, REPO / "policies/config/prod.json", __import__("datetime").date.today())
    t4 = time.perf_counter()
    prod = (f"| prod plan ({len(capture.resources)} resources) | imports {imports:.2f}s | program "
            f"{t1 - t0:.2f}s | capture to document {t2 - t1:.3f}s | output {t3 - t2:.3f}s | policies {t4 - t3:.2f}s |")

    with tempfile.TemporaryDirectory() as tmp:
        for count, repeats in REPEATS.items():
            program = generated_program(count, Path(tmp))
            floors, plans, gates = [], [], []
            # Interleaved repeats, best of each: one noisy moment (GC, the neighbour) cannot decide a ratio.
            for _ in range(repeats):
                floors.append(floor_seconds(program))
                s0 = time.perf_counter()
                _, captured = capture_stack(program, "bench")
                json.dumps(plan_document(captured))
                s2 = time.perf_counter()
                evaluate(pack, captured.resources, None, __import__("datetime").date.today())
                plans.append(s2 - s0)
                gates.append(time.perf_counter() - s2)
            floor, plan, gate = min(floors), min(plans), min(gates)
            rows.append(f"| {count} | {repeats} | {floor:.2f}s | {floor / count * 1000:.2f} ms | {plan:.2f}s | "
                        f"{plan / count * 1000:.2f} ms | {plan / floor:.2f}x | {gate:.2f}s | "
                        f"{gate / plan:.2f}x |")

    report = "\n".join([
        "# Benchmark results", "",
        f"Machine: {sys.platform}, Python {sys.version.split()[0]}; one run of `make bench` "
        f"({time.strftime('%Y-%m-%d')}). Ratios are within this run.", "",
        "## Prod plan, time split", "", "| what | | | | | |", "|---|---|---|---|---|---|", prod, started_up, "",
        "## Generated stacks", "",
        "| resources | repeats (best of) | mock floor | floor / resource | plan | plan / resource "
        "| plan / floor (goal <= 1.5x) | policy gate | gate / plan (goal <= 0.3x) |",
        "|---|---|---|---|---|---|---|---|---|", *rows, "",
    ])
    (Path(__file__).parent / "results.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
