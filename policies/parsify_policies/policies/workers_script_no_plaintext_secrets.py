"""No Worker `plain_text` or `json` binding carries something that looks like a secret."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from parsify_policies import handbook, types
from parsify_policies.framework import PolicyMeta, Report, resource_policy
from parsify_policies.props import plain, resource_label
from parsify_policies.secretlike import looks_secret

META = PolicyMeta(
    name="workers-script-no-plaintext-secrets",
    description="Workers keep secrets in secret_text bindings, never in plain_text or json bindings.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.SECURITY_COMPLIANCE,
    kind="resource", resource_types=types.WORKERS_SCRIPT,
    remediation="Store the value as a Pulumi secret (pulumi config set --secret) and bind it with type "
                "secret_text.",
)


def _json_pairs(name: str, value: Any) -> list[tuple[str, Any]]:
    """(key, leaf value) pairs of a json binding, so {"password": "..."} inside it is found too."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _json_pairs(str(k), v)]
    if isinstance(value, list):
        return [pair for v in value for pair in _json_pairs(name, v)]
    return [(name, value)]


def _secret_reason(binding: dict[str, Any]) -> str | None:
    name = str(binding.get("name") or "")
    if binding.get("type") == "plain_text":
        return looks_secret(name, plain(binding.get("text")))
    value = plain(binding.get("json"))
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        parsed = value
    reasons = [looks_secret(name, None)] + [looks_secret(k, v) for k, v in _json_pairs(name, parsed)]
    return next((r for r in reasons if r), None)


def check(args: PolicyResource, report: Report, config: dict[str, Any]) -> None:
    for binding in args.props.get("bindings") or []:
        kind = binding.get("type")
        if kind not in ("plain_text", "json"):
            continue
        why = _secret_reason(binding)
        if why:
            report(f"{resource_label(args)} binding '{binding.get('name')}' is {kind} but {why}. "
                   "Bind it as secret_text from a Pulumi secret.", None)


POLICY = resource_policy(META, check)
