"""Vercel team owners are only the break-glass people."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.policies.account_member_admin_break_glass_only import BREAK_GLASS_SCHEMA
from parsify_policies.props import resource_label

META = PolicyMeta(
    name="vercel-team-member-owner-break-glass-only",
    description="Only the listed break-glass people (at most two) are Vercel team owners.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="resource", resource_types=types.VERCEL_MEMBER + types.VERCEL_TEAM_CONFIG,
    remediation="Give the member the DEVELOPER or VIEWER role, or list them in breakGlass in the pack config.",
    config={"breakGlass": BREAK_GLASS_SCHEMA},
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    if args.resource_type in types.VERCEL_TEAM_CONFIG:
        # TeamConfig.saml.roles maps a directory group to a role: every member of the group gets it.
        roles = ((args.props.get("saml") or {}).get("roles") or {})
        for group, mapping in sorted(roles.items()):
            if (mapping or {}).get("role") == "OWNER":
                report(f"{resource_label(args)} makes every member of the directory group '{group}' a team OWNER. "
                       "Map the group to DEVELOPER or VIEWER; make only the break-glass people owners.")
        return
    if args.props.get("role") != "OWNER":
        return  # only an owner's email matters (it may be unknown otherwise)
    email = str(args.props.get("email") or "").lower()
    if email not in [e.lower() for e in config["breakGlass"]]:
        report(f"{resource_label(args)} ({email or 'no email'}) is a team OWNER but not a break-glass administrator. "
               "Give the DEVELOPER or VIEWER role instead.")


POLICY = resource_policy(META, check)
