"""API token policies name a specific account or zone, never wildcards."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import is_deny, resource_label, rules, token_resources

META = PolicyMeta(
    name="api-token-no-wildcard-resources",
    description="API token policies are scoped to a specific account or zone, not to wildcards.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="resource", resource_types=types.TOKENS,
    remediation="Use resources such as {\"com.cloudflare.api.account.<account id>\": \"*\"} or "
                "{\"com.cloudflare.api.account.zone.<zone id>\": \"*\"}.",
)


ACCOUNT = "com.cloudflare.api.account."
# Under a named account these mean "all of this account's zones / R2 buckets" (docs fundamentals/api/how-to/
# create-via-api; r2/api/tokens: "All buckets in an account are represented as ...").
ACCOUNT_SCOPES = ("com.cloudflare.api.account.zone.*", "com.cloudflare.edge.r2.bucket.*")


def wildcard_keys(resources: dict[str, Any], in_account: bool = False) -> list[str]:
    """Resource keys that reach beyond a named account or zone. Under a named account, "all zones of this
    account" ({"com.cloudflare.api.account.<id>": {"com.cloudflare.api.account.zone.*": "*"}}, the nested
    form of docs: fundamentals/api/how-to/create-via-api) is a scope, not a wildcard."""
    found = []
    for key, value in resources.items():
        wildcard = key.endswith("*") and not (key in ACCOUNT_SCOPES and in_account)
        if wildcard:
            found.append(key)
        named_account = key.startswith(ACCOUNT) and not key.startswith(ACCOUNT + "zone.") and not wildcard
        if value != "*" and value is not None:
            found += wildcard_keys(token_resources({"resources": value}), named_account)
    return found


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    for index, policy in enumerate(rules(args.props, "policies")):
        if is_deny(policy):
            continue  # a deny policy takes rights away: a wildcard there is a guardrail
        for key in wildcard_keys(token_resources(policy)):
            report(f"{resource_label(args)} policy #{index + 1} grants on the wildcard resource '{key}'. "
                   "Name the specific account or zone instead.")


POLICY = resource_policy(META, check)
