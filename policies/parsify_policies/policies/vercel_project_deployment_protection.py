"""Vercel projects keep deployment protection on."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label

# pulumiverse-vercel 5.21.1 ProjectVercelAuthentication.deployment_type: standard_protection_new (Standard
# Protection) and standard_protection (legacy) protect previews and the generated production deployment
# URLs; all_deployments protects everything; only_preview_deployments leaves production deployment URLs
# public; none protects nothing; left out, the project inherits a team default the program does not show.
COVERS_PRODUCTION_URLS = ("standard_protection_new", "standard_protection", "all_deployments")

META = PolicyMeta(
    name="vercel-project-deployment-protection",
    description="Vercel projects keep deployment protection (Vercel Authentication) on, covering the "
                "production deployment URLs.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.ACCESS_CONTROL, kind="resource",
    resource_types=types.VERCEL_PROJECT,
    remediation="Set vercel_authentication.deployment_type to standard_protection_new or all_deployments.",
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    mode = (args.props.get("vercelAuthentication") or {}).get("deploymentType")
    if mode in COVERS_PRODUCTION_URLS:
        return
    why = {None: "is left out, so the project inherits a team default the program does not show",
           "only_preview_deployments": "is only_preview_deployments, which leaves production deployment URLs "
                                       "public"}.get(mode, f"is {mode}")
    report(f"{resource_label(args)} deployment protection {why}. Set vercel_authentication.deployment_type to "
           "standard_protection_new or all_deployments.")


POLICY = resource_policy(META, check)
