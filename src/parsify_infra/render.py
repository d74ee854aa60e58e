"""Human-readable parts of the plan: every resource grouped by component, the outputs, the gate's verdicts
(secrets as [secret]). The preview of what changes is preview.py."""

from __future__ import annotations

import json
from typing import Any

from parsify_policies import ids

from parsify_infra.plan import STACK_TYPE, counts_by_type

LONG_VALUE = 100


def short_type(type_token: str) -> str:
    """`cloudflare:index/d1Database:D1Database` -> `cloudflare:D1Database`."""
    parts = type_token.split(":")
    return f"{parts[0]}:{parts[-1]}" if len(parts) == 3 and "/" in parts[1] else type_token


def brief(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= LONG_VALUE else f"{text[:LONG_VALUE - 20]}… ({len(text)} chars)"


def display(value: Any, quote: bool = True) -> str:
    """A property value as declared: 1.0 -> 1, role and permission-group ids with their names, a snapshot's
    secret fingerprint as [secret], None as (absent); strings quoted unless `quote` is off."""
    if value is None:
        return "(absent)"
    if isinstance(value, str) and value.startswith("[secret"):
        return "[secret]"  # a fingerprint in the snapshot: only whether it changed is shown
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        named = ids.role_name(value) or ids.permission_group_name(value)
        if named:
            return f'"{named}" ({value})' if quote else f"{named} ({value})"
        return json.dumps(value) if quote else brief(value)
    return brief(value)


def render_listing(doc: dict[str, Any], verbose: bool = False) -> str:
    """Every resource, grouped by component (with its inputs when `verbose`), counts by type, outputs."""
    resources = doc["resources"]
    children: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        children.setdefault(r["parent"], []).append(r)
    real = [r for r in resources if r["type"] != STACK_TYPE]
    components = [r for r in real if not r["custom"]]
    lines = [f"Plan for {doc['project']}/{doc['stack']} (offline, Pulumi mocks): "
             f"{len(real)} resources, {len(components)} of them components", ""]

    def walk(urn: str, depth: int) -> None:
        for child in sorted(children.get(urn, []), key=lambda r: (r["custom"], r["type"], r["name"])):
            flags = " [protected]" if child["protect"] else ""
            lines.append(f"{'  ' * depth}  {short_type(child['type'])}  {child['name']}{flags}")
            if verbose:
                for key, value in sorted(child["inputs"].items()):
                    lines.append(f"{'  ' * (depth + 2)}{key}: {brief(value)}")
            walk(child["urn"], depth + 1)

    roots = [r["urn"] for r in resources if r["type"] == STACK_TYPE] or [""]
    for root in roots:
        walk(root, 0)
    lines += ["", "Resources by type:"]
    for type_token, count in sorted(counts_by_type(resources).items()):
        lines.append(f"  {count:4d}  {type_token}")
    lines += ["", "Outputs:"]
    for key, value in sorted(doc["outputs"].items()):
        lines.append(f"  {key}: {brief(value)}")
    return "\n".join(lines) + "\n"


def render_verdicts(doc: dict[str, Any]) -> str:
    """The policy gate's verdicts, for the text plan."""
    if "violations" not in doc:
        return ""
    pack = doc["policyPack"]
    lines = ["", f"Policy gate: {pack['name']} {pack['version']} (config: {pack['config'] or 'defaults'})"]
    for v in sorted(doc["violations"], key=lambda v: (v["level"] != "mandatory", v["policy"])):
        lines.append(f"  [{v['level'].upper()}] {v['policy']}: {v['message']}")
    for w in doc["waived"]:
        waiver = w["waiver"]
        lines.append(f"  [WAIVED until {waiver['expires']}, {waiver['ticket']}, approved by {waiver['approver']}] "
                     f"{w['policy']}: {w['message']}")
    policies = doc["compliance"]["policies"]
    passed = sum(1 for p in policies if p["status"] == "pass")
    mandatory = sum(1 for v in doc["violations"] if v["level"] == "mandatory")
    lines.append(f"  {passed}/{len(policies)} policies pass; {mandatory} mandatory violations, "
                 f"{len(doc['violations']) - mandatory} advisory, {len(doc['waived'])} waived.")
    lines.append("  Result: " + ("BLOCKED by mandatory violations." if mandatory else "passed."))
    return "\n".join(lines) + "\n"
