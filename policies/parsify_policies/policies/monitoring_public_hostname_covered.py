"""Every public hostname is monitored, and every health check's alerts reach a notification policy."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import idna
from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy

HEALTH_ALERT = "health_check_status_notification"
# A synthetic monitor Worker declares its probe targets in a json binding with this name.
MONITOR_TARGETS_BINDING = "MONITOR_TARGETS"
MECHANISMS = ("emails", "webhooks", "pagerduties")  # NotificationPolicy.mechanisms: whom a policy notifies

META = PolicyMeta(
    name="monitoring-public-hostname-covered",
    description="Every public hostname has a health check or synthetic monitor, and health checks alert someone.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.MONITORING, kind="stack",
    resource_types=(types.WORKERS_DOMAIN + types.WORKERS_ROUTE + types.VERCEL_DOMAIN + types.HEALTHCHECK
                    + types.WORKERS_SCRIPT + types.NOTIFICATION_POLICY),
    remediation="Add the hostname to parsify:monitoring.healthchecks in the stack config, and route "
                "health_check_status_notification alerts through a notification policy.",
)


def dns_name(name: str) -> str:
    """A hostname as DNS and a URL parser compare it: without case (RFC 4343) or the root's final dot, an
    international name in its xn-- form. This is WHATWG URL's domain to ASCII: the UTS 46 mapping (not
    transitional, so "straße" stays xn--strae-oqa where Python's own IDNA 2003 codec makes it "strasse"; UTS 46
    dropped transitional processing in Unicode 15.1, and idna 3.20 ignores the argument), then Punycode for each
    label that is not ASCII. Like a URL parser, and unlike strict IDNA 2008, it keeps emoji."""
    try:
        mapped = idna.uts46_remap(name, std3_rules=False)
    except idna.IDNAError:  # a code point UTS 46 disallows: no URL parser accepts it, compared as written
        mapped = name.lower()
    return ".".join(label if label.isascii() else "xn--" + label.encode("punycode").decode()
                    for label in mapped.rstrip(".").split("."))


def route_hostname(pattern: str) -> str:
    """A Workers route pattern's hostname: an optional http:// or https://, the host ("*host" matches the host and
    its subdomains, "*.host" its subdomains), then a path (developers.cloudflare.com/workers/configuration/routing/
    routes/#matching-behavior). "https://*.x.io/api/*" -> x.io."""
    scheme, separator, rest = pattern.partition("://")
    return (rest if separator else scheme).partition("/")[0].removeprefix("*").removeprefix(".")


def public_hostnames(resources: list[PolicyResource]) -> dict[str, PolicyResource]:
    found: dict[str, PolicyResource] = {}
    for r in resources:
        if r.resource_type in types.WORKERS_DOMAIN:
            found[str(r.props.get("hostname"))] = r
        elif r.resource_type in types.WORKERS_ROUTE:
            found[route_hostname(str(r.props.get("pattern")))] = r
        elif r.resource_type in types.VERCEL_DOMAIN:
            found[str(r.props.get("domain"))] = r
    return found


def monitored_hostnames(resources: list[PolicyResource]) -> set[str]:
    """Hostnames (as dns_name writes them) that a health check or the synthetic monitor probes."""
    # A suspended health check probes nothing (Healthcheck.suspended), so it is no coverage.
    hosts = {dns_name(str(r.props.get("address"))) for r in resources
             if r.resource_type in types.HEALTHCHECK and r.props.get("suspended") is not True}
    for r in resources:
        if r.resource_type not in types.WORKERS_SCRIPT:
            continue
        for binding in r.props.get("bindings") or []:
            if binding.get("name") == MONITOR_TARGETS_BINDING and binding.get("type") == "json":
                targets = binding.get("json")  # the provider's json: text
                hosts |= {host for target in (json.loads(targets) if isinstance(targets, str) else [])
                          if (host := probed_hostname(target))}
    return hosts


def probed_hostname(target: object) -> str | None:
    """The hostname the monitor Worker probes for a target: it fetches `target.url` (workers/monitor/index.js), so
    only an object with an absolute http(s) URL probes anything."""
    url = target.get("url") if isinstance(target, dict) else None  # parsed from the json text: a dict
    try:
        # A URL parser reads a backslash as "/" in an http(s) URL (WHATWG URL): evil.example\\@x is evil.example.
        parts = urlsplit(url.replace("\\", "/")) if isinstance(url, str) else None
    except ValueError:  # an unclosed IPv6 bracket: fetch() would throw, so nothing is probed
        return None
    if not parts or parts.scheme not in {"http", "https"} or not parts.hostname or parts.username is not None:
        return None  # fetch() refuses a URL with credentials (Fetch standard, new Request)
    return dns_name(unquote(parts.hostname))  # a URL parser percent-decodes the host first


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    monitored = monitored_hostnames(args.resources)
    for hostname, resource in sorted(public_hostnames(args.resources).items()):
        if dns_name(hostname) not in monitored:
            report(f"Public hostname {hostname} ({resource.name}) has no health check or synthetic monitor. "
                   "Add it to parsify:monitoring.healthchecks.", resource.urn)
    alerted = {dep.urn for r in args.resources
               if r.resource_type in types.NOTIFICATION_POLICY and r.props.get("alertType") == HEALTH_ALERT
               and r.props.get("enabled") is not False and notifies_someone(r)
               for dep in r.property_dependencies.get("filters") or []}
    for r in args.resources:
        if r.resource_type in types.HEALTHCHECK and r.urn not in alerted:
            report(f"Healthcheck '{r.name}' is not routed to any enabled notification policy that notifies someone. "
                   f"Add it to the filters.health_check_ids of a {HEALTH_ALERT} policy with an email, webhook or "
                   "PagerDuty mechanism.", r.urn)


def notifies_someone(policy: PolicyResource) -> bool:
    """A notification policy reaches whoever its mechanisms name: emails, webhooks, pagerduties (reference:
    cloudflare-defaults-and-limits.md, Notifications); with none of them it alerts no one."""
    mechanisms = policy.props.get("mechanisms")
    if not isinstance(mechanisms, Mapping):  # the SDK hands a map over as a read-only Mapping proxy
        return False
    # Each kind is a list of destinations, each named by its id: an entry without one notifies no one.
    return any(isinstance(entry, Mapping) and entry.get("id")
               for kind in MECHANISMS if isinstance(mechanisms.get(kind), Sequence)
               and not isinstance(mechanisms[kind], str) for entry in mechanisms[kind])


POLICY = stack_policy(META, check)
