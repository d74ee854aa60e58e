"""Zone transport settings: minimum TLS 1.2 or higher, always HTTPS on, SSL strict."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import plain, resource_label

META = PolicyMeta(
    name="zone-setting-transport-security",
    description="Zones require TLS 1.2 or higher, redirect to HTTPS and validate origin certificates (SSL strict).",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.SECURITY_COMPLIANCE,
    kind="resource", resource_types=(types.ZONE_SETTING,),
    remediation="Set min_tls_version to 1.2 or 1.3, always_use_https to on and ssl to strict "
                "(stacks/edge.py ZONE_BASELINE).",
)

TLS_VERSIONS = ["1.0", "1.1", "1.2", "1.3"]


def problem(setting: str, value: Any) -> str | None:
    if setting == "min_tls_version" and (value not in TLS_VERSIONS or TLS_VERSIONS.index(value) < 2):
        return f"min_tls_version is {value}; use 1.2 or 1.3"
    if setting == "always_use_https" and value != "on":
        return f"always_use_https is {value}; turn it on"
    if setting == "ssl" and value not in ("strict", "origin_pull"):
        return f"ssl is {value}; use strict"
    return None


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    found = problem(str(args.props.get("settingId")), plain(args.props.get("value")))
    if found:
        report(f"{resource_label(args)}: {found}.", None)


POLICY = resource_policy(META, check)
