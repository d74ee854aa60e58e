"""`--format pulumi-json`: the plan in the shape of `pulumi preview --json` (the engine's PreviewDigest), for
tools that read Pulumi's JSON: steps with their op, URN, old and new state and diff reasons, the change
summary, and the policy verdicts as diagnostics. Secrets stay `[secret]`, as the engine blinds them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from parsify_infra.changes import Change

OPS = {"create": "create", "update": "update", "replace": "replace", "delete": "delete"}


def _state(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource as the engine's apitype.ResourceV3 shows it."""
    return {"urn": resource["urn"], "custom": resource["custom"], "type": resource["type"],
            "inputs": resource["inputs"], "parent": resource["parent"], "protect": resource["protect"],
            "dependencies": resource["dependencies"], "propertyDependencies": resource["propertyDependencies"]}


def preview_digest(approved: dict[str, Any] | None, current: dict[str, Any], changes: list[Change],
                   doc: dict[str, Any], config: dict[str, str], secret_keys: list[str]) -> dict[str, Any]:
    """`approved` and `current` are snapshot documents; `doc` the plan document with its verdicts."""
    old = {r["urn"]: r for r in (approved or {}).get("resources", [])}
    new = {r["urn"]: r for r in current["resources"]}
    by_urn = {c.urn: c for c in changes}
    steps = []
    for urn in sorted(set(old) | set(new)):
        change = by_urn.get(urn)  # the stack itself is a step too, as in pulumi preview --json
        step: dict[str, Any] = {"op": OPS[change.action] if change else "same", "urn": urn}
        if urn in old and (change is None or change.action != "create"):
            step["oldState"] = _state(old[urn])
        if urn in new:
            step["newState"] = _state(new[urn])
        if change and change.action in ("update", "replace"):
            reasons = sorted({p.path.split(".")[0].split("[")[0] for p in change.properties})
            step["diffReasons" if change.action == "update" else "replaceReasons"] = reasons
        steps.append(step)
    severity = {"mandatory": "error", "advisory": "warning"}
    diagnostics = [{"urn": v["urn"], "prefix": f"{severity[v['level']]}: ",
                    "message": f"[{v['level']}] {v['policy']}: {v['message']}", "severity": severity[v["level"]]}
                   for v in doc.get("violations", [])]
    return {
        "config": {k: ("[secret]" if k in secret_keys else v) for k, v in sorted(config.items())},
        "steps": steps,
        "diagnostics": diagnostics,
        "changeSummary": dict(sorted(Counter(s["op"] for s in steps).items())),
    }
