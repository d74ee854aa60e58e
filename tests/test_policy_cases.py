"""Every policy, through the gate: its compliant case passes and each violating case is caught.

Cases live in fixtures/policy_cases.yaml and are declared by fixtures/generic, a small Pulumi program,
through `parsify-infra plan --program`, exactly as the real stacks go through it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from parsify_policies.pack import METAS

from tests.conftest import plan_json

FIXTURES = Path(__file__).parent / "fixtures"
CASES: dict[str, Any] = yaml.safe_load((FIXTURES / "policy_cases.yaml").read_text())
BREAK_GLASS = {"breakGlass": ["maya.okafor@parsify.io"]}
DEFAULT_PACK_CONFIG = {"account-member-admin-break-glass-only": BREAK_GLASS,
                       "vercel-team-member-owner-break-glass-only": BREAK_GLASS}


def gate(tmp_path: Path, resources: list[dict[str, Any]], pack_config: dict[str, Any] | None = None,
         extra: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    program = tmp_path / "program"
    shutil.copytree(FIXTURES / "generic", program, dirs_exist_ok=True)
    config = {"config": {"policy-fixture:resources": resources}}
    (program / "Pulumi.case.yaml").write_text(yaml.safe_dump(config))
    pack_file = tmp_path / "pack.json"
    pack_file.write_text(json.dumps(pack_config or DEFAULT_PACK_CONFIG))
    return plan_json("--stack", "case", "--program", str(program), "--policy-config", str(pack_file), *extra)


def findings(plan: dict[str, Any], policy: str) -> list[dict[str, Any]]:
    return [v for v in plan["violations"] if v["policy"] == policy]


def test_every_policy_has_cases() -> None:
    assert sorted(CASES) == sorted(m.name for m in METAS)
    assert all(CASES[name]["violating"] for name in CASES)


# A policy's compliant resources pass together; `compliant_alone` sets pass on their own (a resource that would let
# everything else pass, such as organization-wide MFA, must not hide the other ways to comply).
COMPLIANT = [pytest.param(name, resources, case.get("compliant_config"),
                          id=f"{name}-alone-{index}" if index else name)
             for name, case in CASES.items()
             for index, resources in enumerate([case["compliant"], *case.get("compliant_alone", [])])]
VIOLATING = [pytest.param(name, v["resources"], v["expect"], v.get("config"), v.get("findings", 1),
                          id=f"{name}:{v['expect'][:40]}")
             for name, case in CASES.items() for v in case["violating"]]


@pytest.mark.parametrize("policy, resources, config", COMPLIANT)
def test_compliant_case_passes(tmp_path: Path, policy: str, resources: list[dict[str, Any]],
                               config: dict[str, Any] | None) -> None:
    _, plan = gate(tmp_path, resources, {**DEFAULT_PACK_CONFIG, policy: config} if config else None)
    assert findings(plan, policy) == []
    assert next(p for p in plan["compliance"]["policies"] if p["policy"] == policy)["status"] == "pass"


@pytest.mark.parametrize("policy, resources, expected, config, count", VIOLATING)
def test_violating_case_is_caught(tmp_path: Path, policy: str, resources: list[dict[str, Any]],
                                  expected: str, config: dict[str, Any] | None, count: int) -> None:
    status, plan = gate(tmp_path, resources, {**DEFAULT_PACK_CONFIG, policy: config} if config else None)
    found = findings(plan, policy)
    assert expected in [v["message"] for v in found], found  # the whole message, as the user reads it
    assert len(found) == count, f"{count} violation(s) expected (the case's `findings`, default 1): {found}"
    assert all(v["urn"].startswith("urn:pulumi:case::policy-fixture::") for v in found)
    assert all(v["message"].endswith(".") for v in found), "messages are full sentences"
    if any(v["level"] == "mandatory" for v in found):
        assert status == 1, "a mandatory violation blocks the plan (exit 1)"
