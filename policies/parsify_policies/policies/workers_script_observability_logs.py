"""Workers scripts have observability logs on (advisory): the handbook's centralised logs."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label

META = PolicyMeta(
    name="workers-script-observability-logs",
    description="Workers scripts have observability logs enabled.",
    severity=Severity.LOW, level=EnforcementLevel.ADVISORY, section=handbook.LOG_MANAGEMENT, kind="resource",
    resource_types=types.WORKERS_SCRIPT,
    remediation="Set observability={enabled: True, logs: {enabled: True, invocation_logs: True}}.",
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    observability = args.props.get("observability") or {}
    if not observability.get("enabled") or not (observability.get("logs") or {}).get("enabled"):
        report(f"{resource_label(args)} has observability logs off. Turn on observability logs.")


POLICY = resource_policy(META, check)
