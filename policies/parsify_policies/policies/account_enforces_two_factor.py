"""The Cloudflare account enforces two-factor authentication for all members."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label

META = PolicyMeta(
    name="account-enforces-two-factor",
    description="The Cloudflare account enforces two-factor authentication for every member.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.MFA, kind="resource",
    resource_types=types.ACCOUNT,
    remediation="Set settings.enforce_twofactor to true on the cloudflare.Account resource.",
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    if (args.props.get("settings") or {}).get("enforceTwofactor") is not True:
        report(f"{resource_label(args)} does not enforce two-factor authentication. "
               "Set settings.enforce_twofactor to true.")


POLICY = resource_policy(META, check)
