"""The change record of a pull request, in Markdown: what changes, how risky, who reviews, the verdicts."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from parsify_infra.changes import Change, overall_risk
from parsify_infra.render import display, short_type

SYMBOL = {"create": "+ create", "update": "~ update", "replace": "+- replace", "delete": "- delete"}
RISK_BADGE = {"routine": "routine", "security-sensitive": "security-sensitive", "destructive": "DESTRUCTIVE"}


def _cell(value: Any) -> str:
    text = "(none)" if value is None else display(value, quote=False)  # ids with names, secrets as [secret]
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


# GitHub refuses comments over 65,536 characters, and the pull-request comment holds both stacks' records.
DEFAULT_MAX_CHARS = 30_000
# Past this many nodes (or mermaid's own 50,000-character text limit) the graph shows components instead.
MAX_GRAPH_NODES = 60
MERMAID_MAX_TEXT = 50_000
FULL_RECORD = "the `change-record` artifact of the pull request's workflow run (change-record-full.md)"
CLASSES = ["  classDef create fill:#d4f7d4,stroke:#2a7a2a", "  classDef update fill:#fff3c4,stroke:#9a7a00",
           "  classDef replace fill:#ffd9b3,stroke:#b35900", "  classDef delete fill:#ffd0d0,stroke:#a00",
           "  classDef context fill:#eee,stroke:#999"]


def _label(text: str) -> str:
    return re.sub(r'["<>]', "", text)


def _mermaid(changes: list[Change], resources: list[dict[str, Any]]) -> list[str]:
    """The changed part of the resource graph: changed resources, their parents and changed dependencies; past
    MAX_GRAPH_NODES, one node per component with its counts."""
    by_urn = {r["urn"]: r for r in resources}
    changed = {c.urn: c for c in changes}
    nodes: dict[str, str] = {}

    def node(urn: str) -> str:
        if urn not in nodes:
            nodes[urn] = f"n{len(nodes)}"
        return nodes[urn]

    edges: list[str] = []
    for change in changes:
        child = node(change.urn)
        resource = by_urn.get(change.urn)
        parent = resource["parent"] if resource else ""
        if parent in by_urn and by_urn[parent]["type"] != "pulumi:pulumi:Stack":
            edges.append(f"  {node(parent)} --> {child}")
        for dep in resource["dependencies"] if resource else []:
            if dep in changed:
                edges.append(f"  {child} -.-> {node(dep)}")
    lines = ["```mermaid", "flowchart LR"]
    for urn, ident in nodes.items():
        kind = short_type(urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1])
        action = changed[urn].action if urn in changed else "context"
        lines.append(f'  {ident}["{_label(urn.rsplit("::", 1)[-1])}<br/>{_label(kind)}"]:::{action}')
    lines += sorted(set(edges))
    lines += [*CLASSES, "```"]
    if len(nodes) <= MAX_GRAPH_NODES and len("\n".join(lines)) < MERMAID_MAX_TEXT:
        return lines
    by_component: dict[str, Counter[str]] = {}
    for change in changes:
        by_component.setdefault(change.component or "(top level)", Counter())[change.action] += 1
    lines = ["```mermaid", "flowchart LR"]
    for index, (component, counts) in enumerate(sorted(by_component.items())):
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
        worst = max(counts, key=["update", "create", "replace", "delete"].index)
        lines.append(f'  c{index}["{_label(component)}<br/>{summary}"]:::{worst}')
    return [f"{len(nodes)} resources are too many for one graph: one node per component.", "", *lines,
            *CLASSES, "```"]


def _component_section(component: str, items: list[Change]) -> list[str]:
    counts = Counter(c.action for c in items)
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    lines = ["<details>", f"<summary><b>{component}</b>: {summary}</summary>", "",
             "| Action | Type | Name | Risk |", "|---|---|---|---|"]
    lines += [f"| {SYMBOL[c.action]} | {short_type(c.type)} | `{c.name}` | {c.risk} |" for c in items]
    for change in (c for c in items if c.properties):
        lines += ["", f"`{change.name}`:", "", "| Property | Before | After |", "|---|---|---|"]
        lines += [f"| `{p.path}` | {_cell(p.old)} | {_cell(p.new)} |" for p in change.properties]
    return [*lines, "", "</details>", ""]


def render_change_record(doc: dict[str, Any], changes: list[Change], reviewers: list[str],
                         baseline: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Verdict, risk, counts and reviewers first; the destructive changes and the violations always; then
    each component's details in a collapsible section while they fit in `max_chars` (0: no limit), saying
    what was cut and where the full record is."""
    counts = Counter(c.action for c in changes)
    risk = overall_risk(changes)
    lines = [f"## Change record: {doc['project']}/{doc['stack']}", "", *_verdict_line(doc)]
    if not changes:
        lines += [f"No infrastructure change against the approved snapshot (`{baseline}`).", ""]
        return "\n".join([*lines, *_verdicts(doc)]) + "\n"
    lines += [
        f"**Risk: {RISK_BADGE[risk]}** · {counts['create']} to add, {counts['update']} to change, "
        f"{counts['replace']} to replace, {counts['delete']} to remove · compared with `{baseline}`", "",
        "**Required reviewers (CODEOWNERS):** " + (", ".join(reviewers) or "none listed"), "",
    ]
    destructive = [c for c in changes if c.risk == "destructive"]
    if destructive:
        lines += ["> [!CAUTION]", "> This change deletes or replaces stateful data (D1 or R2). Protected "
                  "resources make `pulumi up` refuse; confirm a fresh backup and a restore plan first.", "",
                  "| Action | Type | Name | Protected |", "|---|---|---|---|"]
        lines += [f"| {SYMBOL[c.action]} | {short_type(c.type)} | `{c.name}` | {'yes' if c.protected else 'no'} |"
                  for c in destructive]
        lines.append("")
    lines += _verdicts(doc)
    by_component: dict[str, list[Change]] = {}
    for change in changes:
        by_component.setdefault(change.component or "(top level)", []).append(change)
    graph = ["### Changed part of the resource graph", "", *_mermaid(changes, doc["resources"]), ""]
    budget = max_chars - len("\n".join(lines)) - len("\n".join(graph)) - 600 if max_chars else None
    lines += ["### Changes by component", ""]
    cut: list[tuple[str, int]] = []
    for component, items in sorted(by_component.items()):
        section = _component_section(component, items)
        size = len("\n".join(section)) + 1
        if budget is not None and size > budget:
            cut.append((component, len(items)))
            continue
        lines += section
        budget = budget - size if budget is not None else None
    if cut:
        lines += ["> [!NOTE]", f"> The details of {len(cut)} component(s) ({sum(n for _, n in cut)} changes) did not "
                  f"fit in this record: {', '.join(c for c, _ in cut)}. The full record is in {FULL_RECORD}.", ""]
    if budget is None or len("\n".join(graph)) < max_chars - len("\n".join(lines)):
        lines += graph
    return "\n".join(lines) + "\n"


