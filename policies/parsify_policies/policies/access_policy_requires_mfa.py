"""Every Access allow policy requires MFA (an `auth_method` rule in `requires`)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label, rules

META = PolicyMeta(
    name="access-policy-requires-mfa",
    description="Access policies that allow people in require multi-factor authentication.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.MFA, kind="resource",
    resource_types=(types.ACCESS_POLICY, types.ACCESS_APPLICATION),
    remediation="Add {auth_method: {auth_method: mfa}} (or hwk/swk) to the policy's `requires` list; MFA in "
                "`includes` is an OR and does not count. Do not set mfa_config.mfa_disabled.",
    config={"allowedAuthMethods": {"type": "array", "items": {"type": "string"},
                                   "default": ["mfa", "hwk", "swk"]}},
)


def mfa_problem(policy: Any, allowed: list[str]) -> str | None:
    """Why an allow policy (standalone or inline) does not enforce MFA, or None."""
    if (policy.get("decision") or "allow") != "allow":
        return None
    if (policy.get("mfaConfig") or {}).get("mfaDisabled") is True:
        return "sets mfa_config.mfa_disabled to true"
    methods = [(rule.get("authMethod") or {}).get("authMethod") for rule in rules(policy, "requires")]
    if not any(method in allowed for method in methods):
        return f"has no auth_method rule ({', '.join(allowed)}) in `requires`"
    return None


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    allowed = list(config["allowedAuthMethods"])
    if args.resource_type == types.ACCESS_POLICY:
        problem = mfa_problem(args.props, allowed)
        if problem:
            report(f"{resource_label(args)} allows access but {problem}. Require MFA in `requires`.", None)
        return
    if (args.props.get("mfaConfig") or {}).get("mfaDisabled") is True:
        report(f"{resource_label(args)} disables MFA (mfa_config.mfa_disabled). Remove that setting.", None)
    for index, inline in enumerate(rules(args.props, "policies")):
        if "decision" not in inline:
            continue  # a reference to a reusable policy, judged on its own
        problem = mfa_problem(inline, allowed)
        if problem:
            report(f"{resource_label(args)} inline policy #{index + 1} {problem}. Require MFA in `requires`.", None)


POLICY = resource_policy(META, check)
