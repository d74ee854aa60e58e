"""The gate as a whole: real stacks, waivers, fail-closed evaluation, metadata and the catalogue."""

from __future__ import annotations

import inspect
import json
import re
import shutil
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from parsify_policies import handbook
from parsify_policies.pack import METAS, MODULES, POLICIES, pack_arguments
from pulumi_policy import EnforcementLevel

from parsify_infra.capture import CapturedResource
from parsify_infra.gate import evaluate, load_pack
from parsify_infra.plan import capture_stack
from tests.conftest import REPO, plan_json, run_cli
from tests.test_policy_cases import gate

TOKEN = "cloudflare:index/accountToken:AccountToken"
OPEN_POLICY = {"type": "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "name": "open",
               "inputs": {"decision": "allow", "includes": [{"everyone": {}}]}}


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_real_stacks_pass_the_gate_with_no_mandatory_violation(stack: str) -> None:
    status, plan = plan_json("--stack", stack)
    assert status == 0
    assert plan["policyPack"] == {"name": "parsify-security", "version": "1.0.0",  # policies/PulumiPolicy.yaml
                                  "config": f"policies/config/{stack}.json"}
    assert [v for v in plan["violations"] if v["level"] == "mandatory"] == []
    assert len(plan["compliance"]["policies"]) == len(POLICIES)
    assert plan["waived"], "the apex-domain waiver is exercised"


def waiver(**overrides: Any) -> dict[str, Any]:
    return {"resources": ["open"], "ticket": "SEC-1", "approver": "nadia.haddad@parsify.io",
            "reason": "Public status page policy, reviewed with the security lead.", "expires": "2026-12-31",
            **overrides}


def test_active_waiver_moves_the_violation_to_waived(tmp_path: Path) -> None:
    status, plan = gate(tmp_path, [OPEN_POLICY], {"access-policy-no-public-include": {"waivers": [waiver()]}})
    assert not [v for v in plan["violations"] if v["policy"] == "access-policy-no-public-include"]
    (entry,) = [w for w in plan["waived"] if w["policy"] == "access-policy-no-public-include"]
    assert entry["waiver"]["ticket"] == "SEC-1" and entry["urn"].endswith("::open")
    # The auditor's summary counts it as waived, not as a violation, and the other policies waived nothing.
    assert _compliance(plan, "access-policy-no-public-include") == {
        "policy": "access-policy-no-public-include", "level": "mandatory",
        "section": "Security Best Practices / Access Control / Principle of Least Privilege", "violations": 0,
        "waived": 1, "status": "pass"}
    assert sum(p["waived"] for p in plan["compliance"]["policies"]) == 1
    assert status == 1, "the other violations of this resource (no MFA) still block"


def test_a_waiver_applies_to_one_resource_of_a_resource_policy(tmp_path: Path) -> None:
    # A resource policy judges one resource at a time: the waiver for web covers web, not docs.
    unprotected = {"vercelAuthentication": {"deploymentType": "none"}}
    projects = [{"type": "vercel:index/project:Project", "name": name, "inputs": {"name": name, **unprotected}}
                for name in ("web", "docs")]
    config = {"vercel-project-deployment-protection": {"waivers": [waiver(resources=["web"])]}}
    status, plan = gate(tmp_path, projects, config)
    urn = "urn:pulumi:case::policy-fixture::pulumi:pulumi:Stack$vercel:index/project:Project::"
    assert [(w["urn"], w["waiver"]["ticket"]) for w in plan["waived"]] == [(urn + "web", "SEC-1")]
    assert [v["urn"] for v in plan["violations"] if v["policy"] == "vercel-project-deployment-protection"] == [
        urn + "docs"]
    assert status == 1


