"""Backup jobs: a scheduled Worker that exports every bound D1 database to R2, continues large exports
through a queue, alerts on failure, and verifies the newest backups every afternoon."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_cloudflare as cloudflare
from pydantic import BaseModel, ConfigDict, Field

from stacks.config import BackupSpec
from stacks.data import Database
from stacks.edge import logs_on, worker_source

WORKER_DIR = "workers/backup"


class _Manifest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class ConsumerSettings(_Manifest):
    batch_size: int = Field(alias="batchSize", ge=1, le=100)
    max_retries: int = Field(alias="maxRetries", ge=0, le=100)
    max_wait_time_ms: int = Field(alias="maxWaitTimeMs", ge=0, le=60_000)


class QueueSettings(_Manifest):
    binding: str
    consumer: ConsumerSettings


class BackupWorkerManifest(_Manifest):
    """`workers/backup/worker.json`: what the deploy and the Worker tests share (read by both)."""

    main: str
    compatibility_date: str = Field(alias="compatibilityDate")
    bucket_binding: str = Field(alias="bucketBinding")
    # The service binding to the monitor's BackupReports entrypoint, which each run reports to.
    monitor_binding: str = Field(alias="monitorBinding", pattern=r"^[A-Z][A-Z0-9_]*$")
    # Everything the Worker writes here is written once, never overwritten or deleted: the bucket lock's
    # prefix. Its run state (runs/) and undelivered alerts (alerts/) lie outside it.
    locked_prefix: str = Field(alias="lockedPrefix", pattern=r"^[a-z0-9-]+/$")
    queue: QueueSettings
    # The handbook's afternoon routine (14:00 UTC): verify the newest backup of every database.
    verify_cron: str = Field(alias="verifyCron")
    # A daily schedule plus two hours of grace before the newest backup counts as stale.
    max_age_hours: int = Field(alias="maxAgeHours", ge=1)


def backup_worker_manifest(worker_dir: str = WORKER_DIR) -> BackupWorkerManifest:
    """The backup Worker's manifest, read from the repository (relative to the project root)."""
    return BackupWorkerManifest.model_validate_json(Path(worker_dir, "worker.json").read_text(encoding="utf-8"))


def binding_name(database_name: str) -> str:
    """The D1 binding name the backup Worker uses for a database: `DB_<NAME>`."""
    return "DB_" + database_name.upper().replace("-", "_")


@dataclass(frozen=True)
class MonitorReportsArgs:
    """Where the backup Worker reports each run: a Worker script and its named entrypoint (an RPC
    `WorkerEntrypoint` class), bound as a service binding."""

    script_name: pulumi.Input[str]
    entrypoint: str


class BackupJob(pulumi.ComponentResource):
    """`workers/backup` bound to every database it covers, the backup bucket, its continuation queue,
    the alert webhook, the monitor's BackupReports entrypoint (when there is a monitor), and cron triggers
    for the backup and the afternoon verification."""

    script: cloudflare.WorkersScript

    def __init__(self, name: str, account_id: str, script_name: str, databases: list[Database],
                 bucket: cloudflare.R2Bucket, spec: BackupSpec, alert_webhook: pulumi.Input[str] | None,
                 monitor: MonitorReportsArgs | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:backups:BackupJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        worker = backup_worker_manifest()
        queue = cloudflare.Queue(f"{name}-queue", account_id=account_id, queue_name=f"{script_name}-continue",
                                 opts=child)
        bindings = [cloudflare.WorkersScriptBindingArgs(type="d1", name=binding_name(db.spec.name), id=db.d1.uuid)
                    for db in databases]
        bindings += [
            cloudflare.WorkersScriptBindingArgs(type="r2_bucket", name=worker.bucket_binding,
                                                bucket_name=bucket.name),
            cloudflare.WorkersScriptBindingArgs(type="queue", name=worker.queue.binding, queue_name=queue.queue_name),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="VERIFY_CRON", text=worker.verify_cron),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="BACKUP_MAX_AGE_HOURS",
                                                text=str(worker.max_age_hours)),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="BACKUP_LOCKED_PREFIX",
                                                text=worker.locked_prefix),
        ]
        if monitor is not None:
            # A service binding to a named entrypoint: only RPC into that class, never the monitor's public
            # fetch handler (developers.cloudflare.com/workers/runtime-apis/bindings/service-bindings/rpc).
            bindings.append(cloudflare.WorkersScriptBindingArgs(type="service", name=worker.monitor_binding,
                                                                service=monitor.script_name,
                                                                entrypoint=monitor.entrypoint))
        if alert_webhook is not None:
            bindings.append(cloudflare.WorkersScriptBindingArgs(type="secret_text", name="ALERT_WEBHOOK_URL",
                                                                text=alert_webhook))
        self.script = cloudflare.WorkersScript(
            f"{name}-script", account_id=account_id, script_name=script_name,
            content=worker_source(WORKER_DIR, worker.main), main_module=worker.main,
            compatibility_date=worker.compatibility_date, bindings=bindings, observability=logs_on(), opts=child)
        cloudflare.QueueConsumer(
            f"{name}-queue-consumer", account_id=account_id, queue_id=queue.queue_id, type="worker",
            script_name=self.script.script_name,
            # Why these values: the "$comment" in workers/backup/worker.json.
            settings=cloudflare.QueueConsumerSettingsArgs(batch_size=worker.queue.consumer.batch_size,
                                                          max_retries=worker.queue.consumer.max_retries,
                                                          max_wait_time_ms=worker.queue.consumer.max_wait_time_ms),
            opts=child)
        cloudflare.WorkersCronTrigger(
            f"{name}-cron", account_id=account_id, script_name=self.script.script_name,
            schedules=[cloudflare.WorkersCronTriggerScheduleArgs(cron=spec.schedule),
                       cloudflare.WorkersCronTriggerScheduleArgs(cron=worker.verify_cron)], opts=child)
        self.register_outputs({"scriptName": self.script.script_name, "schedule": spec.schedule})
