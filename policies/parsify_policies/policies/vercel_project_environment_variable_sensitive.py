"""Secret-looking Vercel environment variables are `sensitive`."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label
from parsify_policies.secretlike import secret_reason

META = PolicyMeta(
    name="vercel-project-environment-variable-sensitive",
    description="Vercel environment variables that look like secrets are marked sensitive.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.SECURITY_COMPLIANCE,
    kind="resource", resource_types=types.VERCEL_ENV,
    remediation="Set sensitive=True and take the value from a Pulumi secret.",
)


def variables(args: ResourceValidationArgs) -> list[tuple[str, Any]]:
    """(where, variable) for every environment value the resource sets, in each of Vercel's forms: a
    ProjectEnvironmentVariable or SharedEnvironmentVariable, the `variables` of ProjectEnvironmentVariables,
    and the deprecated inline `environments` of a Project."""
    for key in ("variables", "environments"):
        if key in args.props:
            return [(f" {key}[{i}]", v) for i, v in enumerate(args.props.get(key) or [])]
    return [] if args.resource_type in types.VERCEL_PROJECT else [("", args.props)]


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    for where, variable in variables(args):
        if variable.get("sensitive") is True:
            continue
        key = str(variable.get("key") or "")
        # The provider marks every value secret; for validation the SDK hands the policy the value inside
        # (pulumi_policy deserialize_properties: only a remediation sees Secret wrappers).
        why = secret_reason(key, variable.get("value"))
        if why and list(variable.get("targets") or []) == ["development"]:
            # Vercel: "Development environment variables cannot be made sensitive".
            report(f"{resource_label(args)}{where} ({key}) targets development, which Vercel cannot keep "
                   f"sensitive, but {why}. Use a non-secret development value.")
        elif why:
            report(f"{resource_label(args)}{where} ({key}) is not sensitive but {why}. Set sensitive=True.")


POLICY = resource_policy(META, check)