def test_expired_waiver_stops_applying_and_is_reported(tmp_path: Path) -> None:
    expired = waiver(expires="2026-11-01", resources=["open", "open2"])
    config = {"access-policy-no-public-include": {"waivers": [expired]}}
    status, plan = gate(tmp_path, [OPEN_POLICY, {**OPEN_POLICY, "name": "open2"}], config)
    found = [v for v in plan["violations"] if v["policy"] == "access-policy-no-public-include"]
    assert any(v["level"] == "mandatory" and "Waiver SEC-1 for this resource expired on 2026-11-01" in v["message"]
               for v in found)
    # The expired waiver itself is a finding on the pack config, not on a resource (urn ""), saying what to do.
    assert {"policy": "access-policy-no-public-include", "level": "advisory", "urn": "",
            "message": f"Waiver SEC-1 for open, open2 expired on 2026-11-01 and no longer applies. Remove it from "
                       f"{tmp_path / 'pack.json'} or renew it with a new approval."} in found
    assert plan["expiredWaivers"][0]["ticket"] == "SEC-1"
    assert status == 1


@pytest.mark.parametrize("expires, applies", [("2026-11-27", True), ("2026-11-26", False)],
                         ids=["last valid day", "a day after"])
def test_a_waiver_applies_through_its_expiry_day_and_not_a_day_longer(tmp_path: Path, expires: str,
                                                                      applies: bool) -> None:
    # The suite's plan date is 2026-11-27: a waiver expiring that day still applies on it.
    config = {"access-policy-no-public-include": {"waivers": [waiver(expires=expires)]}}
    _, plan = gate(tmp_path, [OPEN_POLICY], config)
    waived = [w for w in plan["waived"] if w["policy"] == "access-policy-no-public-include"]
    blocking = [v for v in plan["violations"]
                if v["policy"] == "access-policy-no-public-include" and v["level"] == "mandatory"]
    assert (bool(waived), bool(blocking), bool(plan["expiredWaivers"])) == (applies, not applies, not applies)


@pytest.mark.parametrize("config, expected", [
    ({"no-such-policy": {"waivers": [waiver()]}}, "key no-such-policy: no policy of that name"),
    ({"access-policy-no-public-include": {"waivers": [waiver(resources=["ghost"])]}},
     "names ghost, which is not a resource of this stack"),
    ({"access-policy-no-public-include": {"waivers": [waiver(expires="2027-06-01")]}},
     "key access-policy-no-public-include.waivers: Waiver SEC-1 of policy 'access-policy-no-public-include' "
     "(waivers[0]) expires 2027-06-01, more than 90 days after the plan date 2026-11-27; waivers are time-limited; "
     "it does not apply"),
    ({"access-policy-no-public-include": {"waivers": [waiver(reason="ok")]}},
     "waivers.0.reason: 'ok' is not a sentence (20 characters or more, three words) saying why the risk is accepted"),
    ({"access-policy-no-public-include": {"waivers": [waiver(ticket="none")]}},
     "waivers.0.ticket: 'none' is not a ticket key such as SEC-218"),
    # A reason long enough but no sentence: blanks or dots that fill the 20 characters, two words.
    *[({"access-policy-no-public-include": {"waivers": [waiver(reason=reason)]}},
       " ".join(f"waivers.0.reason: {reason!r} is not a sentence (20 characters or more, three words) saying why the "
                "risk is accepted".split()))  # the one-line error collapses runs of blanks
      for reason in (" " * 40, "." * 40, "Accepted risk........")],
    ({"api-token-expires": {"maxLifetimeDays": "ninety"}}, "key api-token-expires.maxLifetimeDays"),
    ({"all": "strict"}, "key all: enforcement levels come only from each policy's metadata"),
    ({"all": "disabled"}, "key all: enforcement levels come only from each policy's metadata "
     "(policies/parsify_policies/policies/); a pack config may not disable or downgrade a policy. To accept a "
     "violation, add a waiver."),
    ({"api-token-expires": 30}, "key api-token-expires: 30 is not an object of the policy's properties"),
    ({"all": {"enforcementLevel": "advisory"}}, "key all: enforcement levels come only from each policy's metadata"),
    ({"all": {}}, "key all: enforcement levels come only from each policy's metadata"),  # "all" is only for levels
    # A misspelt property would otherwise be ignored and its default apply: the break-glass list left unread.
    ({"account-member-admin-break-glass-only": {"breakglass": ["a@parsify.io"]}},
     "key account-member-admin-break-glass-only: Additional properties are not allowed ('breakglass' was unexpected)"),
    ({"account-member-admin-break-glass-only": "advisory"}, "key account-member-admin-break-glass-only: enforce"),
    ({"account-member-admin-break-glass-only": {"enforcementLevel": "disabled", "breakGlass": []}},
     "key account-member-admin-break-glass-only.enforcementLevel: enforcement levels"),
    # Two break-glass people at most (handbook, least privilege): the third is refused by the policy's config schema,
    # which the real CLI checks too, before any policy runs.
    ({"account-member-admin-break-glass-only": {"breakGlass": ["a@parsify.io", "b@parsify.io", "c@parsify.io"]}},
     "key account-member-admin-break-glass-only.breakGlass: ['a@parsify.io', 'b@parsify.io', 'c@parsify.io'] is too "
     "long"),
], ids=["unknown policy", "unknown resource", "too long", "no reason", "no ticket", "blank reason", "dots for a reason",
        "two words", "bad type", "bad level",
        "all disabled", "a number for a policy", "all as an object", "all as an empty object", "misspelt property",
        "one downgraded", "one disabled", "three break-glass people"])
