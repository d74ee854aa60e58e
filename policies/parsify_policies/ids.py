"""Cloudflare ids the pack must name: permission groups and account roles (data/cloudflare_ids.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _table() -> dict[str, Any]:
    return dict(json.loads((Path(__file__).parent / "data" / "cloudflare_ids.json").read_text(encoding="utf-8")))


def permission_group_name(group_id: str) -> str | None:
    entry = _table()["permissionGroups"].get(group_id)
    return entry["name"] if entry else None


def role_name(role_id: str) -> str | None:
    return _table()["roles"].get(role_id)
