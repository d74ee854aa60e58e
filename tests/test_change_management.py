"""Change management: approved snapshots, the Markdown change record, access review and expiry report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from parsify_infra.access_review import build_review
from parsify_infra.changerecord import render_change_record
from parsify_infra.changes import Change, PropertyChange, read_codeowners, required_reviewers
from parsify_infra.stackfile import load_stack_files
from tests.conftest import PLAN_DATE, REPO, copy_program, run_cli, shared_scope

PROD = (REPO / "Pulumi.prod.yaml").read_text()


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_committed_snapshot_is_current(stack: str) -> None:
    status, message = run_cli("snapshot", "--stack", stack, "--check")
    assert status == 0, message


def test_snapshot_is_deterministic_and_secret_free(tmp_path: Path) -> None:
    program = copy_program(tmp_path)
    for _ in range(2):
        assert run_cli("snapshot", "--stack", "prod", "--program", str(program), "--as-of", PLAN_DATE)[0] == 0
    written = (program / "stacks/snapshots/prod.json").read_text()
    assert written == (REPO / "stacks/snapshots/prod.json").read_text()
    for placeholder in load_stack_files(REPO, "prod").secret_placeholders:
        assert placeholder not in written
    script = next(r for r in json.loads(written)["resources"] if r["name"] == "backup-job-script")
    assert script["inputs"]["content"].startswith("sha256:"), "Worker code is recorded by digest"


def test_a_stale_snapshot_is_caught(tmp_path: Path) -> None:
    program = copy_program(tmp_path)
    (program / "Pulumi.prod.yaml").write_text(PROD.replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    status, message = run_cli("snapshot", "--stack", "prod", "--program", str(program), "--check")
    assert status == 1 and "is stale" in message and "make snapshot STACK=prod" in message


@pytest.fixture(scope=shared_scope)  # built once, except while mutmut measures (conftest.shared_scope)
def change_record(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The record of a realistic prod change: a longer DB-console session, the analytics database
    removed, a log level changed, a new token."""
    program = copy_program(tmp_path_factory.mktemp("change"))
    changed = (PROD.replace("        sessionDuration: 4h\n", "        sessionDuration: 6h\n")
               .replace("    - name: analytics\n      locationHint: enam\n      readReplication: auto\n", "")
               .replace("LOG_LEVEL: info", "LOG_LEVEL: warn")
               .replace("  parsify:monitoring:\n", "    - name: dns-audit\n      purpose: Weekly DNS export.\n"
                        "      scope: zone\n      permissionGroups: [DNS Read]\n      expires: 2027-01-10\n"
                        "  parsify:monitoring:\n"))
    (program / "Pulumi.prod.yaml").write_text(changed)
    status, text = run_cli("plan", "--stack", "prod", "--program", str(program), "--format", "markdown",
                           "--baseline", str(REPO / "stacks/snapshots/prod.json"), "--as-of", PLAN_DATE)
    assert status == 0, text
    return text


def test_change_record_counts_and_classifies_the_change(change_record: str) -> None:
    assert "## Change record: parsify/prod" in change_record
    # 6 changes: the monitor's reports list every database, so removing one changes its settings too.
    assert "**Risk: DESTRUCTIVE** · 1 to add, 6 to change, 0 to replace, 2 to remove" in change_record
    assert "> [!CAUTION]" in change_record
    assert "| - delete | cloudflare:D1Database | `db-analytics-d1` | destructive |" in change_record
    assert "| + create | cloudflare:AccountToken | `tokens-dns-audit` | security-sensitive |" in change_record


def test_change_record_names_the_reviewers_codeowners_requires(change_record: str) -> None:
    line = next(x for x in change_record.splitlines() if x.startswith("**Required reviewers"))
    assert "@parsify/database" in line and "@parsify/security" in line and "@parsify/infrastructure" in line


def test_change_record_shows_property_changes_per_component(change_record: str) -> None:
    assert "<summary><b>parsify:access:AccessControl</b>: " in change_record
    assert "| `sessionDuration` | `4h` | `6h` |" in change_record
    assert "| `bindings[LOG_LEVEL].text` | `info` | `warn` |" in change_record
    assert "| `bindings[DB_ANALYTICS].type` | `d1` | `(none)` |" in change_record


