"""Vercel projects keep deployment protection on."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label

META = PolicyMeta(
    name="vercel-project-deployment-protection",
    description="Vercel projects keep deployment protection (Vercel Authentication) on.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.ACCESS_CONTROL, kind="resource",
    resource_types=types.VERCEL_PROJECT,
    remediation="Set vercel_authentication.deployment_type to standard_protection or all_deployments.",
)


def check(args: PolicyResource, report: Report, config: dict[str, Any]) -> None:
    mode = (args.props.get("vercelAuthentication") or {}).get("deploymentType")
    if mode in (None, "none"):
        report(f"{resource_label(args)} has deployment protection {mode or 'unset'}. "
               "Set vercel_authentication.deployment_type to standard_protection.", None)


POLICY = resource_policy(META, check)
