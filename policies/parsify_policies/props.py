"""Reading Cloudflare and Vercel inputs as policies see them (camelCase engine names)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")  # two-letter units first: "500ms" is not 500m + s
UNIT_HOURS = {"h": 1.0, "m": 1 / 60, "s": 1 / 3600, "ms": 1 / 3.6e6, "us": 1 / 3.6e9, "µs": 1 / 3.6e9, "ns": 1 / 3.6e12}


def duration_hours(text: str) -> float | None:
    """Hours in a Go duration string such as "24h", "30m" or "1h30m"; None when unreadable."""
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * UNIT_HOURS[u] for n, u in parts)


def rules(props: Any, key: str) -> list[dict[str, Any]]:
    return list(props.get(key) or [])


def token_resources(policy: dict[str, Any]) -> dict[str, Any]:
    """A token policy's `resources`: a JSON string (as the provider takes it) or a map; ValueError when it
    is neither (the policy then fails closed)."""
    value = policy.get("resources")
    if isinstance(value, str):
        value = json.loads(value)
    if value is None:
        return {}
    if not isinstance(value, Mapping):  # the SDK hands maps over as read-only Mapping proxies
        raise ValueError(f"token resources must be a JSON object, not {type(value).__name__}")
    return dict(value)


def is_deny(policy: dict[str, Any]) -> bool:
    """A token policy with effect "deny" takes rights away (a guardrail); anything else, absent included,
    is judged as a grant."""
    return str(policy.get("effect") or "").lower() == "deny"


def resource_label(args: Any) -> str:
    """How messages name a resource: its type's short name and its Pulumi name."""
    return f"{args.resource_type.rpartition(':')[2]} '{args.name}'"
