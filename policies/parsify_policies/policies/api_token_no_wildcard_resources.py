"""API token policies name a specific account or zone, never wildcards."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label, rules, token_resources

META = PolicyMeta(
    name="api-token-no-wildcard-resources",
    description="API token policies are scoped to a specific account or zone, not to wildcards.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="resource", resource_types=(types.ACCOUNT_TOKEN, types.API_TOKEN),
    remediation="Use resources such as {\"com.cloudflare.api.account.<account id>\": \"*\"} or "
                "{\"com.cloudflare.api.account.zone.<zone id>\": \"*\"}.",
)


def wildcard_keys(resources: dict[str, Any]) -> list[str]:
    found = []
    for key, value in resources.items():
        if key == "*" or key.endswith(".*"):
            found.append(key)
        if isinstance(value, dict):
            found += wildcard_keys(value)
    return found


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    for index, policy in enumerate(rules(args.props, "policies")):
        for key in wildcard_keys(token_resources(policy)):
            report(f"{resource_label(args)} policy #{index + 1} grants on the wildcard resource '{key}'. "
                   "Name the specific account or zone instead.", None)


POLICY = resource_policy(META, check)
