"""Zones require TLS 1.2+, redirect to HTTPS and validate origin certificates, and nothing weakens that.

Every zone the program touches (a Zone it declares, or a zone id its settings, hostnames and rules name)
must declare min_tls_version, always_use_https and ssl: a setting left out is judged at Cloudflare's
default (min_tls_version 1.0, always_use_https off, ssl off; reference §3). Per-hostname TLS settings,
Cloudflare for SaaS custom hostnames and configuration rules (Ruleset set_config) must not lower them.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity, StackValidationArgs

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy

META = PolicyMeta(
    name="zone-setting-transport-security",
    description="Zones require TLS 1.2 or higher, redirect to HTTPS and validate origin certificates (SSL "
                "strict); settings left out count at Cloudflare's defaults and nothing per hostname or per "
                "rule weakens them.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.SECURITY_COMPLIANCE,
    kind="stack", resource_types=(types.ZONE + types.ZONE_SETTING + types.HOSTNAME_TLS_SETTING
                                  + types.CUSTOM_HOSTNAME + types.RULESET + types.PAGE_RULE),
    remediation="Declare min_tls_version 1.2 or 1.3, always_use_https on and ssl strict for every zone "
                "(stacks/edge.py ZONE_BASELINE), and remove hostname settings or configuration rules that "
                "lower them.",
)

TLS_VERSIONS = ["1.0", "1.1", "1.2", "1.3"]
# Cloudflare's values when a zone does not set them (reference §3: OpenAPI schema defaults).
DEFAULTS = {"min_tls_version": "1.0", "always_use_https": "off", "ssl": "off"}
STRICT_SSL = ("strict", "origin_pull")
# Resources that name a zone by `zoneId`: the zones the program touches.
ZONED = types.ZONE_SETTING + types.HOSTNAME_TLS_SETTING + types.CUSTOM_HOSTNAME + types.RULESET \
    + types.PAGE_RULE + types.WORKERS_DOMAIN + types.WORKERS_ROUTE


def problem(setting: str, value: Any) -> str | None:
    if setting == "min_tls_version" and (value not in TLS_VERSIONS or TLS_VERSIONS.index(value) < 2):
        return f"min_tls_version is {value}; use 1.2 or 1.3"
    if setting == "always_use_https" and value != "on":
        return f"always_use_https is {value}; turn it on"
    if setting == "ssl" and value not in STRICT_SSL:
        return f"ssl is {value}; use strict"
    return None


def zone_key(resource: PolicyResource) -> str:
    """The zone a resource belongs to: the declared Zone it depends on, else the zone id it names."""
    zones = [d for d in resource.property_dependencies.get("zoneId", []) if d.resource_type in types.ZONE]
    if resource.resource_type in types.ZONE:
        return resource.urn
    return zones[0].urn if zones else str(resource.props.get("zoneId"))


def _zone_label(key: str, resources: list[PolicyResource]) -> str:
    zone = next((r for r in resources if r.urn == key), None)
    return f"Zone '{zone.name}'" if zone else f"zone {key}"


def weakening(r: PolicyResource) -> list[str]:
    """What a hostname setting, custom hostname, configuration rule or page rule lowers (disabled ones do nothing)."""
    if r.resource_type in types.HOSTNAME_TLS_SETTING and str(r.props.get("settingId")) == "min_tls_version":
        found = problem("min_tls_version", r.props.get("value"))
        return [f"HostnameTlsSetting '{r.name}' ({r.props.get('hostname')}): {found}"] if found else []
    if r.resource_type in types.CUSTOM_HOSTNAME:
        version = ((r.props.get("ssl") or {}).get("settings") or {}).get("minTlsVersion")
        found = problem("min_tls_version", version or DEFAULTS["min_tls_version"])
        return [f"CustomHostname '{r.name}' ({r.props.get('hostname')}): {found}"] if found else []
    if r.resource_type in types.RULESET:
        return [f"Ruleset '{r.name}' rule #{i + 1} sets ssl to {ssl}; configuration rules must not lower SSL "
                "below strict"
                for i, rule in enumerate(r.props.get("rules") or [])
                if rule.get("action") == "set_config" and rule.get("enabled") is not False
                and (ssl := (rule.get("actionParameters") or {}).get("ssl")) is not None and ssl not in STRICT_SSL]
    if r.resource_type in types.PAGE_RULE and r.props.get("status") != "disabled":
        ssl = (r.props.get("actions") or {}).get("ssl")
        found = problem("ssl", ssl) if ssl is not None else None
        return [f"PageRule '{r.name}' ({r.props.get('target')}): {found}"] if found else []
    return []


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    resources = list(args.resources)
    declared: dict[str, dict[str, Any]] = {}
    subject: dict[str, str] = {}  # the resource a zone's violations are reported on: the Zone, or its first user
    for r in resources:
        if r.resource_type in types.ZONE or r.resource_type in ZONED:
            declared.setdefault(zone_key(r), {})
            subject.setdefault(zone_key(r), zone_key(r) if zone_key(r).startswith("urn:") else r.urn)
        if r.resource_type in types.ZONE_SETTING and str(r.props.get("settingId")) in DEFAULTS:
            setting = str(r.props.get("settingId"))  # only transport settings' values are read
            declared[zone_key(r)][setting] = r.props.get("value")
            found = problem(setting, declared[zone_key(r)][setting])
            if found:
                report(f"ZoneSetting '{r.name}': {found}.", r.urn)
        for found in weakening(r):
            report(f"{found}.", r.urn)
    for key, settings in sorted(declared.items()):
        for setting, default in DEFAULTS.items():
            if setting not in settings:
                report(f"{_zone_label(key, resources)} does not declare {setting}, so Cloudflare's default "
                       f"applies: {problem(setting, default)}. Declare it in the zone baseline.", subject[key])


POLICY = stack_policy(META, check)