def test_bad_pack_config_is_an_error_naming_file_and_key(tmp_path: Path, config: dict[str, Any],
                                                         expected: str) -> None:
    program = tmp_path / "program"
    gate(tmp_path, [OPEN_POLICY])  # lays out the fixture program
    (tmp_path / "bad.json").write_text(json.dumps(config))
    status, message = run_cli("plan", "--stack", "case", "--program", str(program), "--policy-config",
                              str(tmp_path / "bad.json"), "--as-of", "2026-11-27")
    assert status == 2
    assert "bad.json: key " in message and expected in message


def test_a_policy_that_raises_fails_closed(tmp_path: Path) -> None:
    token = {"type": TOKEN, "name": "t", "inputs": {"name": "ci", "expiresOn": "next tuesday"}}
    status, plan = gate(tmp_path, [token])
    (failure,) = [v for v in plan["violations"] if v["policy"] == "api-token-expires"]
    assert failure["level"] == "mandatory" and status == 1
    assert failure["message"].startswith("POLICY ERROR: policy 'api-token-expires' raised ValueError")
    # the other policies still ran on the same resource
    assert next(p for p in plan["compliance"]["policies"]
                if p["policy"] == "api-token-no-wildcard-resources")["status"] == "pass"


def _compliance(plan: dict[str, Any], policy: str) -> dict[str, Any]:
    return next(p for p in plan["compliance"]["policies"] if p["policy"] == policy)


def test_an_advisory_policy_that_crashes_blocks_and_fails_its_section(tmp_path: Path) -> None:
    # `observability` must be an object (pulumi-cloudflare WorkersScript.observability); a string makes the
    # advisory policy raise. A crash is not a verdict: it fails closed, whatever the policy's own level.
    script = {"type": "cloudflare:index/workersScript:WorkersScript", "name": "w", "inputs": {"observability": "on"}}
    status, plan = gate(tmp_path, [script])
    (failure,) = [v for v in plan["violations"] if v["policy"] == "workers-script-observability-logs"]
    assert failure["message"].startswith("POLICY ERROR: policy 'workers-script-observability-logs' raised")
    assert failure["level"] == "mandatory" and status == 1
    summary = _compliance(plan, "workers-script-observability-logs")
    assert (summary["level"], summary["status"], summary["violations"]) == ("advisory", "fail", 1)
    assert plan["compliance"]["sections"][summary["section"]]["fail"] >= 1


def test_a_stack_policy_that_crashes_fails_closed_naming_the_stack(tmp_path: Path) -> None:
    # Worker `bindings` is a list of objects (pulumi-cloudflare WorkersScript.bindings); a string makes the
    # backup policies, which read the whole stack, raise.
    db = {"type": "cloudflare:index/d1Database:D1Database", "name": "db", "inputs": {"name": "core"}, "protect": True}
    script = {"type": "cloudflare:index/workersScript:WorkersScript", "name": "w", "inputs": {"bindings": "DB"}}
    status, plan = gate(tmp_path, [db, script])
    (failure,) = [v for v in plan["violations"] if v["policy"] == "d1-database-has-scheduled-backup"]
    assert failure["level"] == "mandatory" and status == 1
    assert failure["message"].startswith("POLICY ERROR: policy 'd1-database-has-scheduled-backup' raised ")
    assert failure["message"].endswith(" on the stack. The policy fails closed: fix the policy or the resource "
                                       "before deploying.")


