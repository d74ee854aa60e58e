"""Backup jobs: a scheduled Worker that exports every bound D1 database to R2."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from stacks.config import BackupSpec
from stacks.data import Database
from stacks.edge import logs_on, worker_source

BACKUP_COMPATIBILITY_DATE = "2026-04-01"


def binding_name(database_name: str) -> str:
    """The D1 binding name the backup Worker uses for a database: `DB_<NAME>`."""
    return "DB_" + database_name.upper().replace("-", "_")


class BackupJob(pulumi.ComponentResource):
    """`workers/backup` bound to every database it covers, the backup bucket, and a cron trigger."""

    script: cloudflare.WorkersScript

    def __init__(self, name: str, account_id: str, script_name: str, databases: list[Database],
                 bucket: cloudflare.R2Bucket, spec: BackupSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:backups:BackupJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bindings = [cloudflare.WorkersScriptBindingArgs(type="d1", name=binding_name(db.spec.name), id=db.d1.uuid)
                    for db in databases]
        bindings.append(cloudflare.WorkersScriptBindingArgs(type="r2_bucket", name="BACKUPS", bucket_name=bucket.name))
        self.script = cloudflare.WorkersScript(
            f"{name}-script", account_id=account_id, script_name=script_name,
            content=worker_source("workers/backup", "index.js"), main_module="index.js",
            compatibility_date=BACKUP_COMPATIBILITY_DATE, bindings=bindings,
            observability=logs_on(), opts=child)
        cloudflare.WorkersCronTrigger(
            f"{name}-cron", account_id=account_id, script_name=self.script.script_name,
            schedules=[cloudflare.WorkersCronTriggerScheduleArgs(cron=spec.schedule)], opts=child)
        self.register_outputs({"scriptName": self.script.script_name, "schedule": spec.schedule})
