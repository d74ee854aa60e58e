"""Every resource type of the pinned providers that can express what a policy judges is judged, or listed
out of scope with a reason (policies/parsify_policies/types.py).

The walk reads the installed SDKs (pulumi-cloudflare 6.23.1, pulumiverse-vercel 5.21.1): each resource
class's type token (the string it registers under, deprecated classes included) and the fields of the
`...Args` classes its inputs take, to a few levels deep. A type "carries a judged property" when it has:
Access include/require/exclude rules (a rule type with `everyone` and `email_domain`), Worker bindings
(`bindings` with `text`), member roles or permission groups (`roles`, `permission_groups`), zone or
hostname TLS settings and configuration rules (`setting_id`, `min_tls_version`, an action's `ssl`),
Vercel environment values (`key` + `value` + `sensitive`), or health-check settings (`consecutive_fails`,
`check_regions`). A new provider version that adds such a type fails this test until it is classified.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from functools import cache
from types import ModuleType

import pulumi
import pytest
from parsify_policies import types
from parsify_policies.pack import METAS

from parsify_infra.changes import _risk

PROVIDERS = ["pulumi_cloudflare", "pulumiverse_vercel"]
TOKEN = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'([^']+)'")
ARGS_NAME = re.compile(r"'(\w+Args)'")


@cache
def _module(name: str) -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated classes warn on import
        return importlib.import_module(name)


def _fields(cls: type) -> dict[str, str]:
    """Input names of a resource or Args class, with their annotations as text."""
    init = getattr(cls, "_internal_init", cls.__init__)
    return {name: str(p.annotation) for name, p in inspect.signature(init).parameters.items()
            if name not in ("self", "__self__", "resource_name", "opts", "__props__")}


def _nested_fields(provider: str, annotation: str, depth: int) -> set[str]:
    inputs = _module(f"{provider}._inputs")
    found: set[str] = set()
    for args_name in ARGS_NAME.findall(annotation):
        args_cls = getattr(inputs, args_name, None)
        if args_cls is None or depth == 0:
            continue
        for name, inner in _fields(args_cls).items():
            found.add(name)
            found |= _nested_fields(provider, inner, depth - 1)
    return found


def judged_properties(provider: str, cls: type) -> set[str]:
    """Which of the judged properties a resource class carries."""
    top = _fields(cls)
    nested = {name: _nested_fields(provider, annotation, 3) for name, annotation in top.items()}
    everything = set(top) | set().union(*nested.values())
    found = set()
    if {"everyone", "email_domain"} <= everything:
        found.add("Access rules")
    if "text" in nested.get("bindings", set()):
        found.add("Worker bindings")
    if "roles" in everything or "permission_groups" in everything:
        found.add("roles or permission groups")
    if "setting_id" in top or "min_tls_version" in everything or ("ssl" in everything and (
            "action_parameters" in everything or "actions" in top)):
        found.add("TLS settings")
    if provider == "pulumiverse_vercel" and {"key", "value", "sensitive"} <= everything:
        found.add("environment values")
    if {"consecutive_fails", "check_regions"} & set(top):
        found.add("health checks")
    return found


@cache
def provider_types() -> dict[str, set[str]]:
    """Type token -> judged properties, for every resource class of the pinned providers that has some."""
    found: dict[str, set[str]] = {}
    for provider in PROVIDERS:
        package = _module(provider)
        for name in dir(package):
            cls = getattr(package, name)
            if not (inspect.isclass(cls) and issubclass(cls, pulumi.CustomResource)):
                continue
            token = TOKEN.search(inspect.getsource(inspect.getmodule(cls) or package))
            properties = judged_properties(provider, cls)
            if token and properties:
                found[token.group(1)] = properties
    return found


JUDGED = {token for meta in METAS for token in meta.resource_types}


def test_every_type_that_carries_a_judged_property_is_judged_or_out_of_scope() -> None:
    unclassified = {token: sorted(props) for token, props in provider_types().items()
                    if token not in JUDGED and token not in types.OUT_OF_SCOPE}
    assert unclassified == {}, (
        "These provider types carry a property the pack judges, but no policy judges them and "
        "types.OUT_OF_SCOPE gives no reason: add them to a family in policies/parsify_policies/types.py "
        f"(and its policy), or to OUT_OF_SCOPE with the reason: {unclassified}")


def test_the_walk_finds_what_the_reference_names() -> None:
    # shared/reference/pulumi-cloudflare-6-types.md: deprecated pairs and the new Worker model.
    found = provider_types()
    for token in ["cloudflare:index/accessPolicy:AccessPolicy",
                  "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
                  "cloudflare:index/workerScript:WorkerScript", "cloudflare:index/workerVersion:WorkerVersion",
                  "cloudflare:index/hostnameTlsSetting:HostnameTlsSetting", "cloudflare:index/ruleset:Ruleset",
                  "vercel:index/projectEnvironmentVariables:ProjectEnvironmentVariables",
                  "vercel:index/sharedEnvironmentVariable:SharedEnvironmentVariable",
                  "cloudflare:index/healthcheck:Healthcheck", "cloudflare:index/accountMember:AccountMember",
                  "cloudflare:index/pageRule:PageRule", "vercel:index/teamConfig:TeamConfig"]:
        assert token in found, token


@pytest.mark.parametrize("token, reason", sorted(types.OUT_OF_SCOPE.items()))
def test_out_of_scope_types_carry_a_judged_property_and_give_a_reason(token: str, reason: str) -> None:
    assert token in provider_types(), f"{token} carries nothing the pack judges: drop it from OUT_OF_SCOPE"
    assert token not in JUDGED, f"{token} is judged, so it is not out of scope"
    assert reason.endswith(".") and len(reason) > 30


@pytest.mark.parametrize("action, token, risk", [
    ("delete", "cloudflare:index/d1Database:D1Database", "destructive"),
    ("replace", "cloudflare:index/r2Bucket:R2Bucket", "destructive"),
    ("update", "cloudflare:index/accessPolicy:AccessPolicy", "security-sensitive"),  # deprecated alias
    ("create", "cloudflare:index/accessGroup:AccessGroup", "security-sensitive"),
    ("update", "cloudflare:index/userGroup:UserGroup", "security-sensitive"),
    ("update", "cloudflare:index/hostnameTlsSetting:HostnameTlsSetting", "security-sensitive"),
    ("update", "cloudflare:index/workerScript:WorkerScript", "routine"),
])
def test_change_risk_classes_use_the_same_families(action: str, token: str, risk: str) -> None:
    assert _risk(action, token) == risk
