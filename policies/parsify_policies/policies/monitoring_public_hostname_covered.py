"""Every public hostname is monitored, and every health check's alerts reach a notification policy."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy
from parsify_policies.props import plain

HEALTH_ALERT = "health_check_status_notification"
# A synthetic monitor Worker declares its probe targets in a json binding with this name.
MONITOR_TARGETS_BINDING = "MONITOR_TARGETS"

META = PolicyMeta(
    name="monitoring-public-hostname-covered",
    description="Every public hostname has a health check or synthetic monitor, and health checks alert someone.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.MONITORING, kind="stack",
    resource_types=(types.WORKERS_DOMAIN + types.WORKERS_ROUTE + types.VERCEL_DOMAIN + types.HEALTHCHECK
                    + types.WORKERS_SCRIPT + types.NOTIFICATION_POLICY),
    remediation="Add the hostname to parsify:monitoring.healthchecks in the stack config, and route "
                "health_check_status_notification alerts through a notification policy.",
)


def public_hostnames(resources: list[PolicyResource]) -> dict[str, PolicyResource]:
    found: dict[str, PolicyResource] = {}
    for r in resources:
        if r.resource_type in types.WORKERS_DOMAIN:
            found[str(r.props.get("hostname"))] = r
        elif r.resource_type in types.WORKERS_ROUTE:
            found[str(r.props.get("pattern")).partition("/")[0].removeprefix("*.")] = r  # "*.x.io/api/*" -> x.io
        elif r.resource_type in types.VERCEL_DOMAIN:
            found[str(r.props.get("domain"))] = r
    return found


def monitored_hostnames(resources: list[PolicyResource]) -> set[str]:
    """Hostnames (lower case: DNS names compare without case) that a health check or the synthetic monitor probes."""
    # A suspended health check probes nothing (Healthcheck.suspended), so it is no coverage.
    hosts = {str(r.props.get("address")).lower() for r in resources
             if r.resource_type in types.HEALTHCHECK and r.props.get("suspended") is not True}
    for r in resources:
        if r.resource_type not in types.WORKERS_SCRIPT:
            continue
        for binding in r.props.get("bindings") or []:
            if binding.get("name") == MONITOR_TARGETS_BINDING and binding.get("type") == "json":
                targets = plain(binding.get("json"))  # the provider's json: text
                hosts |= {host for target in (json.loads(targets) if isinstance(targets, str) else [])
                          if (host := probed_hostname(target))}
    return hosts


def probed_hostname(target: object) -> str | None:
    """The hostname the monitor Worker probes for a target: it fetches `target.url` (workers/monitor/index.js), so
    only an object with an absolute http(s) URL probes anything."""
    url = target.get("url") if isinstance(target, dict) else None
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # an unclosed IPv6 bracket: fetch() would throw, so nothing is probed
        return None
    return parts.hostname if parts and parts.scheme in {"http", "https"} else None


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    monitored = monitored_hostnames(args.resources)
    for hostname, resource in sorted(public_hostnames(args.resources).items()):
        if hostname.lower() not in monitored:
            report(f"Public hostname {hostname} ({resource.name}) has no health check or synthetic monitor. "
                   "Add it to parsify:monitoring.healthchecks.", resource.urn)
    alerted = {dep.urn for r in args.resources
               if r.resource_type in types.NOTIFICATION_POLICY and r.props.get("alertType") == HEALTH_ALERT
               and r.props.get("enabled") is not False
               for dep in r.property_dependencies.get("filters", [])}
    for r in args.resources:
        if r.resource_type in types.HEALTHCHECK and r.urn not in alerted:
            report(f"Healthcheck '{r.name}' is not routed to any enabled notification policy. Add it to a "
                   f"{HEALTH_ALERT} policy's filters.health_check_ids.", r.urn)


POLICY = stack_policy(META, check)
