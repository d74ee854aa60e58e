"""The policy catalogue: one row per policy, for people (README) and auditors."""

from __future__ import annotations

from parsify_infra.gate import LoadedPack, policy_section


def catalogue_table(pack: LoadedPack) -> str:
    from pulumi_policy import EnforcementLevel

    default = pack.arguments.get("enforcement_level") or EnforcementLevel.ADVISORY  # the SDK's default
    rows = ["| Policy | Level | Severity | Handbook section | Description |", "|---|---|---|---|---|"]
    for policy in pack.policies:
        level = (policy.enforcement_level or default).value
        severity = policy.severity.value if policy.severity else "unspecified"
        rows.append(f"| `{policy.name}` | {level} | {severity} | {policy_section(policy)} | {policy.description} |")
    return "\n".join(rows) + "\n"
