"""Every D1 database is covered by a scheduled backup: a cron-triggered Worker binding it and an R2 bucket."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy

META = PolicyMeta(
    name="d1-database-has-scheduled-backup",
    description="Every D1 database is exported on a schedule by a backup Worker that also binds an R2 bucket.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.BACKUPS, kind="stack",
    remediation="Add the database to the BackupJob component (stacks/backups.py): a d1 binding on a Workers "
                "script that also binds the backup bucket (r2_bucket) and has a WorkersCronTrigger.",
)


def _bound_databases(script: PolicyResource) -> set[str]:
    """URNs of the D1 databases a script binds, through the property dependencies of `bindings`
    (ids are unknown during a first preview, dependencies never are)."""
    deps = script.property_dependencies.get("bindings", [])
    return {dep.urn for dep in deps if dep.resource_type == types.D1_DATABASE}


def _binds_r2(script: PolicyResource) -> bool:
    return any(b.get("type") == "r2_bucket" for b in script.props.get("bindings") or [])


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    by_type: dict[str, list[PolicyResource]] = {}
    for resource in args.resources:
        by_type.setdefault(resource.resource_type, []).append(resource)
    scheduled_names = {str(c.props.get("scriptName")) for c in by_type.get(types.WORKERS_CRON, [])
                       if c.props.get("schedules")}
    scheduled_urns = {dep.urn for c in by_type.get(types.WORKERS_CRON, [])
                      for dep in c.property_dependencies.get("scriptName", [])}
    covered: set[str] = set()
    for script in by_type.get(types.WORKERS_SCRIPT, []):
        if not _binds_r2(script):
            continue
        if script.urn in scheduled_urns or str(script.props.get("scriptName")) in scheduled_names:
            covered |= _bound_databases(script)
    for database in by_type.get(types.D1_DATABASE, []):
        if database.urn not in covered:
            report(f"D1Database '{database.name}' has no scheduled backup. Bind it to the backup Worker "
                   "(which also binds the R2 backup bucket and has a cron trigger).", database.urn)


POLICY = stack_policy(META, check)
