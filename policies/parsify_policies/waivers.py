"""Waivers: a risk owner's time-limited, reasoned exception to one policy for named resources.

Waivers live in the pack config (`policies/config/<stack>.json`) under the policy they waive, so the
real CLI (`--policy-pack-config`) and the offline gate read the same source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

WAIVER_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["resources", "reason", "ticket", "approver", "expires"],
        "properties": {
            "resources": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "ticket": {"type": "string", "pattern": "^[A-Z][A-Z0-9]+-[0-9]+$",
                       "description": "a ticket key such as SEC-218"},
            # A sentence: at least 20 characters, three words among them (not blanks or dots that fill the length).
            "reason": {"type": "string", "minLength": 20, "pattern": "[^\\W\\d_]{2,}(\\W+[^\\W\\d_]+){2}",
                       "description": "a sentence (20 characters or more, three words) saying why the risk is "
                                      "accepted"},
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
        name = urn.rpartition("::")[2]
        return any(ref in (urn, name) for ref in self.resources)

    def active(self, today: date) -> bool:
        return today <= self.expires

    def describe(self) -> dict[str, Any]:
        return {"policy": self.policy, "ticket": self.ticket, "reason": self.reason, "approver": self.approver,
                "expires": self.expires.isoformat(), "resources": list(self.resources)}


MAX_WAIVER_DAYS = 90  # a waiver expires at most this many days after the plan date


def _problem(entry: Any, today: date, names: set[str] | None) -> str | None:
    """Why one waiver entry cannot apply, or None (`names`: the stack's resources, when they are known)."""
    if not isinstance(entry, dict):
        return "is not an object"
    missing = [key for key in WAIVER_SCHEMA["items"]["required"] if not entry.get(key)]
    if missing:
        return f"is missing {', '.join(missing)}"
    try:
        expires = date.fromisoformat(str(entry["expires"]))
    except ValueError:
        return f"expires '{entry['expires']}', which is not a date"
    if expires > today + timedelta(days=MAX_WAIVER_DAYS):
        return (f"expires {expires}, more than {MAX_WAIVER_DAYS} days after the plan date {today}; waivers are "
                "time-limited")
    unknown = [r for r in entry["resources"] if names is not None and r not in names]
    if unknown:
        return f"names {unknown[0]}, which is not a resource of this stack"
    return None


def problems(policy: str, config: dict[str, Any], today: date, names: set[str] | None,
             subject: str | None = None) -> list[str]:
    """Every waiver of `policy` that cannot apply, and why (the offline gate reports the same). With
    `subject`, only the waivers that name that resource."""
    found = []
    for index, entry in enumerate(config.get("waivers") or []):
        if subject is not None and isinstance(entry, dict) and not any(
                ref in (subject, subject.rpartition("::")[2]) for ref in entry.get("resources") or []):
            continue
        why = _problem(entry, today, names)
        if why:
            ticket = entry.get("ticket", f"#{index + 1}") if isinstance(entry, dict) else f"#{index + 1}"
            found.append(f"Waiver {ticket} of policy '{policy}' (waivers[{index}]) {why}; it does not apply")
    return found


def parse_waivers(policy: str, config: dict[str, Any], today: date, names: set[str] | None) -> list[Waiver]:
    """The waivers of `policy` that can apply (see problems() for the others)."""
    return [
        Waiver(policy, tuple(w["resources"]), w["ticket"], w["reason"], w["approver"],
               date.fromisoformat(w["expires"]))
        for w in config.get("waivers") or [] if _problem(w, today, names) is None
    ]


# What the last evaluation waived: the offline gate reads this ledger (the real
# engine has no channel for it, so there a waived violation is simply not reported).
LEDGER: list[dict[str, Any]] = []
