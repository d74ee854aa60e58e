"""Which databases and buckets the backup jobs actually use: found through Worker bindings, not names.

A backup Worker is a Worker of any family (WorkersScript, the deprecated WorkerScript, a WorkerVersion)
that binds a D1 database as a `d1` binding and an R2 bucket as an `r2_bucket` binding. Bound resources are
found through the property dependencies of `bindings` (ids and names may be unknown during a preview;
dependencies never are) and, for buckets, also by the literal `bucket_name`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import PolicyResource

from parsify_policies import types


def _bindings_of(script: PolicyResource, kind: str) -> list[Any]:
    return [b for b in script.props.get("bindings") or [] if b.get("type") == kind]


def backup_workers(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types.WORKERS_SCRIPT
            and _bindings_of(r, "d1") and _bindings_of(r, "r2_bucket")]


def bound(script: PolicyResource, family: types.Family) -> set[str]:
    """URNs of the resources of `family` that the script's bindings depend on."""
    return {d.urn for d in script.property_dependencies.get("bindings", []) if d.resource_type in family}


def backup_bucket_keys(resources: Iterable[PolicyResource]) -> set[str]:
    """The backup target buckets: their URNs and the literal bucket names the backup Workers bind."""
    keys: set[str] = set()
    for script in backup_workers(resources):
        keys |= bound(script, types.R2_BUCKET)
        keys |= {str(b.get("bucketName")) for b in _bindings_of(script, "r2_bucket")
                 if b.get("bucketName") is not None}
    return keys


def bucket_keys(resource: PolicyResource) -> set[str]:
    """How a bucket-scoped resource (a lifecycle) names its bucket: the bucket it depends on, and the name."""
    deps = {d.urn for d in resource.property_dependencies.get("bucketName", []) if d.resource_type in types.R2_BUCKET}
    return deps | {str(resource.props.get("bucketName"))}