def test_change_record_has_the_graph_and_the_verdicts(change_record: str) -> None:
    graph = change_record.split("```mermaid", 1)[1].split("```", 1)[0]
    assert ":::delete" in graph and ":::create" in graph and ":::update" in graph
    assert "db-analytics-d1<br/>cloudflare:D1Database" in graph
    assert "### Policy gate" in change_record and "parsify-security 1.0.0: passed" in change_record
    assert "| `monitoring-public-hostname-covered` | `frontend-domain-parsify-io` | SEC-218 |" in change_record
    for placeholder in load_stack_files(REPO, "prod").secret_placeholders:
        assert placeholder not in change_record


def test_no_change_against_the_committed_snapshot() -> None:
    status, text = run_cli("plan", "--stack", "prod", "--format", "markdown", "--as-of", PLAN_DATE)
    assert status == 0
    assert "No infrastructure change against the approved snapshot (`stacks/snapshots/prod.json`)." in text


def test_json_plan_carries_the_change_summary(tmp_path: Path) -> None:
    status, text = run_cli("plan", "--stack", "prod", "--format", "json", "--as-of", PLAN_DATE,
                           "--baseline", str(tmp_path / "none.json"))
    assert status == 0
    doc = json.loads(text)
    changes = doc["changes"]
    assert changes["risk"] == "security-sensitive", "a new stack creates access resources"
    assert changes["counts"] == {"create": len(doc["resources"]) - 1}, "everything but the stack itself is new"


def test_access_review_lists_who_reaches_what_with_findings() -> None:
    status, text = run_cli("access-review", "--stack", "staging", "--format", "json", "--as-of", PLAN_DATE)
    review = json.loads(text)
    assert status == 1, "findings: the weekly job reads the exit status, not the Markdown"
    kinds = {(f["kind"], f["subject"]) for f in review["findings"]}
    assert ("administrator", "maya.okafor@parsify.io") in kinds
    assert ("grant without ticket", "elena.costa@parsify.io") in kinds
    assert ("expiring", "grant jon.bell@parsify.io -> Database console") in kinds
    token = next(t for t in review["tokens"] if t["name"] == "parsify-staging-backup-verify")
    assert token["permissionGroups"] == ["Workers R2 Storage Read", "D1 Read"]
    assert token["ipCondition"] == ["203.0.113.0/28"]
    admin = next(a for a in review["applications"] if a["name"] == "Admin console")
    assert admin["policies"][0]["mfa"] == ["hwk"]
    assert {g["name"] for g in admin["policies"][0]["groups"]} == {"sre", "security"}
    assert {"email": "maya.okafor@parsify.io", "role": "OWNER"} in review["vercelTeam"]
    status, markdown = run_cli("access-review", "--stack", "staging", "--as-of", PLAN_DATE)
    assert "| elena.costa@parsify.io | Support console | 2026-12-20 | **none** |" in markdown


def test_access_review_counts_member_policies_and_flags_unknown_role_ids() -> None:
    # Ids: shared/reference/cloudflare-account-roles.json (member-policy group 8e23b19e... is Super
    # Administrator; e1f089ba... was never a Cloudflare role id).
    def member(email: str, inputs: dict[str, object]) -> dict[str, object]:
        return {"urn": f"urn:{email}", "type": "cloudflare:index/accountMember:AccountMember",
                "inputs": {"email": email, **inputs}, "propertyDependencies": {}}

    doc = {"project": "p", "stack": "s", "outputs": {}, "resources": [
        member("via-policy@parsify.io", {"policies": [{
            "access": "allow", "resourceGroups": [{"id": "rg"}],
            "permissionGroups": [{"id": "8e23b19e4e0d44c29d239c5688ba8cbb"}]}]}),
        member("odd@parsify.io", {"roles": ["e1f089bab720148645fcc04a7b52e7db"]}),
        member("scoped@parsify.io", {"roles": ["57280df9f1a5806e04f065b07bbdd17a"]})]}
    review = build_review(doc, date(2026, 11, 27))
    kinds = {(f["kind"], f["subject"]) for f in review["findings"]}
    assert kinds == {("administrator", "via-policy@parsify.io"), ("unknown role", "odd@parsify.io")}
    roles = {m["email"]: m["roles"] for m in review["members"]}
    assert roles["scoped@parsify.io"] == ["Workers Platform Admin"]
    assert roles["odd@parsify.io"] == ["unknown role e1f089bab720148645fcc04a7b52e7db"]


