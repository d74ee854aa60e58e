"""Data: D1 databases and R2 buckets, protected and retained on delete."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from stacks.config import DatabaseSpec

DAY_SECONDS = 86_400

# Stateful resources are never deleted by a deploy: `pulumi up` refuses (protect) and
# `pulumi destroy` or a removal from the program leaves them in Cloudflare (retain_on_delete).
STATEFUL = pulumi.ResourceOptions(protect=True, retain_on_delete=True)


class Database(pulumi.ComponentResource):
    """One D1 database with its placement and read replication."""

    d1: cloudflare.D1Database
    spec: DatabaseSpec

    def __init__(self, name: str, account_id: str, spec: DatabaseSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:data:Database", name, None, opts)
        self.spec = spec
        self.d1 = cloudflare.D1Database(
            f"{name}-d1",
            account_id=account_id,
            name=spec.name,
            primary_location_hint=spec.location_hint,
            jurisdiction=spec.jurisdiction,
            read_replication=cloudflare.D1DatabaseReadReplicationArgs(mode=spec.read_replication),
            opts=pulumi.ResourceOptions.merge(STATEFUL, pulumi.ResourceOptions(parent=self)),
        )
        self.register_outputs({"uuid": self.d1.uuid, "name": spec.name})


class RetainedBucket(pulumi.ComponentResource):
    """An R2 bucket whose objects expire after `retention_days`; those under `immutable_prefix` are immutable
    for `immutable_days` (R2 then refuses their overwrite and delete: the writer must never need either)."""

    bucket: cloudflare.R2Bucket

    def __init__(self, name: str, account_id: str, bucket_name: str, location: str, retention_days: int,
                 immutable_days: int = 0, immutable_prefix: str = "",
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:data:RetainedBucket", name, None, opts)
        self.bucket = cloudflare.R2Bucket(
            f"{name}-bucket", account_id=account_id, name=bucket_name, location=location,
            storage_class="Standard",
            opts=pulumi.ResourceOptions.merge(STATEFUL, pulumi.ResourceOptions(parent=self)))
        child = pulumi.ResourceOptions(parent=self, depends_on=[self.bucket])
        cloudflare.R2BucketLifecycle(
            f"{name}-lifecycle", account_id=account_id, bucket_name=self.bucket.name,
            rules=[cloudflare.R2BucketLifecycleRuleArgs(
                id=f"expire-after-{retention_days}d", enabled=True,
                conditions=cloudflare.R2BucketLifecycleRuleConditionsArgs(prefix=""),
                delete_objects_transition=cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionArgs(
                    condition=cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionConditionArgs(
                        type="Age", max_age=retention_days * DAY_SECONDS)),
                abort_multipart_uploads_transition=(
                    cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionArgs(
                        condition=cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionConditionArgs(
                            type="Age", max_age=7 * DAY_SECONDS))),
            )],
            opts=child)
        if immutable_days:
            cloudflare.R2BucketLock(
                f"{name}-lock", account_id=account_id, bucket_name=self.bucket.name,
                rules=[cloudflare.R2BucketLockRuleArgs(
                    id=f"immutable-{immutable_days}d", enabled=True, prefix=immutable_prefix,
                    condition=cloudflare.R2BucketLockRuleConditionArgs(
                        type="Age", max_age_seconds=immutable_days * DAY_SECONDS))],
                opts=child)
        self.register_outputs({"bucketName": self.bucket.name})
