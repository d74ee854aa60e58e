"""Declaring Parsify policies: metadata, config schema, waivers and fail-closed evaluation in one place.

Every policy module builds its policy with `resource_policy(...)` or `stack_policy(...)`. The wrapper
they install around `validate`:
- merges the policy's config defaults (the Python SDK does not apply JSON-schema defaults);
- drops violations covered by an active waiver (recording them in `waivers.LEDGER`) and says so
  when a covering waiver has expired;
- turns an exception inside the policy into a violation that names the policy and the error
  (fail closed), instead of a silent pass or a crash of the whole analyzer;
- turns a value that is unknown during preview into a violation that says so (the SDK alone would make
  it an advisory note, so a mandatory policy would pass silently).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
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

from parsify_policies import handbook, waivers
from parsify_policies.props import resource_label

FAILED_PREFIX = "POLICY ERROR:"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")



class Report(Protocol):
    """How a check reports a violation: a full-sentence message, and the resource's URN for a stack policy."""

    def __call__(self, message: str, urn: str | None = None) -> None: ...


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

    @property
    def framework(self) -> PolicyComplianceFramework:
        """The handbook section as the SDK's compliance-framework field (shown by the engine and Pulumi Cloud)."""
        return PolicyComplianceFramework(name=handbook.FRAMEWORK, version=handbook.VERSION, reference=self.section,
                                         specification=handbook.SOURCE)


# pragma: no mutate start
# (mutation testing: built once when the pack is imported, before any test runs, so mutmut cannot tell which
# tests use it; every policy case goes through it. README, "Mutation testing")
def _schema(meta: PolicyMeta) -> PolicyConfigSchema:
    properties = {key: dict(spec) for key, spec in meta.config.items()}
    properties["waivers"] = waivers.WAIVER_SCHEMA
    return PolicyConfigSchema(properties=properties)


# pragma: no mutate end


def _defaults(meta: PolicyMeta) -> dict[str, Any]:
    return {key: spec["default"] for key, spec in meta.config.items() if "default" in spec}


def _failure(meta: PolicyMeta, exc: Exception, subject: Any) -> str:
    """The violation for a policy that could not judge: fail closed, saying why."""
    # A resource policy's args name the resource; a stack policy's (StackValidationArgs) have no name.
    where = f" {resource_label(subject)}" if getattr(subject, "name", None) else " the stack"
    if isinstance(exc, UnknownValueError):
        # The SDK alone would turn this into an advisory note and pass: a verdict that depends on a value
        # known only after apply fails closed instead, saying what is unknown.
        return (f"Policy '{meta.name}' cannot judge{where} during preview because a value it reads is unknown "
                f"until apply ({exc.message}). It fails closed: make the value known (for example "
                "a literal or a config value), or waive this with a ticket.")
    return (f"{FAILED_PREFIX} policy '{meta.name}' raised {type(exc).__name__}: {exc} on{where}. "
            "The policy fails closed: fix the policy or the resource before deploying.")


def _validate(meta: PolicyMeta, check: Callable[[Any, Report, dict[str, Any]], None], args: Any,
              report_violation: ReportViolation) -> None:
    """One policy's evaluation: its config, its waivers, and a check that fails closed."""
    if not isinstance(args, StackValidationArgs) and args.resource_type not in meta.resource_types:
        return  # not of the policy's families: nothing to judge (and no work: the engine asks for every resource)
    config = {**_defaults(meta), **dict(args.get_config() or {})}
    today = waivers.plan_date()
    # The pack owns its waiver rules: a waiver that is malformed or too long (and, where the policy sees
    # the stack, one that names no resource of it) is reported, never waivable, and not applied. A
    # resource policy sees one resource: it reports the waivers that name that resource.
    stack = isinstance(args, StackValidationArgs)
    names = {r.name for r in args.resources} | {r.urn for r in args.resources} if stack else None
    subject = None if stack else args.urn
    for problem in waivers.problems(meta.name, config, today, names, subject):
        report_violation(f"{problem}.", subject)
    active_waivers = waivers.parse_waivers(meta.name, config, today, names)

    def report(message: str, urn: str | None = None) -> None:
        target = urn or subject or ""
        for waiver in active_waivers:
            if not waiver.covers(target):
                continue
            entry = {"policy": meta.name, "urn": target, "message": message, "waiver": waiver.describe()}
            if waiver.active(today):
                waivers.LEDGER.append({**entry, "status": "waived"})
                return
            # Expired: the gate reports the waiver itself from the pack config, so the ledger needs no entry.
            message += (f" Waiver {waiver.ticket} for this resource expired on "
                        f"{waiver.expires.isoformat()} and no longer applies.")
        report_violation(message, urn)

    try:
        check(args, report, config)
    except _NotApplicableError:
        raise  # the SDK reports it the way the engine expects
    except Exception as exc:
        report(_failure(meta, exc, args))


# pragma: no mutate start
# (built when the pack is imported: see PolicyMeta)
def _guarded(meta: PolicyMeta, check: Callable[[Any, Report, dict[str, Any]], None]
             ) -> Callable[[Any, ReportViolation], None]:
    # A module-level function bound with partial, not a closure built at import: the evaluation runs (and can
    # be traced and mutation-tested) when a policy is called, not when the pack is imported.
    return functools.partial(_validate, meta, check)


def resource_policy(meta: PolicyMeta, check: ResourceCheck) -> ResourceValidationPolicy:
    """A policy that judges each resource of its families on its own: the engine hands it one resource at a
    time (so one that cannot be judged, an unknown value or an error, is a violation on that resource only)."""
    policy = ResourceValidationPolicy(
        name=meta.name, description=meta.description, validate=_guarded(meta, check),
        enforcement_level=meta.level, config_schema=_schema(meta), severity=meta.severity,
        tags=meta.tags, remediation_steps=meta.remediation, framework=meta.framework)
    # The families it judges: for any other type its validate returns at once, so an offline evaluator may
    # skip the call (the engine's own serialisation per policy and resource is most of the gate's cost).
    policy.judges = meta.resource_types  # type: ignore[attr-defined]
    return policy


def stack_policy(meta: PolicyMeta, check: StackCheck) -> StackValidationPolicy:
    policy = StackValidationPolicy(
        name=meta.name, description=meta.description, validate=_guarded(meta, check),
        enforcement_level=meta.level, config_schema=_schema(meta), severity=meta.severity,
        tags=meta.tags, remediation_steps=meta.remediation, framework=meta.framework)
    # The families it reads (and, through property dependencies, what they depend on): an offline evaluator
    # may hand it only those resources.
    policy.judges = meta.resource_types  # type: ignore[attr-defined]
    return policy
# pragma: no mutate end
