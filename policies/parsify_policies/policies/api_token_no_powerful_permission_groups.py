"""No API token holds a powerful permission group from the deny list (token, membership, settings write)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, ids, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import is_deny, resource_label, rules

META = PolicyMeta(
    name="api-token-no-powerful-permission-groups",
    description="API tokens hold no permission group from the deny list of powerful groups.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="resource", resource_types=types.TOKENS,
    remediation="Drop the powerful permission group from the token; if automation truly needs it, add a "
                "waiver with a ticket, an approver and an expiry.",
    # The groups that hand out rights (new tokens, memberships, account settings, SCIM provisioning): the
    # reference data marks them powerful with the reason (shared/reference/cloudflare-permission-groups.json).
    config={"deniedPermissionGroups": {"type": "array", "items": {"type": "string"}, "default": [
        "API Tokens Write", "Account API Tokens Write", "Memberships Write", "Account Settings Write",
        "SCIM Provisioning"]}},
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    denied = set(config["deniedPermissionGroups"])
    for policy in rules(args.props, "policies"):
        if is_deny(policy):
            continue  # denying a powerful group is what a guardrail does
        for group in policy.get("permissionGroups") or []:
            name = ids.permission_group_name(group.get("id", ""))
            if name is None:
                report(f"{resource_label(args)} holds permission group id '{group.get('id')}', which the pack does "
                       "not know, so it cannot show that it is not powerful. Use a group from "
                       "policies/parsify_policies/data/cloudflare_ids.json (add a new one with its source), or "
                       "waive this with a ticket.", None)
            elif name in denied:
                report(f"{resource_label(args)} holds the powerful permission group '{name}'. "
                       "Remove it or waive it with a reason.", None)


POLICY = resource_policy(META, check)
