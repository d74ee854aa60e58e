"""Waivers: a risk owner's time-limited, reasoned exception to one policy for named resources.

Waivers live in the pack config (`policies/config/<stack>.json`) under the policy they waive, so the
real CLI (`--policy-pack-config`) and the offline gate read the same source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from typing import Any

WAIVER_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["resources", "reason", "ticket", "approver", "expires"],
        "properties": {
            "resources": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "ticket": {"type": "string", "pattern": "^[A-Z][A-Z0-9]+-[0-9]+$"},
            "reason": {"type": "string", "minLength": 20},
            "approver": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
            "expires": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        },
    },
}


def plan_date() -> date:
    """The evaluation date: `PARSIFY_PLAN_DATE` when set (offline plans, tests), else today."""
    override = os.environ.get("PARSIFY_PLAN_DATE")
    return date.fromisoformat(override) if override else date.today()


@dataclass(frozen=True)
class Waiver:
    policy: str
    resources: tuple[str, ...]
    ticket: str
    reason: str
    approver: str
    expires: date

    def covers(self, urn: str) -> bool:
        name = urn.rsplit("::", 1)[-1]
        return any(ref in (urn, name) for ref in self.resources)

    def active(self, today: date) -> bool:
        return today <= self.expires

    def describe(self) -> dict[str, Any]:
        return {"policy": self.policy, "ticket": self.ticket, "reason": self.reason, "approver": self.approver,
                "expires": self.expires.isoformat(), "resources": list(self.resources)}


def parse_waivers(policy: str, config: dict[str, Any]) -> list[Waiver]:
    return [
        Waiver(policy, tuple(w["resources"]), w["ticket"], w["reason"], w["approver"],
               date.fromisoformat(w["expires"]))
        for w in config.get("waivers", []) or []
    ]


# What the last evaluation waived or found expired: the offline gate reads this ledger (the real
# engine has no channel for it, so there a waived violation is simply not reported).
LEDGER: list[dict[str, Any]] = []
