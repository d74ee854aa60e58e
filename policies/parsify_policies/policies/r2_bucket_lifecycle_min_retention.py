"""A backup bucket's lifecycle keeps objects at least the minimum retention before deleting them."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label, rules

DAY = 86_400
BACKUP_PATTERN = {"type": "string", "default": "backup"}

META = PolicyMeta(
    name="r2-bucket-lifecycle-min-retention",
    description="Lifecycle rules on backup buckets keep objects for at least the minimum retention.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.BACKUPS, kind="resource",
    resource_types=types.R2_LIFECYCLE,
    remediation="Raise the rule's delete_objects_transition max_age (seconds) to at least minRetentionDays.",
    config={"minRetentionDays": {"type": "integer", "minimum": 1, "default": 30},
            "backupBucketPattern": BACKUP_PATTERN},
)


def check(args: PolicyResource, report: Report, config: dict[str, Any]) -> None:
    if config["backupBucketPattern"] not in str(args.props.get("bucketName") or ""):
        return
    minimum = int(config["minRetentionDays"])
    for rule in rules(args.props, "rules"):
        if rule.get("enabled") is False:
            continue
        condition = (rule.get("deleteObjectsTransition") or {}).get("condition") or {}
        max_age = condition.get("maxAge")
        if condition.get("type") == "Age" and max_age is not None and int(max_age) < minimum * DAY:
            report(f"{resource_label(args)} rule '{rule.get('id')}' deletes backups after {int(max_age) / DAY:g} "
                   f"days, sooner than the {minimum}-day minimum. Raise max_age to {minimum * DAY} or more.", None)


POLICY = resource_policy(META, check)
