"""Name-to-id look-ups through the provider's data sources.

Permission-group and role ids differ by account and scope, so they are never hard-coded:
the program asks Cloudflare by name. Offline, `parsify-infra plan` answers these invokes from
the recorded fixtures in `fixtures/invokes.json`.
"""

from __future__ import annotations

import pulumi_cloudflare as cloudflare

from stacks.config import StackConfigError

SCOPES = {
    "account": "com.cloudflare.api.account",
    "zone": "com.cloudflare.api.account.zone",
}


def permission_group_ids(account_id: str, scope: str, names: list[str], key: str) -> list[str]:
    """Ids of the permission groups `names` in `scope` ("account" or "zone"); `key` names them in errors."""
    listing = cloudflare.get_account_api_token_permission_groups_list(
        account_id=account_id, scope=SCOPES[scope]
    )
    by_name = {group.name: group.id for group in listing.results}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise StackConfigError(key, f"unknown {scope} permission groups {unknown}")
    return [by_name[name] for name in names]


def role_ids(account_id: str) -> dict[str, str]:
    """Account role ids by role name (e.g. "Administrator", "Workers Platform Admin")."""
    return {role.name: role.id for role in cloudflare.get_account_roles(account_id=account_id).results}
