"""Secret-looking Vercel environment variables are `sensitive`."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import plain, resource_label
from parsify_policies.secretlike import looks_secret

META = PolicyMeta(
    name="vercel-project-environment-variable-sensitive",
    description="Vercel environment variables that look like secrets are marked sensitive.",
    severity=Severity.HIGH, level=EnforcementLevel.MANDATORY, section=handbook.SECURITY_COMPLIANCE,
    kind="resource", resource_types=(types.VERCEL_ENV,),
    remediation="Set sensitive=True and take the value from a Pulumi secret.",
)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    if args.props.get("sensitive") is True:
        return
    key = str(args.props.get("key") or "")
    why = looks_secret(key, plain(args.props.get("value")))
    if why:
        report(f"{resource_label(args)} ({key}) is not sensitive but {why}. Set sensitive=True.", None)


POLICY = resource_policy(META, check)
