"""The policy gate: the CrossGuard pack in `policies/`, evaluated offline through the SDK's own servicer.

The pack is loaded the way the CLI loads it (its `__main__.py`, run from its folder), except that
`PolicyPack` records its arguments instead of serving gRPC. Resources then go through the private
`pulumi_policy.policy._PolicyAnalyzerServicer` (Configure, Analyze, AnalyzeStack): the same code
path, unknown-value proxy and message format as a real `pulumi preview --policy-pack`.
What the engine does on the Go side (the "all" key, schema defaults, JSON-schema validation of the
config) is reproduced here, because the Python servicer does not do it.
"""

from __future__ import annotations

import importlib
import runpy
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import yaml
from google.protobuf import json_format, struct_pb2

from parsify_infra.capture import CapturedResource
from parsify_infra.errors import InputError
from parsify_infra.jsonfile import read_json

FAILED_PREFIX = "POLICY ERROR:"  # how the pack's framework marks a policy that raised (fail closed)


@dataclass
class LoadedPack:
    directory: Path
    name: str
    version: str
    arguments: dict[str, Any]
    policies: list[Any]
    waivers: Any  # the pack's own waivers module: its rules, and the ledger of what it waived

    @property
    def ledger(self) -> list[dict[str, Any]]:
        ledger: list[dict[str, Any]] = self.waivers.LEDGER
        return ledger


@dataclass
class Verdicts:
    violations: list[dict[str, Any]] = field(default_factory=list)
    waived: list[dict[str, Any]] = field(default_factory=list)
    expired_waivers: list[dict[str, Any]] = field(default_factory=list)
    waivers: list[dict[str, Any]] = field(default_factory=list)  # every waiver in the pack config
    compliance: dict[str, Any] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[dict[str, Any]]:
        return [v for v in self.violations if v["level"] == "mandatory"]


def load_pack(pack_dir: Path) -> LoadedPack:
    """Import the pack from its folder, as the CLI would, capturing what it hands to `PolicyPack`."""
    import pulumi_policy

    main = pack_dir / "__main__.py"
    if not main.is_file():
        raise InputError(f"{main}: file not found; --policy-pack must name a CrossGuard Python pack folder")
    meta = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text(encoding="utf-8")) or {}
    captured: dict[str, Any] = {}

    def record(**kwargs: Any) -> None:
        captured.update(kwargs)

    sys.path.insert(0, str(pack_dir))  # the pack's own modules beside its __main__.py, as the CLI runs it
    with mock.patch.object(pulumi_policy, "PolicyPack", side_effect=record):
        runpy.run_path(str(main), run_name="__main__")
    if "policies" not in captured:
        raise InputError(f"{main}: the pack never calls PolicyPack(...), so it declares no policies")
    # The waiver rules and the ledger of what was waived: the pack package's (parsify_infra imports it too).
    waivers_module = importlib.import_module("parsify_policies.waivers")
    # Without a version in PulumiPolicy.yaml the CLI uses the SDK's "0.0.1" (pulumi_policy/policy.py, PolicyPack).
    return LoadedPack(pack_dir, captured["name"], str(meta.get("version", "0.0.1")), captured,
                      list(captured["policies"]), waivers_module)


def policy_section(policy: Any) -> str:
    """The handbook section: the policy's compliance-framework reference."""
    framework = policy.framework  # every pulumi_policy Policy has one (None unless given)
    return str(framework.reference) if framework is not None and framework.reference else "unmapped"


def _level_of(policy: Any, pack: LoadedPack) -> str:
    level = policy.enforcement_level or pack.arguments.get("enforcement_level")
    return level.value if level is not None else "advisory"


