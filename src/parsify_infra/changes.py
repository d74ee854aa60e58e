"""The diff between an approved snapshot and the program now, with each change's risk and reviewers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeowners import CodeOwners
from parsify_policies import types

# Risk classes use the pack's resource families, so a deprecated alias is classified like its new name.
STATEFUL = {
    **dict.fromkeys(types.D1_DATABASE, frozenset({"name", "jurisdiction", "primaryLocationHint", "accountId"})),
    **dict.fromkeys(types.R2_BUCKET, frozenset({"name", "location", "jurisdiction", "accountId"})),
}
SECURITY_FAMILIES = frozenset(
    types.ACCESS_POLICY + types.ACCESS_APPLICATION + types.ACCESS_GROUP + types.ACCESS_ORGANIZATION
    + types.ACCESS_IDENTITY_PROVIDER + types.TOKENS + types.ACCOUNT_MEMBER + types.USER_GROUP + types.ACCOUNT
    + types.VERCEL_MEMBER + types.ZONE_SETTING + types.HOSTNAME_TLS_SETTING + types.RULESET)
SECURITY_PREFIXES = ("cloudflare:index/zeroTrust",)  # every Zero Trust resource, present and future
RISK_ORDER = ["routine", "security-sensitive", "destructive"]
# Paths whose CODEOWNERS must review a change of that risk, on top of the changed components' modules.
RISK_PATHS = {"security-sensitive": "policies/", "destructive": "stacks/data.py"}


@dataclass
class PropertyChange:
    path: str
    old: Any
    new: Any


@dataclass
class Change:
    action: str  # create, update, replace, delete
    urn: str
    type: str
    name: str
    component: str  # type token of the top-level component, e.g. parsify:access:AccessControl
    risk: str
    properties: list[PropertyChange] = field(default_factory=list)
    protected: bool = False  # the approved state protects it: a delete or replace fails until protect is removed


def _key_path(prefix: str, key: str) -> str:
    """A map key in a property path as Pulumi writes one (`a.b`, or `a["b.c"]` for a key that is not a plain name),
    so a key holding a dot or a bracket never reads as a nested path."""
    if key and not any(c in key for c in '.[]"'):
        return f"{prefix}.{key}" if prefix else key
    return f"{prefix}[{json.dumps(key)}]"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, _key_path(prefix, str(key))))
        return out
    if isinstance(value, list) and value:
        out = {}
        # Lists of named items (bindings, rules) are keyed by name, so an insertion is one change, not a cascade.
        named = all(isinstance(i, dict) and isinstance(i.get("name") or i.get("id"), str) for i in value)
        keys = [str(i.get("name") or i.get("id")) for i in value] if named else []
        if not named or len(set(keys)) != len(keys):
            keys = [str(index) for index in range(len(value))]
        for index, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{keys[index]}]"))
        return out
    return {prefix: value}


def property_changes(old: dict[str, Any], new: dict[str, Any]) -> list[PropertyChange]:
    # No inputs flatten to nothing: a new resource's change is its inputs, not also a row "" from {} to None.
    before, after = _flatten(old) if old else {}, _flatten(new) if new else {}
    return [PropertyChange(path, before.get(path), after.get(path))
            for path in sorted(set(before) | set(after)) if not _same(before.get(path), after.get(path))]


def _same(old: Any, new: Any) -> bool:
    """Equal as JSON values: Python's 0 == False and 1 == True hide a change of type."""
    return bool(old == new) and isinstance(old, bool) == isinstance(new, bool)


def _component(resource: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str:
    """Type token of the outermost component above `resource` (its own type if it is one)."""
    found = resource["type"] if not resource["custom"] else ""
    parent = by_urn.get(resource["parent"])
    while parent is not None and parent["type"] != "pulumi:pulumi:Stack":
        found = parent["type"]
        parent = by_urn.get(parent["parent"])
    return found


def _risk(action: str, type_token: str) -> str:
    if action in ("delete", "replace") and type_token in STATEFUL:
        return "destructive"
    if type_token in SECURITY_FAMILIES or type_token.startswith(SECURITY_PREFIXES):
        return "security-sensitive"
    return "routine"


def diff(approved: dict[str, Any] | None, current: dict[str, Any]) -> list[Change]:
    """Changes from `approved` (None: an empty stack) to `current`, both snapshot documents."""
    old = {r["urn"]: r for r in (approved or {}).get("resources", [])}
    new = {r["urn"]: r for r in current["resources"]}
    changes: list[Change] = []
    for urn in sorted(set(old) | set(new)):
        before, after = old.get(urn), new.get(urn)
        resource = after or before
        assert resource is not None
        if resource["type"] == "pulumi:pulumi:Stack":
            continue
        context = new if after else old
        props: list[PropertyChange]
        if after is None:
            action, props = "delete", []
        elif before is None:
            action, props = "create", property_changes({}, after["inputs"])
        else:
            props = property_changes(before["inputs"], after["inputs"])
            if before["protect"] != after["protect"]:
                props.append(PropertyChange("(protect)", before["protect"], after["protect"]))
            if not props:
                continue
            replace_keys = STATEFUL.get(resource["type"], frozenset())
            action = "replace" if any(p.path.split(".")[0].split("[")[0] in replace_keys for p in props) else "update"
        changes.append(Change(action, urn, resource["type"], resource["name"], _component(resource, context),
                              _risk(action, resource["type"]), props, bool(before and before["protect"])))
    return changes


def overall_risk(changes: list[Change]) -> str:
    return max((c.risk for c in changes), key=RISK_ORDER.index, default="routine")


def read_codeowners(path: Path) -> CodeOwners:
    """The CODEOWNERS file, matched by GitHub's rules (the maintained `codeowners` library: anchoring, globs,
    directories, the last matching line wins); no file means no owners."""
    return CodeOwners(path.read_text(encoding="utf-8") if path.is_file() else "")


def owners_of(path: str, owners: CodeOwners) -> list[str]:
    return [name for _, name in owners.of(path)]


def module_of(component: str) -> str | None:
    """The convention that tells where a component lives: `parsify:<module>:<Name>` -> `stacks/<module>.py`."""
    parts = component.split(":")
    return f"stacks/{parts[1]}.py" if len(parts) == 3 and parts[1] else None


def required_reviewers(changes: list[Change], stack: str, rules: CodeOwners) -> list[str]:
    """The owners of what changed: the stack's own file (Pulumi.<stack>.yaml), the components' modules, and the
    paths that the changes' risk classes require."""
    if not changes:
        return []
    paths = {f"Pulumi.{stack}.yaml"}
    paths |= {m for c in changes if (m := module_of(c.component))}
    paths |= {RISK_PATHS[c.risk] for c in changes if c.risk in RISK_PATHS}
    return sorted({owner for path in paths for owner in owners_of(path, rules)})
