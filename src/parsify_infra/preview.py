"""The text plan as `pulumi preview` shows it: what changes against the approved snapshot, with its symbols.

Create `+`, update `~`, replace `+-`, delete `-`; unchanged resources are counted, not listed. `--diff` adds
the property changes (secrets stay `[secret]`, unknown values `[unknown]`, numbers as declared, role and
permission-group ids with their names). Colour follows `--color` and `NO_COLOR`.
"""

from __future__ import annotations

from typing import Any

from parsify_infra.changes import Change
from parsify_infra.plan import STACK_TYPE
from parsify_infra.render import display, render_verdicts, short_type

SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
COLOURS = {"create": "32", "update": "33", "replace": "35", "delete": "31"}  # green, yellow, magenta, red
ORDER = ["create", "update", "replace", "delete"]


def _paint(text: str, action: str, colour: bool) -> str:
    return f"\033[{COLOURS[action]}m{text}\033[0m" if colour else text


def render_preview(doc: dict[str, Any], changes: list[Change], baseline: str, *, diff: bool = False,
                   colour: bool = False) -> str:
    real = [r for r in doc["resources"] if r["type"] != STACK_TYPE]
    lines = [f"Previewing {doc['project']}/{doc['stack']} against {baseline} (offline, Pulumi mocks)", ""]
    if changes:
        lines.append(f"     {'Type':<40} {'Name':<44} Plan")
    component = None
    for change in sorted(changes, key=lambda c: (c.component, ORDER.index(c.action), c.type, c.name)):
        if change.component != component:
            component = change.component
            lines.append(f"     {component or '(no component)'}")
        symbol = SYMBOLS[change.action]
        note = ""
        if change.protected and change.action in ("delete", "replace"):
            note = f"  (protected: the {change.action} fails until protect is removed)"
        elif change.action == "update":
            note = f"  [diff: {', '.join('~' + p.path for p in change.properties[:4])}" \
                   f"{', …' if len(change.properties) > 4 else ''}]"
        line = f" {symbol:<3} {short_type(change.type):<40} {change.name:<44} {change.action}{note}"
        lines.append(_paint(line, change.action, colour))
        if diff:
            for prop in change.properties:
                if change.action == "create":
                    lines.append(f"         + {prop.path}: {display(prop.new)}")
                    continue
                rotated = " (changed)" if display(prop.old) == display(prop.new) == "[secret]" else ""
                lines.append(f"         ~ {prop.path}: {display(prop.old)} => {display(prop.new)}{rotated}")
    if not changes:
        lines.append("No changes: the program declares the approved state.")
    counts = {action: sum(1 for c in changes if c.action == action) for action in ORDER}
    unchanged = len(real) - counts["create"] - counts["update"] - counts["replace"]
    lines += ["", "Resources:"]
    lines += [_paint(f"    {SYMBOLS[a]} {n} to {a}", a, colour) for a, n in counts.items() if n]
    lines += [f"    {unchanged} unchanged", "",
              "Legend: + create, ~ update, +- replace, - delete. `--diff` shows property changes; `--verbose` "
              "lists every resource with its inputs."]
    protected = [c for c in changes if c.protected and c.action in ("delete", "replace")]
    if protected:
        lines.append(_paint(f"Warning: {len(protected)} protected resource(s) would be deleted or replaced: "
                            f"{', '.join(c.name for c in protected)}. The deploy fails on them until `protect` is "
                            "removed in a reviewed change.", "delete", colour))
    return "\n".join(lines) + "\n" + render_verdicts(doc)
