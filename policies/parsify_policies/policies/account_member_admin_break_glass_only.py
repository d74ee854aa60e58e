"""Account members hold administrator roles only when listed as break-glass (at most two people)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, ids, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label

BREAK_GLASS_SCHEMA = {"type": "array", "items": {"type": "string"}, "maxItems": 2, "default": []}

META = PolicyMeta(
    name="account-member-admin-break-glass-only",
    description="Only the listed break-glass people (at most two) hold Cloudflare administrator roles.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="resource", resource_types=(types.ACCOUNT_MEMBER,),
    remediation="Give the member a scoped role (e.g. Workers Admin, Analytics), or list them in breakGlass "
                "(at most two people) in the pack config.",
    config={"breakGlass": BREAK_GLASS_SCHEMA,
            "adminRoles": {"type": "array", "items": {"type": "string"},
                           "default": ["Super Administrator - All Privileges", "Administrator"]}},
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    break_glass = [e.lower() for e in config["breakGlass"]]
    if len(break_glass) > 2:
        report(f"The breakGlass list names {len(break_glass)} people; keep it to at most two.", None)
    email = str(args.props.get("email") or "").lower()
    roles = [ids.role_name(r) or r for r in args.props.get("roles") or []]
    admin = [r for r in roles if r in config["adminRoles"]]
    if admin and email not in break_glass:
        report(f"{resource_label(args)} ({email}) holds {', '.join(admin)} but is not a break-glass "
               "administrator. Give a scoped role instead.", None)


POLICY = resource_policy(META, check)
