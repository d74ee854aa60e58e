"""Cloudflare ids the pack must name: permission groups and account roles (data/cloudflare_ids.json).

The table is copied from the project's reference data with a source for every entry. An id that is not in
it is unknown, and the policies that judge it fail closed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple


class PermissionGroup(NamedTuple):
    name: str
    powerful: bool  # write access that changes security, data or what runs (the reference says why)
    why_powerful: str = ""


class Role(NamedTuple):
    name: str
    administrator_level: bool


@cache
def _table() -> dict[str, Any]:
    return dict(json.loads((Path(__file__).parent / "data" / "cloudflare_ids.json").read_text(encoding="utf-8")))


def permission_group(group_id: str) -> PermissionGroup | None:
    entry = _table()["permissionGroups"].get(group_id)
    return PermissionGroup(entry["name"], entry["powerful"], entry.get("whyPowerful", "")) \
        if entry else None


def permission_group_name(group_id: str) -> str | None:
    group = permission_group(group_id)
    return group.name if group else None


def role(role_id: str) -> Role | None:
    """An account role, or a permission group of an AccountMember policy (both grant a member rights)."""
    entry = _table()["roles"].get(role_id)
    return Role(entry["name"], entry["administratorLevel"]) if entry else None


def role_name(role_id: str) -> str | None:
    found = role(role_id)
    return found.name if found else None
