"""Account members hold administrator rights only when listed as break-glass (at most two people); user
groups never carry them.

Rights come from `roles` (account role ids) and from `policies` (member policies: permission groups on
resource groups); both are judged. Whether an id is administrator-level comes from the pack's id table
(data/cloudflare_ids.json, copied from the reference data with sources); an id it does not know fails closed.
"""

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
    kind="resource", resource_types=types.ACCOUNT_MEMBER + types.USER_GROUP,
    remediation="Give the member a scoped role (e.g. Workers Platform Admin, Analytics), or list them in breakGlass "
                "(at most two people) in the pack config.",
    config={"breakGlass": BREAK_GLASS_SCHEMA},
)


def granted_ids(props: Any) -> list[tuple[str, str]]:
    """(where, id) of every role and member-policy permission group the member is given (a member policy
    with access "deny" takes rights away, so it grants nothing)."""
    found = [("roles", str(r)) for r in props.get("roles") or []]
    for index, policy in enumerate(props.get("policies") or []):
        if str(policy.get("access")).lower() == "deny":  # left out: counted as granting (fail closed)
            continue
        found += [(f"policies[{index}].permissionGroups", str(g.get("id", "")))
                  for g in policy.get("permissionGroups") or []]
    return found


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    break_glass = [e.lower() for e in config["breakGlass"]]  # at most two: BREAK_GLASS_SCHEMA, checked before
    def email() -> str:  # read only when it decides (an unknown email matters only for administrators)
        return str(args.props.get("email") or "").lower()

    admin = []
    for where, role_id in granted_ids(args.props):
        role = ids.role(role_id)
        if role is None:
            report(f"{resource_label(args)} is given {where} id '{role_id}', which the pack does not "
                   "know, so it cannot show that it is not administrator-level. Use a role from "
                   "policies/parsify_policies/data/cloudflare_ids.json (add a new one with its source), or "
                   "waive this with a ticket.")
        elif role.administrator_level:
            admin.append(role.name)
    if admin and args.resource_type in types.USER_GROUP:
        report(f"{resource_label(args)} gives {', '.join(admin)} to every member of the group. Give "
               "administrator rights only to the break-glass people, as account members.")
    elif admin and email() not in break_glass:
        report(f"{resource_label(args)} ({email() or 'no email'}) holds {', '.join(admin)} but is not a break-glass "
               "administrator. Give a scoped role instead.")


POLICY = resource_policy(META, check)
