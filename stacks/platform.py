"""The whole Parsify platform for one stack, assembled from its components."""

from __future__ import annotations

import pulumi

from stacks.access import AccessControl
from stacks.backups import BackupJob, MonitorReportsArgs, backup_worker_manifest
from stacks.config import StackConfig, plan_date
from stacks.data import Database, RetainedBucket
from stacks.edge import ApiWorker, ZoneBaseline
from stacks.frontend import VercelFrontend
from stacks.logs import LogShipping
from stacks.monitoring import Monitoring, SyntheticMonitor, monitor_worker_manifest
from stacks.tokens import ApiTokens


def build_platform(cfg: StackConfig) -> dict[str, object]:
    """Declare every resource of the stack and return the stack outputs."""
    env = cfg.environment
    databases = {spec.name: Database(f"db-{spec.name}", cfg.account_id, spec) for spec in cfg.databases}
    # Completed backups are locked; the backup Worker's run state and undelivered alerts are not (it
    # overwrites and deletes them): workers/backup/worker.json `lockedPrefix`.
    backups = RetainedBucket("backups", cfg.account_id, cfg.backups.bucket, cfg.backups.location,
                             cfg.backups.retention_days, cfg.backups.immutable_days,
                             immutable_prefix=backup_worker_manifest().locked_prefix)
    synthetic = cfg.monitoring.synthetic
    reports_to: MonitorReportsArgs | None = None
    if synthetic:
        # The monitor gets no access to the backups or the databases: the backup Worker reports to it.
        monitor = SyntheticMonitor("synthetic", cfg, databases[synthetic.database].d1, list(databases))
        reports_to = MonitorReportsArgs(script_name=monitor.script.script_name,
                                        entrypoint=monitor_worker_manifest().backup_reports_entrypoint)
    slack = cfg.monitoring.channels.slack_webhook_secret
    backup_job = BackupJob("backup-job", cfg.account_id, f"parsify-{env}-backup", list(databases.values()),
                           backups.bucket, cfg.backups, cfg.secret(slack) if slack else None, reports_to)
    ZoneBaseline("zone", cfg.zone, cfg.dns)
    api = ApiWorker("api", cfg, databases[cfg.api_worker.database].d1)
    AccessControl("access", cfg)
    ApiTokens("tokens", cfg)
    Monitoring("monitoring", cfg)
    LogShipping("logs", cfg)
    frontend = VercelFrontend("frontend", cfg)
    return {
        "apiHostname": api.hostname,
        "apiScript": api.script.script_name,
        "databases": {name: db.d1.uuid for name, db in databases.items()},
        "backupBucket": backups.bucket.name,
        "backupScript": backup_job.script.script_name,
        "backupSchedule": cfg.backups.schedule,
        "frontendProject": frontend.project.name,
        "slo": cfg.slo.model_dump(by_alias=True),
        # Read by `parsify-infra deploy-gate`: risky prod changes deploy only inside one.
        "maintenanceWindows": [{"start": w.start.isoformat(), "end": w.end.isoformat(), "summary": w.summary,
                                "targets": w.targets} for w in (synthetic.maintenance if synthetic else [])],
        "statusPage": f"https://{synthetic.hostname}/" if synthetic else None,
        # The time-limited grants in force, for the access review and the expiry report.
        "accessGrants": [
            {"person": g.person, "application": g.application, "reason": g.reason, "ticket": g.ticket,
             "expires": g.expires.isoformat()}
            for g in cfg.access.grants if g.expires >= plan_date()
        ],
    }


def export_all(outputs: dict[str, object]) -> None:
    for key, value in outputs.items():
        pulumi.export(key, value)
