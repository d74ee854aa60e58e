"""Every Access policy that lets people in requires MFA, wherever Cloudflare enforces it: an auth_method
requirement, a required Access group that requires it, or independent MFA settings (policy > application >
organization). Judged per application (parsify_policies/access.py)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity, StackValidationArgs

from parsify_policies import access, handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy

META = PolicyMeta(
    name="access-policy-requires-mfa",
    description="Access policies that allow people in require multi-factor authentication.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.MFA, kind="stack",
    resource_types=(types.ACCESS_POLICY + types.ACCESS_APPLICATION + types.ACCESS_GROUP
                    + types.ACCESS_ORGANIZATION),
    remediation="Add {auth_method: {auth_method: mfa}} (or hwk/swk) to the policy's `requires`, require a group "
                "that does, or set mfa_config on the policy or application; MFA in `includes` is an OR and does "
                "not count. Do not set mfa_config.mfa_disabled.",
    config={"allowedAuthMethods": {"type": "array", "items": {"type": "string"},
                                   "default": ["mfa", "hwk", "swk"]}},
)


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    ctx = access.Context(list(args.resources), [], list(config["allowedAuthMethods"]))
    for a in access.admissions(ctx):
        if a.decision == "allow" and a.reach.people and not a.mfa:
            report(f"{a.label} allows people in without MFA. Require an auth_method (mfa, hwk or swk) in "
                   "`requires`, or a group that does, and do not disable MFA in mfa_config.", a.urn)


POLICY = stack_policy(META, check)
