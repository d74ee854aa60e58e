"""D1 databases are protected against deletion."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label

META = PolicyMeta(
    name="d1-database-protected",
    description="D1 databases carry `protect` so no deploy can delete them.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.RECOVERY, kind="resource",
    resource_types=types.D1_DATABASE,
    remediation="Declare the database with pulumi.ResourceOptions(protect=True, retain_on_delete=True).",
)


def require_protect(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    if not args.opts.protect:
        report(f"{resource_label(args)} is not protected, so a deploy could delete its data. "
               "Set protect=True (and retain_on_delete=True).")


POLICY = resource_policy(META, require_protect)
