"""R2 buckets are protected against deletion."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, resource_policy
from parsify_policies.policies.d1_database_protected import require_protect

META = PolicyMeta(
    name="r2-bucket-protected",
    description="R2 buckets carry `protect` so no deploy can delete backups or logs.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.RECOVERY, kind="resource",
    resource_types=types.R2_BUCKET,
    remediation="Declare the bucket with pulumi.ResourceOptions(protect=True, retain_on_delete=True).",
)

POLICY = resource_policy(META, require_protect)
