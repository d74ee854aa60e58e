"""Access sessions are bounded: application and policy `session_duration` at most a maximum."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import duration_hours, resource_label, rules

# Cloudflare's defaults when a duration is left out (reference §1, docs D-SESS): an application session and
# the organization's global session last 24 hours; a policy without one uses its application's.
DEFAULT_SESSION = "24h"
# Bookmarks only link to a site Access does not protect: no session (docs partials/access/bookmarks).
SESSIONLESS_TYPES = ("bookmark",)

META = PolicyMeta(
    name="access-session-duration-bounded",
    description="Access application, policy and global (organization) sessions last at most the configured "
                "maximum; a session left out counts as Cloudflare's 24-hour default.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.TEMPORARY_ACCESS,
    kind="resource", resource_types=types.ACCESS_POLICY + types.ACCESS_APPLICATION + types.ACCESS_ORGANIZATION,
    remediation="Set session_duration to a value such as '8h' that is within the maximum (default 24h), on "
                "every application and on the Zero Trust organization.",
    config={"maxSessionHours": {"type": "number", "minimum": 0.25, "default": 24}},
)


def durations(args: ResourceValidationArgs) -> list[tuple[str, str]]:
    """(where, duration) of every session the resource sets, with Cloudflare's default where it is left out."""
    own = args.props.get("sessionDuration")
    if args.resource_type in types.ACCESS_POLICY:
        return [("session_duration", str(own))] if own is not None else []
    if args.resource_type in types.ACCESS_APPLICATION and args.props.get("type") in SESSIONLESS_TYPES:
        return []
    found = [("session_duration" if own is not None else "session_duration (left out: Cloudflare's default)",
              str(own if own is not None else DEFAULT_SESSION))]
    warp = args.props.get("warpAuthSessionDuration")  # an organization's (no other resource has the key)
    if warp is not None:  # the WARP client session outranks every other (docs D-SESS)
        found.append(("warp_auth_session_duration", str(warp)))
    found += [(f"inline policy #{i + 1} session_duration", str(p.get("sessionDuration")))
              for i, p in enumerate(rules(args.props, "policies"))
              if "decision" in p and p.get("sessionDuration") is not None]
    return found


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    limit = float(config["maxSessionHours"])
    for where, value in durations(args):
        hours = duration_hours(value)
        if hours is None:
            report(f"{resource_label(args)} has an unreadable {where} '{value}'. Use a duration like '8h'.")
        elif hours > limit:
            report(f"{resource_label(args)} {where} is {value}, longer than the {limit:g}h maximum. "
                   f"Shorten it to at most {limit:g}h.")


POLICY = resource_policy(META, check)