def read_pack_config(path: Path | None, pack: LoadedPack, resources: list[CapturedResource],
                     today: date) -> tuple[dict[str, tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """Per policy: (enforcement level, properties with defaults), validated like the engine does;
    plus every waiver in the file. Errors name the file and the key."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_json(path)
        if not isinstance(raw, dict):
            raise InputError(f"{path}: the pack config must be a JSON object")
    by_name = {p.name: p for p in pack.policies}
    for key, entry in raw.items():
        if key == "all" or isinstance(entry, str) or (isinstance(entry, dict) and "enforcementLevel" in entry):
            where = key if key == "all" or isinstance(entry, str) else f"{key}.enforcementLevel"
            raise InputError(f"{path}: key {where}: enforcement levels come only from each policy's metadata "
                             "(policies/parsify_policies/policies/); a pack config may not disable or downgrade a "
                             "policy. To accept a violation, add a waiver.")
        if key not in by_name:
            raise InputError(f"{path}: key {key}: no policy of that name in pack {pack.name}")
        if not isinstance(entry, dict):
            raise InputError(f"{path}: key {key}: {entry!r} is not an object of the policy's properties")
    resolved: dict[str, tuple[str, dict[str, Any]]] = {}
    waivers: list[dict[str, Any]] = []
    names = {r.name for r in resources} | {r.urn for r in resources}
    for policy in pack.policies:
        level = _level_of(policy, pack)
        props: dict[str, Any] = dict(raw.get(policy.name, {}))
        schema = policy.config_schema
        properties = dict(schema.properties) if schema else {}
        for key, spec in properties.items():
            if "default" in spec and key not in props:
                props[key] = spec["default"]
        json_schema = {"properties": properties, "additionalProperties": False,  # props: an object already
                       "required": list(schema.required or []) if schema else []}
        error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(json_schema).iter_errors(props))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            # A described field says what it must be, rather than the pattern it failed.
            described = error.schema.get("description") if isinstance(error.schema, dict) else None
            problem = f"{error.instance!r} is not {described}" if described else error.message
            raise InputError(f"{path}: key {policy.name}{'.' + where if where else ''}: {problem}")
        # The pack's own waiver rules (what `pulumi preview --policy-pack` enforces), as a bad-input error here.
        for problem in pack.waivers.problems(policy.name, props, today, names):
            raise InputError(f"{path}: key {policy.name}.waivers: {problem}")
        waivers += [{"policy": policy.name, **w, "expired": date.fromisoformat(w["expires"]) < today}
                    for w in props.get("waivers", [])]
        resolved[policy.name] = (level, props)
    return resolved, waivers


def _with_dependencies(resources: list[Any], families: set[str]) -> list[Any]:
    """The resources of `families`, and everything they depend on (transitively), in their original order."""
    by_urn = {r.urn: r for r in resources}
    wanted = {r.urn for r in resources if r.type in families}
    pending = list(wanted)
    while pending:
        resource = by_urn[pending.pop()]
        for urn in [*resource.dependencies, *(u for deps in resource.propertyDependencies.values() for u in deps.urns)]:
            if urn in by_urn and urn not in wanted:
                wanted.add(urn)
                pending.append(urn)
    return [r for r in resources if r.urn in wanted]


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(value, struct_pb2.Struct())


def _pack_failed(pack: LoadedPack, exc: Exception, subject: str) -> InputError:
    """A policy outside the pack's fail-closed wrapper (a plain pulumi_policy policy) raised. The SDK does not catch
    it, so the real CLI's preview fails at this point too: there is no plan, and no verdict to report."""
    return InputError(f"policy pack {pack.name}: a policy raised {type(exc).__name__}: {exc} while judging {subject}, "
                      "so no plan was made (`pulumi preview --policy-pack` fails here too). Fix that policy; the "
                      "pack's own policies report such an error as a blocking POLICY ERROR violation instead.")


def evaluate(pack: LoadedPack, resources: list[CapturedResource], config_path: Path | None,
             today: date) -> Verdicts:
    """Run every policy of the pack over the captured resources; return violations and summaries."""
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import EnforcementLevel, StackValidationPolicy
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    config, waivers = read_pack_config(config_path, pack, resources, today)
    args = pack.arguments
    levels = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
              "remediate": analyzer_pb2.REMEDIATE, "disabled": analyzer_pb2.DISABLED}

    def servicer_for(policies: list[Any]) -> Any:
        # The pack's other arguments (initial_config, description, readme, provider, tags, ...) reach only
        # GetAnalyzerInfo, which the engine calls to list the pack; Configure, Analyze and AnalyzeStack do not
        # read them.
        # Configure below gives every policy its level (_level_of), so the servicer's pack-wide level is never read.
        servicer = _PolicyAnalyzerServicer(args["name"], pack.version, policies, EnforcementLevel.ADVISORY)
        names = {p.name for p in policies}
        servicer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            name: analyzer_pb2.PolicyConfig(enforcementLevel=levels[level], properties=_struct(props))
            for name, (level, props) in config.items() if name in names}), None)
        return servicer

    servicer = servicer_for(args["policies"])
    # Per resource type, the policies that judge it: a policy that names its families (`judges`) does nothing
    # for other types, so skipping it changes no verdict and saves the SDK's serialisation per policy.
    by_type: dict[str, Any] = {}

    def analyzer(resource_type: str) -> Any:
        if resource_type not in by_type:
            chosen = [p for p in args["policies"]
                      if getattr(p, "judges", None) is None or resource_type in p.judges]
            by_type[resource_type] = (None if not chosen else servicer if len(chosen) == len(args["policies"])
                                      else servicer_for(chosen))
        return by_type[resource_type]

    pack.ledger.clear()
    diagnostics: list[tuple[Any, str]] = []
    stack_resources = []
    for r in resources:
        properties = _struct(r.inputs)
        options = analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent)
        judge = analyzer(r.type)
        if judge is not None:  # no policy judges this type
            try:
                response = judge.Analyze(analyzer_pb2.AnalyzeRequest(
                    type=r.type, properties=properties, urn=r.urn, name=r.name, options=options), None)
            except Exception as exc:
                raise _pack_failed(pack, exc, r.urn) from None
            diagnostics += [(d, r.urn) for d in response.diagnostics]
        stack_resources.append(analyzer_pb2.AnalyzerResource(
            type=r.type, properties=properties, urn=r.urn, name=r.name, options=options, parent=r.parent,
            dependencies=r.dependencies,
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                                  for k, v in r.property_dependencies.items()}))
    # Each stack policy that names its families gets those resources and what they depend on (the SDK converts
    # every resource it is given once per stack policy); the others get the whole stack, as from the engine.
    stack_policies = [p for p in args["policies"] if isinstance(p, StackValidationPolicy)]
    groups: dict[tuple[str, ...] | None, list[Any]] = {}
    for policy in stack_policies:
        judges = getattr(policy, "judges", None)
        groups.setdefault(tuple(judges) if judges else None, []).append(policy)
    for judges, policies in groups.items():
        chosen = stack_resources if judges is None else _with_dependencies(stack_resources, set(judges))
        try:
            response = servicer_for(policies).AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=chosen), None)
        except Exception as exc:
            raise _pack_failed(pack, exc, "the stack") from None
        diagnostics += [(d, "") for d in response.diagnostics]

    verdicts = Verdicts(waivers=waivers)
    for diagnostic, subject in diagnostics:
        message = diagnostic.message
        if diagnostic.description and message.startswith(diagnostic.description + "\n"):
            message = message[len(diagnostic.description) + 1:]
        level = "mandatory" if diagnostic.enforcementLevel == analyzer_pb2.MANDATORY else "advisory"
        if message.startswith(FAILED_PREFIX):
            level = "mandatory"  # a policy that crashed fails closed, whatever its level
        verdicts.violations.append({"policy": diagnostic.policyName, "level": level,
                                    "urn": diagnostic.urn or subject, "message": message})
    verdicts.waived = [e for e in pack.ledger if e["status"] == "waived"]
    for waiver in waivers:
        if waiver["expired"]:
            verdicts.expired_waivers.append(waiver)
            verdicts.violations.append({
                "policy": waiver["policy"], "level": "advisory", "urn": "",
                "message": f"Waiver {waiver['ticket']} for {', '.join(waiver['resources'])} expired on "
                           f"{waiver['expires']} and no longer applies. Remove it from "
                           f"{config_path} or renew it with a new approval."})
    verdicts.compliance = compliance_summary(pack, config, verdicts)
    return verdicts


def compliance_summary(pack: LoadedPack, config: dict[str, tuple[str, dict[str, Any]]],
                       verdicts: Verdicts) -> dict[str, Any]:
    per_policy = []
    for policy in pack.policies:
        level = config[policy.name][0]
        found = [v for v in verdicts.violations if v["policy"] == policy.name]
        waived = [w for w in verdicts.waived if w["policy"] == policy.name]
        status = "pass" if not found else ("fail" if any(v["level"] == "mandatory" for v in found) else "warn")
        if level == "disabled":
            status = "disabled"
        per_policy.append({"policy": policy.name, "level": level, "section": policy_section(policy),
                           "violations": len(found), "waived": len(waived), "status": status})
    per_section: dict[str, dict[str, int]] = {}
    for entry in per_policy:
        bucket = per_section.setdefault(entry["section"], {"policies": 0, "pass": 0, "warn": 0, "fail": 0,
                                                           "disabled": 0})
        bucket["policies"] += 1
        bucket[entry["status"]] += 1
    return {"policies": per_policy, "sections": per_section}
