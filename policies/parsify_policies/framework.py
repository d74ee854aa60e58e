"""Declaring Parsify policies: metadata, config schema, waivers and fail-closed evaluation in one place.

Every policy module builds its policy with `resource_policy(...)` or `stack_policy(...)`. The wrapper
they install around `validate`:
- merges the policy's config defaults (the Python SDK does not apply JSON-schema defaults);
- drops violations covered by an active waiver (recording them in `waivers.LEDGER`) and says so
  when a covering waiver has expired;
- turns an exception inside the policy into a violation that names the policy and the error
  (fail closed), instead of a silent pass or a crash of the whole analyzer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError

from parsify_policies import waivers

FAILED_PREFIX = "POLICY ERROR:"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

Report = Callable[[str, str | None], None]
ResourceCheck = Callable[[ResourceValidationArgs, Report, dict[str, Any]], None]
StackCheck = Callable[[StackValidationArgs, Report, dict[str, Any]], None]


@dataclass(frozen=True)
class PolicyMeta:
    """What the catalogue, the tests and the compliance summary know about a policy."""

    name: str
    description: str
    severity: Severity
    level: EnforcementLevel
    section: str
    remediation: str
    kind: str  # "resource" or "stack"
    # The families it judges: a resource policy runs only on these; a stack policy reads them.
    resource_types: tuple[str, ...] = ()
    config: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        return [f"handbook:{self.section}", f"severity:{self.severity.value}"]


def _schema(meta: PolicyMeta) -> PolicyConfigSchema:
    properties = {key: dict(spec) for key, spec in meta.config.items()}
    properties["waivers"] = waivers.WAIVER_SCHEMA
    return PolicyConfigSchema(properties=properties)


def _defaults(meta: PolicyMeta) -> dict[str, Any]:
    return {key: spec["default"] for key, spec in meta.config.items() if "default" in spec}


def _guarded(meta: PolicyMeta, check: Callable[[Any, Report, dict[str, Any]], None]
             ) -> Callable[[Any, ReportViolation], None]:
    def validate(args: Any, report_violation: ReportViolation) -> None:
        config = {**_defaults(meta), **dict(args.get_config() or {})}
        active_waivers = waivers.parse_waivers(meta.name, config)
        today = waivers.plan_date()
        subject = getattr(args, "urn", "") or ""

        def report(message: str, urn: str | None = None) -> None:
            target = urn or subject
            for waiver in active_waivers:
                if not waiver.covers(target):
                    continue
                entry = {"policy": meta.name, "urn": target, "message": message, "waiver": waiver.describe()}
                if waiver.active(today):
                    waivers.LEDGER.append({**entry, "status": "waived"})
                    return
                waivers.LEDGER.append({**entry, "status": "expired"})
                message += (f" Waiver {waiver.ticket} for this resource expired on "
                            f"{waiver.expires.isoformat()} and no longer applies.")
            report_violation(message, urn)

        try:
            check(args, report, config)
        except (UnknownValueError, _NotApplicableError):
            raise  # the SDK reports these the way the engine expects
        except Exception as exc:
            where = f" on {subject}" if subject else ""
            report_violation(f"{FAILED_PREFIX} policy '{meta.name}' raised {type(exc).__name__}: {exc}{where}. "
                             "The policy fails closed: fix the policy or the resource before deploying.", None)

    return validate


def resource_policy(meta: PolicyMeta, check: ResourceCheck) -> ResourceValidationPolicy:
    def scoped(args: ResourceValidationArgs, report: Report, config: dict[str, Any]) -> None:
        if not meta.resource_types or args.resource_type in meta.resource_types:
            check(args, report, config)

    return ResourceValidationPolicy(
        name=meta.name, description=meta.description, validate=_guarded(meta, scoped),
        enforcement_level=meta.level, config_schema=_schema(meta), severity=meta.severity,
        tags=meta.tags, remediation_steps=meta.remediation)


def stack_policy(meta: PolicyMeta, check: StackCheck) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=meta.name, description=meta.description, validate=_guarded(meta, check),
        enforcement_level=meta.level, config_schema=_schema(meta), severity=meta.severity,
        tags=meta.tags, remediation_steps=meta.remediation)
