"""Access sessions are bounded: application and policy `session_duration` at most a maximum."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import duration_hours, resource_label, rules

META = PolicyMeta(
    name="access-session-duration-bounded",
    description="Access application and policy sessions last at most the configured maximum.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.TEMPORARY_ACCESS,
    kind="resource", resource_types=(types.ACCESS_POLICY, types.ACCESS_APPLICATION),
    remediation="Set session_duration to a value such as '8h' that is within the maximum (default 24h).",
    config={"maxSessionHours": {"type": "number", "minimum": 0.25, "default": 24}},
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    limit = float(config["maxSessionHours"])
    durations = [("session_duration", args.props.get("sessionDuration"))]
    durations += [(f"inline policy #{i + 1} session_duration", p.get("sessionDuration"))
                  for i, p in enumerate(rules(args.props, "policies")) if "decision" in p]
    for where, value in durations:
        if value is None:
            continue
        try:
            hours = duration_hours(str(value))
        except ValueError:
            report(f"{resource_label(args)} has an unreadable {where} '{value}'. Use a duration like '8h'.", None)
            continue
        if hours > limit:
            report(f"{resource_label(args)} {where} is {value}, longer than the {limit:g}h maximum. "
                   f"Shorten it to at most {limit:g}h.", None)


POLICY = resource_policy(META, check)