def _verdict_line(doc: dict[str, Any]) -> list[str]:
    if "violations" not in doc:
        return ["**Policy gate: not evaluated** (--no-policies)", ""]
    mandatory = sum(1 for v in doc["violations"] if v["level"] == "mandatory")
    verdict = f"**Policy gate: BLOCKED** by {mandatory} mandatory violation(s)" if mandatory else \
        "**Policy gate: passed**"
    return [f"{verdict} · {len(doc['violations']) - mandatory} advisory · {len(doc['waived'])} waived", ""]


def _verdicts(doc: dict[str, Any]) -> list[str]:
    if "violations" not in doc:
        return ["### Policy gate", "", "Not evaluated (--no-policies).", ""]
    mandatory = [v for v in doc["violations"] if v["level"] == "mandatory"]
    result = "**BLOCKED**" if mandatory else "passed"
    lines = ["### Policy gate", "", f"{doc['policyPack']['name']} {doc['policyPack']['version']}: {result} "
             f"({len(mandatory)} mandatory, {len(doc['violations']) - len(mandatory)} advisory, "
             f"{len(doc['waived'])} waived)", ""]
    if doc["violations"]:
        lines += ["| Level | Policy | Resource | Message |", "|---|---|---|---|"]
        lines += [f"| {v['level']} | `{v['policy']}` | `{v['urn'].rsplit('::', 1)[-1] or '-'}` | {v['message']} |"
                  for v in doc["violations"]]
        lines.append("")
    if doc["waived"]:
        lines += ["Waivers applied:", "", "| Policy | Resource | Ticket | Approver | Expires | Reason |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| `{w['policy']}` | `{w['urn'].rsplit('::', 1)[-1]}` | {w['waiver']['ticket']} | "
                  f"{w['waiver']['approver']} | {w['waiver']['expires']} | {w['waiver']['reason']} |"
                  for w in doc["waived"]]
        lines.append("")
    sections = doc["compliance"]["sections"]
    lines += ["| Handbook section | Policies | Pass | Warn | Fail |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {s['policies']} | {s['pass']} | {s['warn']} | {s['fail']} |"
              for name, s in sorted(sections.items())]
    return [*lines, ""]


def _public(value: Any) -> Any:
    """A snapshot's secret fingerprint is shown as [secret] (only whether it changed matters)."""
    return "[secret]" if isinstance(value, str) and value.startswith("[secret") else value


def change_summary(changes: list[Change]) -> dict[str, Any]:
    """The JSON form of the record, added to the plan document under "changes"."""
    return {
        "risk": overall_risk(changes),
        "counts": dict(Counter(c.action for c in changes)),
        "resources": [{"action": c.action, "urn": c.urn, "type": c.type, "component": c.component,
                       "risk": c.risk, "properties": [{"path": p.path, "old": _public(p.old), "new": _public(p.new)}
                                                      for p in c.properties]} for c in changes],
    }

