"""Backup jobs: a scheduled Worker that exports every bound D1 database to R2, continues large exports
through a queue, alerts on failure, and verifies the newest backups every afternoon."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from stacks.config import BackupSpec
from stacks.data import Database
from stacks.edge import logs_on, worker_source

BACKUP_COMPATIBILITY_DATE = "2026-04-01"
# The handbook's afternoon routine (14:00 UTC): verify the newest backup of every database.
VERIFY_CRON = "0 14 * * *"
# A daily schedule plus two hours of grace before the newest backup counts as stale.
MAX_AGE_HOURS = 26


def binding_name(database_name: str) -> str:
    """The D1 binding name the backup Worker uses for a database: `DB_<NAME>`."""
    return "DB_" + database_name.upper().replace("-", "_")


class BackupJob(pulumi.ComponentResource):
    """`workers/backup` bound to every database it covers, the backup bucket, its continuation queue,
    the alert webhook, and cron triggers for the backup and the afternoon verification."""

    script: cloudflare.WorkersScript

    def __init__(self, name: str, account_id: str, script_name: str, databases: list[Database],
                 bucket: cloudflare.R2Bucket, spec: BackupSpec, alert_webhook: pulumi.Input[str] | None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:backups:BackupJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        queue = cloudflare.Queue(f"{name}-queue", account_id=account_id, queue_name=f"{script_name}-continue",
                                 opts=child)
        bindings = [cloudflare.WorkersScriptBindingArgs(type="d1", name=binding_name(db.spec.name), id=db.d1.uuid)
                    for db in databases]
        bindings += [
            cloudflare.WorkersScriptBindingArgs(type="r2_bucket", name="BACKUPS", bucket_name=bucket.name),
            cloudflare.WorkersScriptBindingArgs(type="queue", name="BACKUP_QUEUE", queue_name=queue.queue_name),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="VERIFY_CRON", text=VERIFY_CRON),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="BACKUP_MAX_AGE_HOURS",
                                                text=str(MAX_AGE_HOURS)),
        ]
        if alert_webhook is not None:
            bindings.append(cloudflare.WorkersScriptBindingArgs(type="secret_text", name="ALERT_WEBHOOK_URL",
                                                                text=alert_webhook))
        self.script = cloudflare.WorkersScript(
            f"{name}-script", account_id=account_id, script_name=script_name,
            content=worker_source("workers/backup", "index.js"), main_module="index.js",
            compatibility_date=BACKUP_COMPATIBILITY_DATE, bindings=bindings, observability=logs_on(), opts=child)
        cloudflare.QueueConsumer(
            f"{name}-queue-consumer", account_id=account_id, queue_id=queue.queue_id, type="worker",
            script_name=self.script.script_name,
            # One continuation per invocation. Retries carry a run over an invocation that died (they wait
            # for its lease to end, each wait using an attempt), hence more than the default 3.
            settings=cloudflare.QueueConsumerSettingsArgs(batch_size=1, max_retries=10, max_wait_time_ms=1000),
            opts=child)
        cloudflare.WorkersCronTrigger(
            f"{name}-cron", account_id=account_id, script_name=self.script.script_name,
            schedules=[cloudflare.WorkersCronTriggerScheduleArgs(cron=spec.schedule),
                       cloudflare.WorkersCronTriggerScheduleArgs(cron=VERIFY_CRON)], opts=child)
        self.register_outputs({"scriptName": self.script.script_name, "schedule": spec.schedule})
