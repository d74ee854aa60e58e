"""A backup bucket has a lifecycle (advisory): without one, backups are kept forever and grow unbounded."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity, StackValidationArgs

from parsify_policies import backups, handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy

META = PolicyMeta(
    name="r2-backup-bucket-has-lifecycle",
    description="The bucket backups are written to has a lifecycle rule that applies the retention period.",
    severity=Severity.LOW, level=EnforcementLevel.ADVISORY, section=handbook.BACKUPS, kind="stack",
    resource_types=types.R2_BUCKET + types.R2_LIFECYCLE + types.WORKERS_SCRIPT,
    remediation="Declare an R2BucketLifecycle for the bucket (stacks/data.py RetainedBucket does this).",
)


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    targets = backups.backup_bucket_keys(args.resources)
    governed = set().union(*(backups.bucket_keys(r) for r in args.resources if r.resource_type in types.R2_LIFECYCLE))
    for bucket in args.resources:
        if bucket.resource_type not in types.R2_BUCKET:
            continue
        keys = {bucket.urn, str(bucket.props.get("name") or "")}
        if keys & targets and not keys & governed:
            report(f"R2Bucket '{bucket.name}' ({bucket.props.get('name')}) holds backups but has no lifecycle "
                   "rule. Add an R2BucketLifecycle with the retention period.", bucket.urn)


POLICY = stack_policy(META, check)
