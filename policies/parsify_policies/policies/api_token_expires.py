"""Every API token expires, within a maximum lifetime from the plan's date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types, waivers
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label

META = PolicyMeta(
    name="api-token-expires",
    description="API tokens expire within the configured maximum lifetime.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.TEMPORARY_ACCESS,
    kind="resource", resource_types=types.TOKENS,
    remediation="Set expires_on (RFC 3339) no later than the maximum lifetime from today, and rotate the "
                "token before it expires.",
    config={"maxLifetimeDays": {"type": "integer", "minimum": 1, "default": 90}},
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    expires_on = args.props.get("expiresOn")
    today = waivers.plan_date()
    days = int(config["maxLifetimeDays"])  # JSON numbers arrive as floats through the engine
    limit = today + timedelta(days=days)
    if not expires_on:
        report(f"{resource_label(args)} never expires. Set expires_on no later than {limit.isoformat()}.")
        return
    # The instant in UTC (RFC 3339 offsets count: 2027-02-25T22:00:00-05:00 is 2027-02-26 in UTC); a time
    # without an offset is UTC, as Cloudflare reads it. RFC 3339 5.6 allows a lower-case "t" and "z".
    moment = datetime.fromisoformat(str(expires_on).upper().replace("Z", "+00:00"))
    expiry: date = (moment.astimezone(UTC) if moment.tzinfo else moment).date()
    if expiry < today:
        report(f"{resource_label(args)} expired on {expiry.isoformat()}. Rotate it or remove it.")
    elif expiry > limit:
        report(f"{resource_label(args)} expires on {expiry.isoformat()}, beyond the "
               f"{days}-day maximum ({limit.isoformat()}). Shorten its lifetime.")


POLICY = resource_policy(META, check)
