"""The GitHub workflows are valid, least-privilege and pinned; the scanners find nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; normalise it back.
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return dict(data)


def uses_of(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["uses"]] if isinstance(node.get("uses"), str) else []
        return found + [u for v in node.values() for u in uses_of(v)]
    if isinstance(node, list):
        return [u for v in node for u in uses_of(v)]
    return []


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False,
                          env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})


def test_the_expected_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "deploy.yml", "daily-review.yml",
                                           "weekly-access-review.yml", "monthly-drill.yml"}


def test_workflows_validate_against_the_github_schemas() -> None:
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-actions", *map(str, ACTIONS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_of_medium_or_higher_severity() -> None:
    result = run_tool("zizmor", "--offline", "--min-severity", "medium", ".github")
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_github_actions_and_secrets_checks_pass() -> None:
    uvx = shutil.which("uvx") or str(REPO / ".tools" / "bin" / "uvx")
    result = run_tool(uvx, "--from", "checkov==3.3.30", "checkov", "--directory", ".", "--framework",
                      "github_actions", "secrets", "--quiet", "--compact", "--skip-path", ".venv",
                      "--skip-path", "workers/node_modules", "--skip-path", ".tools")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.name)
def test_every_action_is_pinned_to_a_full_commit_sha(path: Path) -> None:
    for use in uses_of(load(path)):
        assert use.startswith("./") or PINNED.match(use), f"{path.name}: {use} is not pinned to a commit SHA"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    workflow = load(path)
    text = path.read_text()
    assert workflow["permissions"] == {}, "no default token permissions; each job asks for what it needs"
    assert "pull_request_target" not in workflow["on"]
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name} declares its permissions"
        assert "write-all" not in str(job["permissions"])
        job_text = yaml.safe_dump(job)
        if "secrets." in job_text:
            assert "environment" in job, f"{name} reads cloud secrets outside a GitHub environment"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    assert "${{ secrets" not in "".join(line for line in text.splitlines() if line.strip().startswith("run:"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        assert 0 < int(job.get("timeout-minutes", 0)) <= 120, f"{path.name}: job {name} has no timeout-minutes"


def test_scheduled_reports_read_the_exit_status_not_the_markdown() -> None:
    daily = (REPO / ".github/workflows/daily-review.yml").read_text()
    weekly = (REPO / ".github/workflows/weekly-access-review.yml").read_text()
    assert "grep" not in daily and '|| status=$?' in daily and '|| status=$?' in weekly


def test_deploys_are_serialised_and_prod_needs_approval() -> None:
    jobs = load(REPO / ".github/workflows/deploy.yml")["jobs"]
    assert jobs["prod"]["needs"] == ["staging"] and jobs["prod"]["environment"] == "production"
    for stack in ("staging", "prod"):
        assert jobs[stack]["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        up = next(s for s in jobs[stack]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
        assert up["with"]["policyPacks"] == "policies"
        assert up["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"


def test_schedules_follow_the_handbook() -> None:
    assert load(REPO / ".github/workflows/daily-review.yml")["on"]["schedule"] == [{"cron": "0 9 * * *"}]
    assert load(REPO / ".github/workflows/weekly-access-review.yml")["on"]["schedule"] == [{"cron": "0 8 * * 1"}]
    drill = load(REPO / ".github/workflows/monthly-drill.yml")
    assert drill["on"]["schedule"] == [{"cron": "0 10 8 * *"}]
    assert any("parsify-infra drill" in str(s.get("run", "")) for s in drill["jobs"]["drill"]["steps"])
    drift = load(REPO / ".github/workflows/daily-review.yml")["jobs"]["drift"]
    preview = next(s for s in drift["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert preview["with"]["refresh"] is True and preview["with"]["expect-no-changes"] is True


def test_pull_request_runs_the_readme_test_command_and_previews_with_the_pack() -> None:
    jobs = load(REPO / ".github/workflows/pull-request.yml")["jobs"]
    assert any(s.get("run") == "make test" for s in jobs["test"]["steps"])
    preview = next(s for s in jobs["preview"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert preview["with"]["command"] == "preview" and preview["with"]["policyPacks"] == "policies"
    assert "fork" in yaml.safe_dump(jobs["preview"]["steps"][0])


def test_codeowners_and_pull_request_template() -> None:
    owners = (REPO / ".github/CODEOWNERS").read_text()
    assert re.search(r"^/policies/\s+@parsify/security$", owners, re.M)
    assert re.search(r"^/stacks/data.py\s+@parsify/database$", owners, re.M)
    template = (REPO / ".github/pull_request_template.md").read_text()
    for field in ("Risk", "Rollback plan", "Maintenance window", "User communication"):
        assert f"**{field}" in template


def test_the_prod_deploy_is_gated_by_maintenance_windows_and_the_error_budget() -> None:
    workflow = load(REPO / ".github/workflows/deploy.yml")
    prod = workflow["jobs"]["prod"]
    runs = [step.get("run", "") for step in prod["steps"]]
    gate = next(i for i, run in enumerate(runs) if "parsify-infra deploy-gate" in run)
    up = next(i for i, step in enumerate(prod["steps"]) if str(step.get("uses", "")).startswith("pulumi/actions"))
    assert gate < up, "the gate runs before pulumi up"
    assert "--summary \"$GITHUB_STEP_SUMMARY\"" in runs[gate], "the verdict (and any override) is in the run"
    assert "--override-reason \"$OVERRIDE_REASON\"" in runs[gate]
    env = prod["steps"][gate]["env"]
    assert env["OVERRIDE_REASON"] == "${{ inputs.override_reason }}"
    assert env["ACTOR"] == "${{ github.triggering_actor }}"
    assert "override_reason" in workflow["on"]["workflow_dispatch"]["inputs"]
    assert any("--baseline" in run and "plan.json" in run for run in runs[:gate]), "risk of what this deploy changes"
    assert any("budget.json" in run for run in runs[:gate])
    assert prod["permissions"] == {"contents": "read", "pull-requests": "read"}