def test_a_resource_policy_crash_names_the_resource_by_type_and_name(tmp_path: Path) -> None:
    token = {"type": TOKEN, "name": "t", "inputs": {"name": "ci", "expiresOn": "next tuesday"}}
    _, plan = gate(tmp_path, [token])
    (failure,) = [v for v in plan["violations"] if v["policy"] == "api-token-expires"]
    assert " on AccountToken 't'. The policy fails closed: fix the policy or the resource" in failure["message"]


def test_an_unknown_value_blocks_instead_of_passing(tmp_path: Path) -> None:
    # During `pulumi preview` a computed output is unknown; the SDK alone would pass with an advisory note.
    token = {"type": "cloudflare:index/apiToken:ApiToken", "name": "t",
             "inputs": {"name": "ci", "expiresOn": "unknown:"}}
    status, plan = gate(tmp_path, [token])
    (finding,) = [v for v in plan["violations"] if v["policy"] == "api-token-expires"]
    assert finding["level"] == "mandatory" and finding["message"].startswith(
        "Policy 'api-token-expires' cannot judge ApiToken 't' during preview because a value it reads is unknown "
        "until apply (")
    assert finding["message"].endswith("). It fails closed: make the value known (for example a literal or a config "
                                       "value), or waive this with a ticket."), "it says how to proceed"
    assert status == 1 and _compliance(plan, "api-token-expires")["status"] == "fail"


def test_compliance_summary_says_pass_warn_and_fail(tmp_path: Path) -> None:
    script = {"type": "cloudflare:index/workersScript:WorkersScript", "name": "w", "inputs": {}}
    token = {"type": TOKEN, "name": "t", "inputs": {"name": "ci"}}  # no expiry: mandatory
    status, plan = gate(tmp_path, [script, token])
    assert status == 1
    statuses = {p["policy"]: p["status"] for p in plan["compliance"]["policies"]}
    assert statuses["workers-script-observability-logs"] == "warn"
    assert statuses["api-token-expires"] == "fail"
    assert statuses["api-token-no-wildcard-resources"] == "pass"
    sections = plan["compliance"]["sections"]
    assert sum(s["policies"] for s in sections.values()) == len(POLICIES)
    assert sum(s["fail"] for s in sections.values()) == list(statuses.values()).count("fail")
    assert sum(s["warn"] for s in sections.values()) == list(statuses.values()).count("warn")
    assert sum(s["pass"] for s in sections.values()) == list(statuses.values()).count("pass")
    # Each policy is counted in its handbook section, the auditor's view.
    assert _compliance(plan, "api-token-expires")["section"] == \
        "Security Best Practices / Access Control / Temporary Access"
    assert sections["Operations Tools / Monitoring Tools / Log Management"] == {
        "policies": 1, "pass": 0, "warn": 1, "fail": 0, "disabled": 0}


def test_advisory_violations_do_not_block(tmp_path: Path) -> None:
    script = {"type": "cloudflare:index/workersScript:WorkersScript", "name": "w", "inputs": {}}
    status, plan = gate(tmp_path, [script])
    assert [v["level"] for v in plan["violations"]] == ["advisory"]
    assert status == 0


