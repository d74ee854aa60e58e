"""Shared helpers: run `parsify-infra` in-process (one import of the providers for the whole suite)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from parsify_infra import cli
from parsify_infra.errors import EXIT_BAD_INPUT, InputError

REPO = Path(__file__).resolve().parents[1]
PLAN_DATE = "2026-11-27"  # the suite's fixed "today": expiry rules stay deterministic
PROGRAM_FILES = ["Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.staging.yaml", "__main__.py", "stacks", "workers",
                 "fixtures"]


def run_cli(*argv: str) -> tuple[int, str]:
    """(exit status, stdout text, or the one-line error for exit 2), as the command would give."""
    try:
        return cli.run(list(argv))
    except InputError as exc:
        return EXIT_BAD_INPUT, str(exc)


def plan_json(*argv: str) -> tuple[int, dict[str, Any]]:
    status, text = run_cli("plan", "--as-of", PLAN_DATE, "--format", "json", *argv)
    assert status in (0, 1), text
    return status, json.loads(text)


def shared_scope(fixture_name: str, config: pytest.Config) -> str:
    """Built once for the session (or module), except while `make mutate` measures which tests reach which code
    (MUTANT_UNDER_TEST=stats): mutmut credits a fixture's work to the first test that asked for it, so every later
    test reading the same plan was never run against a mutant of the code that made it. Then each test builds its
    own."""
    return "function" if os.environ.get("MUTANT_UNDER_TEST") == "stats" else "session"


@pytest.fixture(scope=shared_scope)
def prod_plan() -> dict[str, Any]:
    return plan_json("--stack", "prod")[1]


@pytest.fixture(scope=shared_scope)
def staging_plan() -> dict[str, Any]:
    return plan_json("--stack", "staging")[1]


@pytest.fixture(params=["prod", "staging"])
def stack_plan(request: pytest.FixtureRequest, prod_plan: dict[str, Any], staging_plan: dict[str, Any]
               ) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(stack, plan, the stack's raw config) for each real stack."""
    plan = prod_plan if request.param == "prod" else staging_plan
    raw = yaml.safe_load((REPO / f"Pulumi.{request.param}.yaml").read_text())["config"]
    return request.param, plan, {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("parsify:")}


def copy_program(dest: Path) -> Path:
    """A copy of this repo's program (not the pack), to run with an edited stack config."""
    for name in PROGRAM_FILES:
        source = REPO / name
        target = dest / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return dest


def resources_of(plan: dict[str, Any], type_suffix: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"].endswith(type_suffix)]
