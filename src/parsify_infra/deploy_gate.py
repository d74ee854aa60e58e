"""`parsify-infra deploy-gate`: may this change go to prod now?

Two gates, both failing closed, both waivable only by a recorded override (who and why, in the job summary
and as an annotation on the run):

- Maintenance: destructive or security-sensitive changes (the change record's risk classes) deploy only
  inside a maintenance window declared in the stack config (the plan's `maintenanceWindows` output).
- Error budget: when the monitor's 30-day error budget is spent (its /budget.json), only changes labelled
  as fixes deploy. A budget that cannot be read, or that the monitor marks stale, counts as spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from parsify_infra.errors import EXIT_OK, EXIT_VIOLATIONS, InputError
from parsify_infra.jsonfile import read_json

GATED_RISKS = ("destructive", "security-sensitive")


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Window(_Doc):
    start: AwareDatetime
    end: AwareDatetime
    summary: str
    targets: list[str] = []


class Budget(_Doc):
    """What the gate reads of the monitor's /budget.json."""

    window_days: int = Field(alias="windowDays")
    remaining_percent: float = Field(alias="remainingPercent")
    exhausted: bool
    stale: bool = False
    updated_at: str | None = Field(default=None, alias="updatedAt")


@dataclass
class Override:
    actor: str
    reason: str


@dataclass
class Decision:
    allowed: bool
    risk: str
    blocks: list[str] = field(default_factory=list)  # why it may not go, each with how to waive
    passes: list[str] = field(default_factory=list)
    override: Override | None = None

    def summary(self) -> str:
        verdict = ("overridden" if self.override and self.blocks else "allowed") if self.allowed else "blocked"
        lines = [f"## Deploy gate (prod): {verdict}", "", f"Change risk: **{self.risk}**", ""]
        lines += [f"- passed: {p}" for p in self.passes] + [f"- blocked: {b}" for b in self.blocks]
        if self.override and self.blocks:
            lines += ["", f"**Override by {self.override.actor}**: {self.override.reason}"]
        return "\n".join(lines) + "\n"

    def annotation(self) -> str | None:
        """A GitHub workflow command that puts the override on the run's page."""
        if not (self.override and self.blocks):
            return None
        text = f"{self.override.actor} overrode the deploy gate ({'; '.join(self.blocks)}). Why: {self.override.reason}"
        return "::warning title=Deploy gate override::" + _escape(text)


def _escape(text: str) -> str:
    # Workflow command data escapes: https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def read_budget(path: Path | None) -> tuple[Budget | None, str | None]:
    """The budget, or why it could not be read (the gate then fails closed)."""
    if path is None:
        return None, "no --budget given"
    try:
        return Budget.model_validate(read_json(path)), None
    except (InputError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        return None, f"{path.name}: {first}"


def windows_of(plan: dict[str, Any], where: str) -> list[Window]:
    raw = plan.get("outputs", {}).get("maintenanceWindows", [])
    windows = []
    for i, window in enumerate(raw if isinstance(raw, list) else [raw]):
        try:
            windows.append(Window.model_validate(window))
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InputError(f"{where}: outputs.maintenanceWindows[{i}]{''.join(f'.{p}' for p in error['loc'])}: "
                             f"{error['msg']}") from None
    return windows


def decide(plan: dict[str, Any], windows: list[Window], budget: Budget | None, budget_error: str | None,
           labels: list[str], now: datetime, fix_label: str, override: Override | None) -> Decision:
    changes = plan.get("changes") or {}
    risk = str(changes.get("risk", "routine"))
    decision = Decision(allowed=True, risk=risk, override=override)
    gated = sorted({c["urn"].split("::")[-1] for c in changes.get("resources", []) if c.get("risk") in GATED_RISKS})
    if gated:
        active = [w for w in windows if w.start <= now < w.end]
        if active:
            decision.passes.append(f"{risk} changes inside the maintenance window '{active[0].summary}' "
                                   f"(until {active[0].end.isoformat()})")
        else:
            upcoming = sorted((w for w in windows if w.start > now), key=lambda w: w.start)
            nxt = f"; the next window starts {upcoming[0].start.isoformat()}" if upcoming else "; none is declared"
            decision.blocks.append(f"{risk} changes ({', '.join(gated[:5])}{', ...' if len(gated) > 5 else ''}) "
                                   f"deploy to prod only inside a maintenance window{nxt}. Declare one in "
                                   "parsify:monitoring.synthetic.maintenance, or re-run with an override")
    else:
        decision.passes.append("no destructive or security-sensitive change: no maintenance window needed")
    is_fix = fix_label in labels
    if budget is None or budget.stale:
        why = budget_error if budget is None else f"the monitor's data is stale (updated {budget.updated_at})"
        if is_fix:
            decision.passes.append(f"error budget unknown ({why}), but the change is labelled '{fix_label}'")
        else:
            decision.blocks.append(f"the error budget cannot be read ({why}), so it counts as spent: only changes "
                                   f"labelled '{fix_label}' deploy; or re-run with an override")
    elif budget.exhausted:
        if is_fix:
            decision.passes.append(f"error budget spent ({budget.remaining_percent:.2f}% left over "
                                   f"{budget.window_days} days); the change is labelled '{fix_label}'")
        else:
            decision.blocks.append(f"the {budget.window_days}-day error budget is spent "
                                   f"({budget.remaining_percent:.2f}% left): only changes labelled '{fix_label}' "
                                   "deploy; label the pull request, or re-run with an override")
    else:
        decision.passes.append(f"error budget: {budget.remaining_percent:.2f}% left over {budget.window_days} days")
    decision.allowed = not decision.blocks or override is not None
    return decision


def run(plan_path: Path, budget_path: Path | None, labels: str, now: str | None, fix_label: str,
        override_actor: str | None, override_reason: str | None, summary_path: Path | None) -> tuple[int, str]:
    plan = read_json(plan_path)
    if not isinstance(plan, dict):
        raise InputError(f"{plan_path}: not a plan document (parsify-infra plan --format json)")
    if bool(override_actor) != bool(override_reason):
        raise InputError("deploy-gate: an override needs both --override-actor and --override-reason")
    if override_reason is not None and len(override_reason.strip()) < 10:
        raise InputError("deploy-gate: --override-reason: say why, in at least 10 characters")
    try:
        at = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError:
        raise InputError(f"deploy-gate: --now: not an ISO time: {now!r}") from None
    if at.tzinfo is None:
        raise InputError(f"deploy-gate: --now: give a time zone (e.g. {now}Z)")
    budget, error = read_budget(budget_path)
    override = Override(override_actor, override_reason.strip()) if override_actor and override_reason else None
    decision = decide(plan, windows_of(plan, str(plan_path)), budget, error,
                      [x.strip() for x in labels.split(",") if x.strip()], at, fix_label, override)
    summary = decision.summary()
    if summary_path is not None:
        with summary_path.open("a", encoding="utf-8") as handle:
            handle.write(summary)
    annotation = decision.annotation()
    text = summary + (annotation + "\n" if annotation else "")
    return (EXIT_OK if decision.allowed else EXIT_VIOLATIONS), text