def test_policy_metadata_follows_the_pack_conventions() -> None:
    prefixes = ("access-", "account-", "api-token-", "d1-", "r2-", "workers-", "vercel-", "zone-", "monitoring-")
    assert len({m.name for m in METAS}) == len(METAS)
    for meta, module, policy in zip(METAS, MODULES, POLICIES, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", meta.name) and meta.name.startswith(prefixes)
        assert module.__name__.rsplit(".", 1)[-1] == meta.name.replace("-", "_"), "one file per policy, same name"
        assert meta.section in handbook.SECTIONS
        assert meta.description.endswith(".") and meta.remediation.endswith(".")
        assert policy.severity is not None and policy.remediation_steps and policy.tags
        assert f"handbook:{meta.section}" in policy.tags
        assert "waivers" in policy.config_schema.properties


def test_the_private_analyzer_path_is_still_there() -> None:
    """The gate drives pulumi_policy's private servicer: fail loudly when an SDK bump changes it."""
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    assert metadata.version("pulumi-policy") == "1.21.0"
    assert list(inspect.signature(_PolicyAnalyzerServicer.__init__).parameters) == [
        "self", "name", "version", "policies", "enforcement_level", "initial_config", "description",
        "display_name", "readme", "provider", "tags", "repository"]
    for method in ("Configure", "Analyze", "AnalyzeStack"):
        assert list(inspect.signature(getattr(_PolicyAnalyzerServicer, method)).parameters)[:2] == [
            "self", "request"]


def test_policies_requirements_pin_the_same_sdk_as_the_lock() -> None:
    requirements = (REPO / "policies/requirements.txt").read_text()
    for package in ("pulumi", "pulumi-policy", "detect-secrets", "idna"):
        assert f"{package}=={metadata.version(package)}" in requirements


def test_readme_catalogue_is_current() -> None:
    status, table = run_cli("policies")
    assert status == 0
    assert table.count("\n") == len(POLICIES) + 2
    assert table in (REPO / "README.md").read_text(), "regenerate: uv run parsify-infra policies"


def test_synthetic_monitor_targets_count_as_monitoring_coverage(tmp_path: Path) -> None:
    """Without its health check, www is still covered: the monitor Worker probes it."""
    from tests.conftest import copy_program

    program = copy_program(tmp_path)
    prod = (REPO / "Pulumi.prod.yaml").read_text()
    (program / "Pulumi.prod.yaml").write_text(prod.replace("      - {hostname: www.parsify.io, path: /}\n", ""))
    status, plan = plan_json("--stack", "prod", "--program", str(program))
    assert status == 0
    assert not [v for v in plan["violations"] if v["policy"] == "monitoring-public-hostname-covered"]
    # ... and with the monitor's target gone too, the gate catches the unmonitored hostname.
    (program / "Pulumi.prod.yaml").write_text(
        prod.replace("      - {hostname: www.parsify.io, path: /}\n", "")
        .replace('        - {name: Web app, url: "https://www.parsify.io/"}\n', ""))
    status, plan = plan_json("--stack", "prod", "--program", str(program))
    assert status == 1
    assert any("Public hostname www.parsify.io" in v["message"] for v in plan["violations"])


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_enforcement_levels_have_one_source_the_policy_metadata(stack: str) -> None:
    # A level in a stack's pack config would silently override the pack's own (e.g. "all": "mandatory"
    # flipping an advisory policy); the metadata in each policy file is the one source.
    config = json.loads((REPO / "policies" / "config" / f"{stack}.json").read_text())
    assert "all" not in config
    assert not [k for k, v in config.items() if isinstance(v, str) or (isinstance(v, dict) and "enforcementLevel" in v)]


def test_handbook_sections_are_the_sdk_compliance_framework() -> None:
    for policy, meta in zip(POLICIES, METAS, strict=True):
        assert policy.framework is not None and policy.framework.name == handbook.FRAMEWORK
        assert policy.framework.reference == meta.section and meta.section in handbook.SECTIONS


def test_skipping_policies_outside_their_families_changes_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    # The gate hands each resource only to the policies whose families include its type; with every policy
    # asked about every resource (as the engine does) the verdicts must be the same, violations included.
    _, capture = capture_stack(REPO, "prod")
    resources = [*capture.resources, *[
        CapturedResource(urn=f"urn:pulumi:prod::parsify::{t}::odd{i}", type=t, name=f"odd{i}", custom=True,
                         parent=None, dependencies=[], property_dependencies={}, protect=False,
                         retain_on_delete=False, inputs=inputs)
        for i, (t, inputs) in enumerate([
            ("cloudflare:index/accessPolicy:AccessPolicy", {"decision": "allow", "includes": [{"everyone": {}}]}),
            ("cloudflare:index/apiToken:ApiToken", {"name": "t", "policies": [{"effect": "allow", "resources": "{}",
                                                    "permissionGroups": [{"id": "0000"}]}]}),
            ("vercel:index/project:Project", {"name": "p"}),
            ("cloudflare:index/workerScript:WorkerScript", {"bindings": [{"type": "plain_text", "name": "DB_PASS",
                                                                          "text": "x"}]})])]]
    group_urn = "urn:pulumi:prod::parsify::cloudflare:index/zeroTrustAccessGroup:ZeroTrustAccessGroup::all"
    resources += [
        CapturedResource(urn=group_urn, type="cloudflare:index/zeroTrustAccessGroup:ZeroTrustAccessGroup",
                         name="all", custom=True, parent=None, dependencies=[], property_dependencies={},
                         protect=False, retain_on_delete=False, inputs={"includes": [{"everyone": {}}]}),
        CapturedResource(urn="urn:pulumi:prod::parsify::cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy::"
                         "via-group", type="cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
                         name="via-group", custom=True, parent=None, dependencies=[group_urn],
                         property_dependencies={"includes": [group_urn]}, protect=False, retain_on_delete=False,
                         inputs={"decision": "allow", "includes": [{"group": {"id": "all-id"}}]})]
    pack = load_pack(REPO / "policies")
    today = date(2026, 11, 27)
    skipping = evaluate(pack, resources, REPO / "policies/config/prod.json", today).violations
    for policy in pack.policies:
        monkeypatch.setattr(policy, "judges", None, raising=False)
    everything = evaluate(pack, resources, REPO / "policies/config/prod.json", today).violations
    key = lambda v: (v["policy"], v["urn"], v["message"])  # noqa: E731
    assert sorted(skipping, key=key) == sorted(everything, key=key)
    assert len(everything) >= 5, "the odd resources were judged"
    assert any("through an Access group" in v["message"] for v in skipping), "a stack policy saw the group"


def test_the_pack_the_real_cli_loads_is_mandatory_by_default_and_describes_itself() -> None:
    # policies/__main__.py hands these to PolicyPack: a policy without a level of its own blocks (fail closed), and
    # `pulumi policy publish` shows the description.
    arguments = pack_arguments()
    assert (arguments["name"], arguments["enforcement_level"], arguments["policies"]) == (
        "parsify-security", EnforcementLevel.MANDATORY, POLICIES)
    assert arguments["description"] == ("Parsify's security gate: least privilege, MFA, data safety, transport and "
                                        "monitoring.")


# Another team's plain CrossGuard policies beside the pack's (pulumi_policy.StackValidationPolicy and
# ResourceValidationPolicy, without the pack's `judges`): the engine gives a stack policy every resource and a
# resource policy each one, so the gate must too.
PLAIN_POLICIES = '''
import os

from parsify_policies.pack import pack_arguments
from plain_helpers import names  # a module of the pack's own, beside its __main__.py
from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, PolicyPack, ResourceValidationPolicy,
                           StackValidationPolicy)


def _stack(args, report_violation):
    report_violation("The stack has " + names(args.resources) + ".")


def _resource(args, report_violation):
    report_violation(f"{args.name} is a {args.resource_type}.")


arguments = pack_arguments()
arguments["policies"] = [
    *arguments["policies"],
    StackValidationPolicy(name="plain-stack", description="Lists the stack.", validate=_stack,
                          enforcement_level=EnforcementLevel.ADVISORY),
    ResourceValidationPolicy(name="plain-resource", description="Names each type.", validate=_resource,
                             enforcement_level=EnforcementLevel.ADVISORY),
    ResourceValidationPolicy(name="plain-off", description="Switched off by its own metadata.", validate=_resource,
                             enforcement_level=EnforcementLevel.DISABLED),
    StackValidationPolicy(name="plain-unset", description="No level of its own.", validate=_stack),
    ResourceValidationPolicy(name="plain-fix", description="Remediates.", validate=_resource,
                             enforcement_level=EnforcementLevel.REMEDIATE),
    # A violation without a message reads as the policy's description (the SDK writes the description, a newline,
    # then the message)
    StackValidationPolicy(name="plain-terse", description="Says only its description.",
                          validate=lambda args, report_violation: report_violation(""),
                          enforcement_level=EnforcementLevel.ADVISORY),
]
if os.environ.get("PACK_LEVEL") == "unset":
    del arguments["enforcement_level"]
# The engine applies a config schema's defaults before a policy runs, and refuses a config without a required
# property (the Go side of `pulumi preview --policy-pack`, which gate.read_pack_config reproduces).
def _limit(args, report_violation):
    report_violation(f"The limit is {args.get_config()['limit']}.")


arguments["policies"].append(StackValidationPolicy(
    name="plain-config", description="Reads its config.", validate=_limit, enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={"limit": {"type": "integer", "default": 7}, "team": {"type": "string"}},
        required=["team"] if os.environ.get("REQUIRE_TEAM") else None)))
if os.environ.get("BOOM"):  # a plain policy that raises: the SDK does not catch it
    def _boom(args, report_violation):
        raise RuntimeError("boom")
    kind = StackValidationPolicy if os.environ["BOOM"] == "stack" else ResourceValidationPolicy
    arguments["policies"].append(kind(name="plain-boom", description="Raises.", validate=_boom))
if __name__ == "__main__":  # as `pulumi preview --policy-pack` runs it
    PolicyPack(**arguments)
'''


def _plain_pack(tmp_path: Path) -> Path:
    """The pack with PLAIN_POLICIES beside its own."""
    pack = tmp_path / "pack"
    shutil.copytree(REPO / "policies", pack, ignore=shutil.ignore_patterns("__pycache__", ".mypy_cache"))
    (pack / "__main__.py").write_text(PLAIN_POLICIES)
    (pack / "plain_helpers.py").write_text("def names(resources):\n    return ', '.join(sorted(r.name for r in "
                                           "resources))\n")
    return pack


# A policy without its own level takes the pack's; without that too, PolicyPack's default, advisory
# (pulumi_policy/policy.py, PolicyPack and _get_enforcement_level).
@pytest.mark.parametrize("pack_level, unset_level", [("mandatory", "mandatory"), ("unset", "advisory")])
def test_plain_policies_without_families_get_what_the_engine_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   pack_level: str, unset_level: str) -> None:
    monkeypatch.setenv("PACK_LEVEL", pack_level)
    pack = _plain_pack(tmp_path)
    # PulumiPolicy.yaml's version is optional; pulumi_policy then reports "0.0.1" (pulumi_policy/policy.py, PolicyPack)
    project = (pack / "PulumiPolicy.yaml").read_text()
    (pack / "PulumiPolicy.yaml").write_text("\n".join(line for line in project.splitlines()
                                                      if not line.startswith("version:")))
    script = {"type": "cloudflare:index/workersScript:WorkersScript", "name": "w",
              "inputs": {"observability": {"enabled": True, "logs": {"enabled": True}}}}
    vercel = {"type": "vercel:index/project:Project", "name": "web", "inputs": {"name": "web"}}
    status, plan = gate(tmp_path, [script, vercel], extra=("--policy-pack", str(pack)))
    found = {v["policy"]: [] for v in plan["violations"]}
    for v in plan["violations"]:
        found[v["policy"]].append(v["message"])
    stack_names = sorted(r["name"] for r in plan["resources"])
    assert found["plain-stack"] == [f"The stack has {', '.join(stack_names)}."]
    assert {"w is a cloudflare:index/workersScript:WorkersScript.",
            "web is a vercel:index/project:Project."} <= set(found["plain-resource"])
    assert "plain-off" not in found, "a disabled policy does not run"
    unset_status = "fail" if unset_level == "mandatory" else "warn"
    assert [(name, _compliance(plan, name)["level"], _compliance(plan, name)["status"],
             _compliance(plan, name)["section"]) for name in ("plain-stack", "plain-resource", "plain-off",
                                                              "plain-unset")] == [
        ("plain-stack", "advisory", "warn", "unmapped"), ("plain-resource", "advisory", "warn", "unmapped"),
        ("plain-off", "disabled", "disabled", "unmapped"), ("plain-unset", unset_level, unset_status, "unmapped")]
    assert plan["compliance"]["sections"]["unmapped"] == {
        "policies": 7, "pass": 0, "warn": 4 + (unset_status == "warn"), "fail": 1 + (unset_status == "fail"),
        "disabled": 1}
    assert {v["level"] for v in plan["violations"] if v["policy"] == "plain-unset"} == {unset_level}
    assert status == 1, "the pack's own mandatory policies still judge (the Vercel project has no protection)"
    assert (plan["policyPack"]["name"], plan["policyPack"]["version"]) == ("parsify-security", "0.0.1")
    # The schema's default, as the engine applies it (config reaches the SDK as a protobuf Struct: numbers are floats)
    assert found["plain-config"] == ["The limit is 7.0."]
    assert found["plain-terse"] == ["Says only its description."]
    assert {v["urn"] for v in plan["violations"] if v["policy"] == "plain-stack"} == {""}, "on the stack, no resource"
    # A remediation's validation blocks like a mandatory policy (pulumi_policy: REMEDIATE, when not remediating)
    assert _compliance(plan, "plain-fix")["level"] == "remediate"
    assert {v["level"] for v in plan["violations"] if v["policy"] == "plain-fix"} == {"mandatory"}


