"""API tokens hold no powerful permission group unless the pack config allows it for that token by name.

Powerful groups are those the reference data marks powerful, with the reason (shared/reference/
cloudflare-permission-groups.json, copied into data/cloudflare_ids.json): write access to Access, tokens,
members, DNS, zone settings, Workers, D1, R2, logs... A deploy token needs some of them: the security team
allows them per token in `allowedPowerfulPermissionGroups`. The groups that hand out rights (new tokens,
memberships, account settings, SCIM) are denied outright; only a waiver lets one through."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, ids, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import is_deny, resource_label, rules

META = PolicyMeta(
    name="api-token-no-powerful-permission-groups",
    description="API tokens hold no powerful permission group unless allowed for that token, and never one "
                "that hands out rights.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="resource", resource_types=types.TOKENS,
    remediation="Drop the powerful permission group from the token, or allow it for this token by name in "
                "allowedPowerfulPermissionGroups (a security review); groups that hand out rights need a waiver.",
    config={
        "deniedPermissionGroups": {"type": "array", "items": {"type": "string"}, "default": [
            "API Tokens Write", "Account API Tokens Write", "Memberships Write", "Account Settings Write",
            "SCIM Provisioning"]},
        "allowedPowerfulPermissionGroups": {"type": "object", "default": {},
                                            "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    denied = set(config["deniedPermissionGroups"])

    def token() -> str:  # read only when it decides: an unknown name matters only for a powerful group
        return str(args.props.get("name") or args.name)

    for policy in rules(args.props, "policies"):
        if is_deny(policy):
            continue  # denying a powerful group is what a guardrail does
        for group in policy.get("permissionGroups") or []:
            group_id = str(group.get("id") or "")
            found = ids.permission_group(group_id)
            if found is None:
                report(f"{resource_label(args)} holds permission group id '{group_id}', which the pack does "
                       "not know, so it cannot show that it is not powerful. Use a group from "
                       "policies/parsify_policies/data/cloudflare_ids.json (add a new one with its source), or "
                       "waive this with a ticket.")
            elif found.name in denied:
                report(f"{resource_label(args)} holds the powerful permission group '{found.name}', which hands out "
                       "rights. Remove it or waive it with a reason.")
            elif found.powerful and found.name not in config["allowedPowerfulPermissionGroups"].get(token(), []):
                report(f"{resource_label(args)} holds the powerful permission group '{found.name}' "
                       f"({found.why_powerful.removesuffix('.')}), which the pack config does not allow for token "
                       f"'{token()}'. Remove it, or allow it in allowedPowerfulPermissionGroups.")


POLICY = resource_policy(META, check)
