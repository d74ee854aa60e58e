"""The backup bucket's lifecycle keeps objects at least the minimum retention before deleting them.

The backup bucket is the one a backup Worker binds (parsify_policies/backups.py), whatever its name. An Age
rule shorter than the minimum, or a Date rule (it deletes every matching object on that day), is a violation
(R2BucketLifecycle conditions: reference §6, SDK `...DeleteObjectsTransitionConditionArgs: type, date, maxAge`).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity, StackValidationArgs

from parsify_policies import backups, handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy
from parsify_policies.props import rules

DAY = 86_400
BACKUPS = "backups/"  # where the backup Worker writes completed backups (workers/backup/index.js)

META = PolicyMeta(
    name="r2-bucket-lifecycle-min-retention",
    description="Lifecycle rules on the bucket backups are written to keep objects for at least the minimum "
                "retention, and never delete them on a fixed date.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.BACKUPS, kind="stack",
    resource_types=types.R2_LIFECYCLE + types.R2_BUCKET + types.WORKERS_SCRIPT,
    remediation="Raise the rule's delete_objects_transition max_age (seconds) to at least minRetentionDays, "
                "and use Age conditions, not Date, on the backup bucket.",
    config={"minRetentionDays": {"type": "integer", "minimum": 1, "default": 30}},
)


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    targets = backups.backup_bucket_keys(args.resources)
    minimum = int(config["minRetentionDays"])
    for lifecycle in args.resources:
        if lifecycle.resource_type not in types.R2_LIFECYCLE or not backups.bucket_keys(lifecycle) & targets:
            continue
        for rule in rules(lifecycle.props, "rules"):
            prefix = str((rule.get("conditions") or {}).get("prefix") or "")
            if rule.get("enabled") is False or not (BACKUPS.startswith(prefix) or prefix.startswith(BACKUPS)):
                continue  # a disabled rule, or one for objects outside the backups (run state, temporary files)
            condition = (rule.get("deleteObjectsTransition") or {}).get("condition") or {}
            label = f"R2BucketLifecycle '{lifecycle.name}' rule '{rule.get('id')}'"
            if condition.get("type") == "Date":
                report(f"{label} deletes every backup on {condition.get('date')}. Use an Age condition of at "
                       f"least {minimum} days.", lifecycle.urn)
            elif condition.get("type") == "Age" and condition.get("maxAge") is not None \
                    and int(condition["maxAge"]) < minimum * DAY:
                report(f"{label} deletes backups after {int(condition['maxAge']) / DAY:g} days, sooner than the "
                       f"{minimum}-day minimum. Raise max_age to {minimum * DAY} or more.", lifecycle.urn)


POLICY = stack_policy(META, check)
