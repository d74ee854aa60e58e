"""A backup bucket has a lifecycle (advisory): without one, backups are kept forever and grow unbounded."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity, StackValidationArgs

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy
from parsify_policies.policies.r2_bucket_lifecycle_min_retention import BACKUP_PATTERN

META = PolicyMeta(
    name="r2-backup-bucket-has-lifecycle",
    description="Backup buckets have a lifecycle rule that applies the retention period.",
    severity=Severity.LOW, level=EnforcementLevel.ADVISORY, section=handbook.BACKUPS, kind="stack",
    resource_types=types.R2_BUCKET + types.R2_LIFECYCLE,
    remediation="Declare an R2BucketLifecycle for the bucket (stacks/data.py RetainedBucket does this).",
    config={"backupBucketPattern": BACKUP_PATTERN},
)


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    lifecycles = [r for r in args.resources if r.resource_type in types.R2_LIFECYCLE]
    governed = {dep.urn for r in lifecycles for dep in r.property_dependencies.get("bucketName", [])}
    governed_names = {str(r.props.get("bucketName")) for r in lifecycles}
    for bucket in args.resources:
        if bucket.resource_type not in types.R2_BUCKET:
            continue
        name = str(bucket.props.get("name") or "")
        if config["backupBucketPattern"] in name and bucket.urn not in governed and name not in governed_names:
            report(f"R2Bucket '{bucket.name}' ({name}) holds backups but has no lifecycle rule. "
                   "Add an R2BucketLifecycle with the retention period.", bucket.urn)


POLICY = stack_policy(META, check)
