"""The pack's Access audience model (policies/parsify_policies/access.py) against a small, independent
evaluator of Cloudflare's documented decision procedure, on generated applications (hypothesis).

The evaluator follows shared/reference/cloudflare-defaults-and-limits.md §2 (docs D-POL, D-MFA): Bypass and
Service Auth policies first, then Allow and Block in order, the first Allow/Block match deciding; a policy
matches when any include, every require and no exclude holds; Bypass needs no login; Service Auth admits
service tokens only; `auth_method` is the IdP's RFC 8176 `amr`. It knows nothing of the model's categories:
it only says which concrete requests get in. The properties are the security direction: when the model
finds nothing wrong, no outsider gets in, and nobody gets in without MFA.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsify_policies import access, types
from pulumi_policy import PolicyResource, PolicyResourceOptions

PUBLIC_DOMAINS = ["gmail.com"]
MFA = ["mfa", "hwk", "swk"]
IDP_TYPES = {"idp-otp": "onetimepin", "idp-okta": "okta"}


@dataclass(frozen=True)
class Persona:
    email: str | None  # None: a service token, not a person
    ip: str
    country: str
    idp: str | None  # the identity provider type a person logged in with
    amr: frozenset[str]

    @property
    def service(self) -> bool:
        return self.email is None


OUTSIDERS = [Persona(f"x@{domain}", ip, country, "onetimepin", amr)
             for domain in ["gmail.com", "example.net"] for ip in ["8.8.8.8", "2001:4860::8888"]
             for country in ["US", "FR"] for amr in [frozenset(), frozenset({"mfa"})]]
INSIDERS = [Persona(email, ip, "FR", "okta", amr) for email in ["a@parsify.io", "b@parsify.io"]
            for ip in ["203.0.113.5", "8.8.8.8"] for amr in [frozenset(), frozenset({"hwk"})]]
SERVICE = Persona(None, "8.8.8.8", "US", None, frozenset())


# --- the independent evaluator ----------------------------------------------------------------------------

def rule_holds(rule: Mapping[str, Any], who: Persona, groups: dict[str, dict[str, Any]]) -> bool:
    name, value = next(iter(rule.items()))
    if name == "everyone":
        return True
    if name == "ip":
        return ipaddress.ip_address(who.ip) in ipaddress.ip_network(value["ip"], strict=False)
    if name == "geo":
        return who.country == value["countryCode"]
    if name == "email":
        return who.email == value["email"]
    if name == "emailDomain":
        return who.email is not None and who.email.lower().endswith("@" + value["domain"].lower())
    if name == "loginMethod":
        return who.idp == IDP_TYPES[value["id"]]
    if name == "authMethod":
        return value["authMethod"] in who.amr
    if name == "group":
        return matches(groups[value["id"]], who, groups)
    if name == "anyValidServiceToken":
        return who.service
    raise AssertionError(name)


def matches(policy: Mapping[str, Any], who: Persona, groups: dict[str, dict[str, Any]]) -> bool:
    return (any(rule_holds(r, who, groups) for r in policy.get("includes", []))
            and all(rule_holds(r, who, groups) for r in policy.get("requires", []))
            and not any(rule_holds(r, who, groups) for r in policy.get("excludes", [])))


def admitted(policies: list[dict[str, Any]], who: Persona, groups: dict[str, dict[str, Any]]) -> str | None:
    """How the request gets in (bypass, service, allow), or None."""
    for policy in policies:
        if policy["decision"] == "bypass" and matches(policy, who, groups):
            return "bypass"
        if policy["decision"] == "non_identity" and who.service and matches(policy, who, groups):
            return "service"
    if who.service:
        return None  # a service token is no identity-provider login
    for policy in policies:
        if policy["decision"] in ("allow", "deny") and matches(policy, who, groups):
            return "allow" if policy["decision"] == "allow" else None
    return None


# --- generated applications -------------------------------------------------------------------------------

RULE_POOL: list[dict[str, Any]] = [
    {"everyone": {}}, {"ip": {"ip": "0.0.0.0/0"}}, {"ip": {"ip": "::/0"}}, {"ip": {"ip": "203.0.113.0/24"}},
    {"geo": {"countryCode": "US"}}, {"emailDomain": {"domain": "gmail.com"}},
    {"emailDomain": {"domain": "parsify.io"}}, {"email": {"email": "a@parsify.io"}},
    {"loginMethod": {"id": "idp-otp"}}, {"loginMethod": {"id": "idp-okta"}}, {"authMethod": {"authMethod": "mfa"}},
    {"authMethod": {"authMethod": "hwk"}}, {"anyValidServiceToken": {}}, {"group": {"id": "g1"}},
    {"group": {"id": "g2"}}]
RULES = st.sampled_from(RULE_POOL)
GROUP_RULES = RULES.filter(lambda r: "group" not in r)


def rule_set(rules: st.SearchStrategy[dict[str, Any]], least: int, most: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(rules, min_size=least, max_size=most)


POLICY = st.fixed_dictionaries({
    "decision": st.sampled_from(["allow", "allow", "deny", "bypass", "non_identity"]),
    "includes": rule_set(RULES, 1, 3), "requires": rule_set(RULES, 0, 2), "excludes": rule_set(RULES, 0, 1)})
GROUP = st.fixed_dictionaries({
    "includes": rule_set(GROUP_RULES, 1, 2), "requires": rule_set(GROUP_RULES, 0, 1)})


def _resource(kind: types.Family, name: str, props: dict[str, Any],
              deps: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:
    opts = PolicyResourceOptions(False, [], None, [], None, [])  # type: ignore[arg-type]
    return PolicyResource(kind[0], props, f"urn:{name}", name, opts, None, None, [], deps or {})


def stack(policies: list[dict[str, Any]], groups: dict[str, dict[str, Any]]) -> list[PolicyResource]:
    """The generated application as the engine hands it to a stack policy: resources whose rules reach
    groups and identity providers through property dependencies, as `group.id` references would."""
    idps = {i: _resource(types.ACCESS_IDENTITY_PROVIDER, i, {"type": t}) for i, t in IDP_TYPES.items()}

    def deps(rules: list[dict[str, Any]], declared: dict[str, PolicyResource]) -> list[PolicyResource]:
        ids = [next(iter(r.values())).get("id") for r in rules if "group" in r or "loginMethod" in r]
        return [declared[i] for i in ids if i in declared]

    group_resources = {g: _resource(types.ACCESS_GROUP, g, props, {
        "includes": deps(props["includes"], idps), "requires": deps(props["requires"], idps)})
        for g, props in groups.items()}
    declared = {**idps, **group_resources}
    policy_resources = [_resource(types.ACCESS_POLICY, f"p{i}", props, {
        "includes": deps(props["includes"], declared), "requires": deps(props["requires"], declared)})
        for i, props in enumerate(policies)]
    app = _resource(types.ACCESS_APPLICATION, "app", {"name": "app", "policies": [
        {"id": p.name, "precedence": i + 1} for i, p in enumerate(policy_resources)]},
        {"policies": policy_resources})
    return [app, *policy_resources, *group_resources.values(), *idps.values()]


def verdicts(resources: list[PolicyResource]) -> tuple[bool, bool]:
    """(audience compliant, MFA compliant) as the two policies judge them."""
    ctx = access.Context(resources, PUBLIC_DOMAINS, MFA)
    found = list(access.admissions(ctx))
    audience = all(a.decision not in access.ADMITTING or (
        a.decision != "bypass" and not (a.decision == "non_identity" and a.reach.people)
        and not a.reach.public and not a.reach.unknown) for a in found)
    mfa = all(not (a.decision == "allow" and a.reach.people and not a.mfa) for a in found)
    return audience, mfa


CASES = settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@CASES
@given(st.lists(POLICY, min_size=1, max_size=3), st.fixed_dictionaries({"g1": GROUP, "g2": GROUP}))
def test_when_the_audience_is_compliant_no_outsider_gets_in(policies: list[dict[str, Any]],
                                                            groups: dict[str, dict[str, Any]]) -> None:
    audience, _ = verdicts(stack(policies, groups))
    if audience:
        for who in OUTSIDERS:
            assert admitted(policies, who, groups) is None, (who, policies, groups)


@CASES
@given(st.lists(POLICY, min_size=1, max_size=3), st.fixed_dictionaries({"g1": GROUP, "g2": GROUP}))
def test_when_both_policies_pass_nobody_gets_in_without_mfa(policies: list[dict[str, Any]],
                                                            groups: dict[str, dict[str, Any]]) -> None:
    audience, mfa = verdicts(stack(policies, groups))
    if audience and mfa:
        for who in OUTSIDERS + INSIDERS:
            if not who.amr & set(MFA):
                assert admitted(policies, who, groups) is None, (who, policies, groups)


SIMPLE_GROUPS = {"g1": {"includes": [{"email": {"email": "a@parsify.io"}}], "requires": []},
                 "g2": {"includes": [{"everyone": {}}], "requires": []}}


@pytest.mark.parametrize("decision", ["allow", "bypass", "non_identity"])
@pytest.mark.parametrize("rule", RULE_POOL, ids=[next(iter(r)) + str(i) for i, r in enumerate(RULE_POOL)])
def test_every_rule_alone_and_required(decision: str, rule: dict[str, Any]) -> None:
    # Each rule once as the only include, and once behind a required identity, for every admitting decision.
    for policy in [{"decision": decision, "includes": [rule], "requires": [], "excludes": []},
                   {"decision": decision, "includes": [rule], "requires": [{"email": {"email": "a@parsify.io"}}],
                    "excludes": []}]:
        audience, mfa = verdicts(stack([policy], SIMPLE_GROUPS))
        for who in OUTSIDERS if audience else []:
            assert admitted([policy], who, SIMPLE_GROUPS) is None, (who, policy)
        for who in (OUTSIDERS + INSIDERS) if audience and mfa else []:
            if not who.amr & set(MFA):
                assert admitted([policy], who, SIMPLE_GROUPS) is None, (who, policy)


def test_the_generator_reaches_both_verdicts() -> None:
    # The properties above are vacuous if the model never calls a generated application compliant.
    group = {"includes": [{"email": {"email": "a@parsify.io"}}], "requires": []}
    good = [{"decision": "allow", "includes": [{"group": {"id": "g1"}}],
             "requires": [{"authMethod": {"authMethod": "hwk"}}], "excludes": []}]
    assert verdicts(stack(good, {"g1": group, "g2": group})) == (True, True)
    insider = Persona("a@parsify.io", "203.0.113.5", "FR", "okta", frozenset({"hwk"}))
    assert admitted(good, insider, {"g1": group}) == "allow"
    bad = [{**good[0], "includes": [{"everyone": {}}], "requires": []}]
    assert verdicts(stack(bad, {"g1": group, "g2": group})) == (False, False)
    assert admitted(bad, OUTSIDERS[0], {}) == "allow"