def test_a_required_property_left_out_of_the_pack_config_is_refused(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUIRE_TEAM", "1")
    pack = _plain_pack(tmp_path)
    gate(tmp_path, [OPEN_POLICY])  # lays out the fixture program
    status, message = run_cli("plan", "--stack", "case", "--program", str(tmp_path / "program"), "--policy-pack",
                              str(pack), "--policy-config", str(tmp_path / "pack.json"))
    assert (status, message) == (2, f"{tmp_path / 'pack.json'}: key plain-config: 'team' is a required property")


@pytest.mark.parametrize("kind, subject", [("resource", "urn:pulumi:case::policy-fixture::pulumi:pulumi:Stack::"
                                                       "policy-fixture-case"), ("stack", "the stack")])
def test_a_plain_policy_that_raises_stops_the_plan_as_the_real_cli_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        kind: str, subject: str) -> None:
    monkeypatch.setenv("BOOM", kind)
    pack = _plain_pack(tmp_path)
    (tmp_path / "program").mkdir()
    shutil.copytree(REPO / "tests" / "fixtures" / "generic", tmp_path / "program", dirs_exist_ok=True)
    (tmp_path / "program" / "Pulumi.case.yaml").write_text("config:\n  policy-fixture:resources: []\n")
    status, message = run_cli("plan", "--stack", "case", "--program", str(tmp_path / "program"), "--policy-pack",
                              str(pack))
    assert (status, message) == (2, f"policy pack parsify-security: a policy raised RuntimeError: boom while "
                                    f"judging {subject}, so no plan was made (`pulumi preview --policy-pack` fails "
                                    "here too). Fix that policy; the pack's own policies report such an error as a "
                                    "blocking POLICY ERROR violation instead.")


