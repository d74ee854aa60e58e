"""No Access allow policy admits everyone or a whole public email domain."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label, rules

META = PolicyMeta(
    name="access-policy-no-public-include",
    description="Access allow policies never include everyone or a public email domain.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="resource", resource_types=(types.ACCESS_POLICY, types.ACCESS_APPLICATION),
    remediation="Include named Access groups or individual emails instead of `everyone` or a public domain.",
    config={"publicEmailDomains": {"type": "array", "items": {"type": "string"}, "default": [
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "proton.me",
        "protonmail.com", "aol.com", "gmx.com", "live.com"]}},
)


def public_includes(policy: Any, public_domains: list[str]) -> list[str]:
    if (policy.get("decision") or "allow") != "allow":
        return []
    found = []
    for rule in rules(policy, "includes"):
        if "everyone" in rule:
            found.append("everyone")
        domain = ((rule.get("emailDomain") or {}).get("domain") or "").lower()
        if domain in public_domains:
            found.append(f"the public email domain {domain}")
    return found


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    domains = [d.lower() for d in config["publicEmailDomains"]]
    candidates = [args.props] if args.resource_type == types.ACCESS_POLICY else rules(args.props, "policies")
    for policy in candidates:
        for what in public_includes(policy, domains):
            report(f"{resource_label(args)} allows {what}. Include named groups or emails instead.", None)


POLICY = resource_policy(META, check)