def test_expiry_report_lists_tokens_grants_and_waivers_within_14_days() -> None:
    status, text = run_cli("expiry", "--stack", "prod", "--format", "json", "--as-of", "2027-01-25")
    subjects = {i["subject"] for i in json.loads(text)["expiring"]}
    assert status == 1, "something expires: the daily job reads the exit status"
    assert subjects == {"token parsify-prod-backup-verify",
                        "waiver SEC-218 (monitoring-public-hostname-covered)"}
    status, text = run_cli("expiry", "--stack", "prod", "--as-of", "2026-11-27")
    assert "- grant jon.bell@parsify.io -> Database console: expires 2026-12-11" in text


def test_expiry_exits_0_when_nothing_expires() -> None:
    # 2027-01-05: the December grant is gone from the stack; tokens and the waiver expire after 2027-01-19.
    status, text = run_cli("expiry", "--stack", "prod", "--as-of", "2027-01-05")
    assert (status, text.splitlines()[-1]) == (0, "- nothing"), text


def _many_changes(count: int) -> tuple[dict[str, Any], list[Change]]:
    resources, changes = [], []
    for i in range(count):
        component = f"parsify:edge:Component{i % 7}"
        action = ["create", "update", "delete"][i % 3]
        kind = "cloudflare:index/d1Database:D1Database" if i % 50 == 0 else "cloudflare:index/dnsRecord:DnsRecord"
        urn = f"urn:pulumi:prod::parsify::{component}${kind}::record-{i}"
        resources.append({"urn": urn, "type": kind, "parent": "", "dependencies": [], "custom": True})
        props = [PropertyChange("content", f"192.0.2.{i % 250}", f"198.51.100.{i % 250}")] if action == "update" else []
        risk = "destructive" if action == "delete" and "d1Database" in kind else "routine"
        changes.append(Change(action, urn, kind, f"record-{i}", component, risk, props, protected=risk != "routine"))
    doc = {"project": "parsify", "stack": "prod", "resources": resources, "outputs": {},
           "policyPack": {"name": "parsify-security", "version": "1.0.0", "config": None},
           "violations": [{"policy": "zone-setting-transport-security", "level": "mandatory", "urn": changes[3].urn,
                           "message": "ZoneSetting 'tls': min_tls_version is 1.0; use 1.2 or 1.3."}],
           "waived": [], "compliance": {"sections": {}, "policies": []}}
    return doc, changes


def test_a_change_of_1000_resources_fits_a_github_comment_and_keeps_what_matters() -> None:
    doc, changes = _many_changes(1000)
    record = render_change_record(doc, changes, ["@parsify/database"], "stacks/snapshots/prod.json")
    assert len(record) <= 30_000 < 65_536 // 2 + 1, "both stacks' records fit one comment"
    head = record.split("### Changes by component")[0]
    assert head.index("**Policy gate: BLOCKED**") < head.index("**Risk: DESTRUCTIVE**") < head.index("reviewers")
    assert "min_tls_version is 1.0" in head, "violations are never cut"
    destroyed = [c for c in changes if c.risk == "destructive"]
    assert destroyed and all(f"`{c.name}` | yes |" in head for c in destroyed), "destructive changes are never cut"
    assert "did not fit in this record" in record and "change-record-full.md" in record
    graph = record.split("```mermaid", 1)[1].split("```", 1)[0] if "```mermaid" in record else ""
    assert not graph or graph.count("[\"") <= 7, "the graph collapses to components"
    full = render_change_record(doc, changes, ["@parsify/database"], "b", max_chars=0)
    assert "did not fit" not in full and "`record-999`" in full


def test_a_small_change_keeps_its_resource_graph() -> None:
    doc, changes = _many_changes(12)
    graph = render_change_record(doc, changes, [], "b").split("```mermaid", 1)[1].split("```", 1)[0]
    assert graph.count("[\"") == 12 and "record-11<br/>cloudflare:DnsRecord" in graph


def test_required_reviewers_are_those_of_the_stack_that_changed() -> None:
    # CODEOWNERS matched as GitHub does: /Pulumi.prod.yaml names security; staging's file falls under `*`.
    owners = read_codeowners(REPO / ".github" / "CODEOWNERS")
    change = Change("update", "urn:x", "cloudflare:index/workersScript:WorkersScript", "api",
                    "parsify:edge:ApiWorker", "routine")
    assert required_reviewers([change], "staging", owners) == ["@parsify/infrastructure"]
    assert required_reviewers([change], "prod", owners) == ["@parsify/infrastructure", "@parsify/security"]
    destructive = Change("delete", "urn:y", "cloudflare:index/d1Database:D1Database", "db", "parsify:data:Database",
                         "destructive")
    assert "@parsify/database" in required_reviewers([destructive], "staging", owners)
    assert required_reviewers([], "prod", owners) == []
