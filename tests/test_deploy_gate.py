"""`parsify-infra deploy-gate`: risky prod changes only inside a declared maintenance window; on a spent
error budget only fixes; both fail closed and are waived only by a recorded override."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PLAN_DATE, REPO, run_cli

WINDOW = {"start": "2026-12-05T02:00:00+00:00", "end": "2026-12-05T04:00:00+00:00",
          "summary": "D1 read replication for the billing database", "targets": ["API"]}
INSIDE, OUTSIDE = "2026-12-05T03:00:00Z", "2026-12-04T15:00:00Z"
HEALTHY = {"windowDays": 30, "remainingPercent": 61.5, "exhausted": False, "stale": False}
SPENT = {"windowDays": 30, "remainingPercent": -12.0, "exhausted": True, "stale": False}


def plan_with(risk: str, tmp_path: Path) -> Path:
    resources = [] if risk == "routine" else [{"action": "replace" if risk == "destructive" else "update",
                                               "urn": f"urn:pulumi:prod::parsify::cloudflare:x::db-{risk}",
                                               "risk": risk}]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"outputs": {"maintenanceWindows": [WINDOW]},
                                "changes": {"risk": risk, "resources": resources}}))
    return path


def budget(tmp_path: Path, doc: dict[str, Any] | str) -> Path:
    path = tmp_path / "budget.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def gate(tmp_path: Path, risk: str, budget_doc: dict[str, Any] | str | None, now: str, *extra: str) -> tuple[int, str]:
    argv = ["deploy-gate", "--plan", str(plan_with(risk, tmp_path)), "--now", now, *extra]
    if budget_doc is not None:
        argv += ["--budget", str(budget(tmp_path, budget_doc))]
    return run_cli(*argv)


@pytest.mark.parametrize("risk", ["destructive", "security-sensitive"])
def test_risky_changes_deploy_only_inside_a_declared_window(tmp_path: Path, risk: str) -> None:
    status, text = gate(tmp_path, risk, HEALTHY, OUTSIDE)
    assert status == 1
    assert f"blocked: {risk} changes (db-{risk}) deploy to prod only inside a maintenance window; the next " \
           "window starts 2026-12-05T02:00:00+00:00" in text
    status, text = gate(tmp_path, risk, HEALTHY, INSIDE)
    assert status == 0, text
    assert "inside the maintenance window 'D1 read replication for the billing database'" in text


def test_routine_changes_need_no_window(tmp_path: Path) -> None:
    status, text = gate(tmp_path, "routine", HEALTHY, OUTSIDE)
    assert status == 0, text
    assert "## Deploy gate (prod): allowed" in text and "61.50% left over 30 days" in text


def test_a_spent_budget_lets_only_fixes_out(tmp_path: Path) -> None:
    status, text = gate(tmp_path, "routine", SPENT, OUTSIDE)
    assert status == 1
    assert "the 30-day error budget is spent (-12.00% left): only changes labelled 'fix' deploy" in text
    status, text = gate(tmp_path, "routine", SPENT, OUTSIDE, "--labels", "dependencies, fix")
    assert status == 0, text


@pytest.mark.parametrize("doc, why", [
    (None, "no --budget given"),
    ("<html>502 Bad Gateway</html>", "budget.json: "),
    ({"windowDays": 30}, "budget.json: "),
    ({**HEALTHY, "stale": True, "updatedAt": "2026-12-04T14:00:00Z"}, "the monitor's data is stale"),
])
def test_an_unreadable_or_stale_budget_counts_as_spent(tmp_path: Path, doc: dict[str, Any] | str | None,
                                                       why: str) -> None:
    status, text = gate(tmp_path, "routine", doc, OUTSIDE)
    assert status == 1, text
    assert "blocked: the error budget cannot be read (" + why in text
    assert "or re-run with an override" in text


def test_an_override_is_recorded_in_the_summary_and_as_an_annotation(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    status, text = gate(tmp_path, "destructive", SPENT, OUTSIDE, "--override-actor", "maya-okafor",
                        "--override-reason", "Security fix for CVE-2026-1234,\nrotating now (OPS-1500)",
                        "--summary", str(summary))
    assert status == 0
    recorded = summary.read_text()
    assert "## Deploy gate (prod): overridden" in recorded
    assert "**Override by maya-okafor**: Security fix for CVE-2026-1234,\nrotating now (OPS-1500)" in recorded
    assert recorded.count("- blocked:") == 2
    annotation = text.splitlines()[-1]
    assert annotation.startswith("::warning title=Deploy gate override::maya-okafor overrode the deploy gate (")
    assert "%0Arotating now" in annotation and "\n" not in annotation


@pytest.mark.parametrize("extra, message", [
    (["--override-actor", "maya"], "an override needs both --override-actor and --override-reason"),
    (["--override-actor", "maya", "--override-reason", "because"], "say why, in at least 10 characters"),
])
def test_an_override_needs_a_who_and_a_why(tmp_path: Path, extra: list[str], message: str) -> None:
    status, text = gate(tmp_path, "routine", HEALTHY, OUTSIDE, *extra)
    assert status == 2 and message in text


def test_bad_plan_input_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"outputs": {"maintenanceWindows": [{**WINDOW, "start": "soon"}]}}))
    status, text = run_cli("deploy-gate", "--plan", str(path), "--now", OUTSIDE)
    assert status == 2
    assert "plan.json: outputs.maintenanceWindows[0].start: Input should be a valid datetime" in text
    assert "\n" not in text


def test_the_real_plan_against_the_last_deploy_gates_a_destructive_change(tmp_path: Path) -> None:
    """End to end: the deploy job plans against the snapshot of the last deploy; a database whose name
    changed there is a replace, which is destructive."""
    snapshot = json.loads((REPO / "stacks" / "snapshots" / "prod.json").read_text())
    for resource in snapshot["resources"]:
        if resource["type"] == "cloudflare:index/d1Database:D1Database" and resource["inputs"]["name"] == "billing":
            resource["inputs"]["name"] = "billing-old"
    before = tmp_path / "before.json"
    before.write_text(json.dumps(snapshot))
    status, text = run_cli("plan", "--stack", "prod", "--format", "json", "--baseline", str(before), "--no-policies",
                           "--as-of", PLAN_DATE)
    assert status == 0
    plan = tmp_path / "plan.json"
    plan.write_text(text)
    status, verdict = run_cli("deploy-gate", "--plan", str(plan), "--budget", str(budget(tmp_path, HEALTHY)),
                              "--now", OUTSIDE)
    assert status == 1
    assert "blocked: destructive changes (db-billing-d1) deploy to prod only inside a maintenance window" in verdict
    status, verdict = run_cli("deploy-gate", "--plan", str(plan), "--budget", str(budget(tmp_path, HEALTHY)),
                              "--now", INSIDE)
    assert status == 0, verdict
