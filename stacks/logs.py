"""Logs: Logpush jobs ship Workers trace events and HTTP requests to an R2 bucket (centralised logs)."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from stacks.config import StackConfig
from stacks.data import RetainedBucket

# Workers trace events are an account dataset; HTTP requests belong to the zone.
ACCOUNT_DATASETS = {"workers_trace_events"}


class LogShipping(pulumi.ComponentResource):
    """The log bucket with its retention, and one Logpush job per dataset."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:logs:LogShipping", name, None, opts)
        spec = cfg.logs
        store = RetainedBucket(f"{name}-store", cfg.account_id, spec.bucket, cfg.backups.location,
                               spec.retention_days, opts=pulumi.ResourceOptions(parent=self))
        # The destination carries R2 credentials, so the whole string is a secret.
        destination = pulumi.Output.concat(
            "r2://", store.bucket.name, "/{DATE}?account-id=", cfg.account_id,
            "&access-key-id=", cfg.secret(spec.access_key_id_secret),
            "&secret-access-key=", cfg.secret(spec.secret_access_key_secret))
        for dataset in spec.datasets:
            account_scoped = dataset in ACCOUNT_DATASETS
            cloudflare.LogpushJob(
                f"{name}-{dataset.replace('_', '-')}", dataset=dataset, enabled=True,
                name=f"parsify-{cfg.environment}-{dataset.replace('_', '-')}",
                destination_conf=destination,
                output_options=cloudflare.LogpushJobOutputOptionsArgs(output_type="ndjson", timestamp_format="rfc3339"),
                account_id=cfg.account_id if account_scoped else None,
                zone_id=None if account_scoped else cfg.zone.id,
                opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"bucketName": store.bucket.name})