@pytest.mark.parametrize("main, problem", [
    (None, "__main__.py: file not found; --policy-pack must name a CrossGuard Python pack folder"),
    ("from pulumi_policy import PolicyPack\n", "__main__.py: the pack never calls PolicyPack(...), so it declares no "
                                                "policies"),
], ids=["no pack here", "no PolicyPack call"])
def test_a_folder_that_is_not_a_pack_is_one_line(tmp_path: Path, main: str | None, problem: str) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\n")
    if main is not None:
        (pack / "__main__.py").write_text(main)
    gate(tmp_path, [])  # lays out the fixture program
    status, message = run_cli("plan", "--stack", "case", "--program", str(tmp_path / "program"), "--policy-pack",
                              str(pack))
    assert (status, message) == (2, f"{pack}/{problem}")


def test_a_pack_config_that_is_not_an_object_is_one_line(tmp_path: Path) -> None:
    gate(tmp_path, [OPEN_POLICY])  # lays out the fixture program
    (tmp_path / "bad.json").write_text('["access-policy-no-public-include"]')
    status, message = run_cli("plan", "--stack", "case", "--program", str(tmp_path / "program"), "--policy-config",
                              str(tmp_path / "bad.json"))
    assert (status, message) == (2, f"{tmp_path / 'bad.json'}: the pack config must be a JSON object")
