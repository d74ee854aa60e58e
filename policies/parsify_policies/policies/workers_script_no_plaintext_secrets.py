"""No Worker `plain_text` or `json` binding carries something that looks like a secret."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import resource_label
from parsify_policies.secretlike import secret_reason

META = PolicyMeta(
    name="workers-script-no-plaintext-secrets",
    description="Workers keep secrets in secret_text bindings, never in plain_text or json bindings.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.SECURITY_COMPLIANCE,
    kind="resource", resource_types=types.WORKERS_SCRIPT,
    remediation="Store the value as a Pulumi secret (pulumi config set --secret) and bind it with type "
                "secret_text.",
)


def _secret_reason(binding: Any) -> str | None:
    value = binding.get("text") if binding.get("type") == "plain_text" else binding.get("json")
    return secret_reason(str(binding.get("name") or ""), value)


def check(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
    for binding in args.props.get("bindings") or []:
        kind = binding.get("type")
        if kind not in ("plain_text", "json"):
            continue
        why = _secret_reason(binding)
        if why:
            report(f"{resource_label(args)} binding '{binding.get('name')}' is {kind} but {why}. "
                   "Bind it as secret_text from a Pulumi secret.")


POLICY = resource_policy(META, check)
