"""Every D1 database is covered by a scheduled backup: a cron-triggered Worker binding it and an R2 bucket."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs

from parsify_policies import backups, handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy

META = PolicyMeta(
    name="d1-database-has-scheduled-backup",
    description="Every D1 database is exported on a schedule by a backup Worker that also binds an R2 bucket.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.BACKUPS, kind="stack",
    resource_types=types.D1_DATABASE + types.WORKERS_SCRIPT + types.WORKERS_CRON,
    remediation="Add the database to the BackupJob component (stacks/backups.py): a d1 binding on a Workers "
                "script that also binds the backup bucket (r2_bucket) and has a WorkersCronTrigger.",
)


def _names_and_urns(script: PolicyResource) -> tuple[set[str], set[str]]:
    """What a cron trigger can name to schedule this code: the script (WorkersScript, WorkerScript), or for
    a WorkerVersion the Worker it belongs to (its `workerId` dependency)."""
    workers = script.property_dependencies.get("workerId", [])
    names = {str(script.props.get("scriptName"))} | {str(w.props.get("name")) for w in workers}
    return names, {script.urn} | {w.urn for w in workers}


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    crons = [c for c in args.resources if c.resource_type in types.WORKERS_CRON and c.props.get("schedules")]
    scheduled_names = {str(c.props.get("scriptName")) for c in crons}
    scheduled_urns = {dep.urn for c in crons for dep in c.property_dependencies.get("scriptName") or []}
    covered: set[str] = set()
    for script in backups.backup_workers(args.resources):
        names, urns = _names_and_urns(script)
        if urns & scheduled_urns or names & scheduled_names:
            covered |= backups.bound(script, types.D1_DATABASE)
    for database in args.resources:
        if database.resource_type in types.D1_DATABASE and database.urn not in covered:
            report(f"D1Database '{database.name}' has no scheduled backup. Bind it to the backup Worker "
                   "(which also binds the R2 backup bucket and has a cron trigger).", database.urn)


POLICY = stack_policy(META, check)
