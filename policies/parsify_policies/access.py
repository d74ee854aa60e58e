"""Who gets into an Access application, as Cloudflare decides it, and whether MFA applies to them.

Cloudflare's rules (shared/reference/cloudflare-defaults-and-limits.md §1-2, docs D-POL, D-MFA):
- decisions: `allow` admits people after an identity-provider login; `bypass` turns Access off for matching
  requests (no login, no MFA, not logged); `non_identity` (Service Auth) admits requests that authenticate
  without an identity provider (service tokens, mTLS); `deny` (Block) admits no one;
- `includes` are OR, `requires` are AND, `excludes` are NOT; Bypass and Service Auth are evaluated first;
- `everyone`, IP ranges, countries and login methods are not identities: Allow + Include `everyone`, or a
  one-time-PIN login method, lets anyone with an email address in;
- MFA applies through an `auth_method` requirement (RFC 8176 values), a required Access group that requires
  it, or independent MFA settings (`mfa_config`), with precedence policy > application > organization.

The model is conservative: what it cannot resolve (a group or identity provider that the program does not
declare) is reported as unknown, never assumed safe.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pulumi_policy import PolicyResource

from parsify_policies import types

# An IP rule this wide admits a large part of the internet (a /8 of IPv4 is 16.7 million addresses).
INTERNET_SCALE = {4: 8, 6: 16}
THROUGH_GROUP = " (through an Access group)"
SERVICE_RULES = {"anyValidServiceToken", "serviceToken", "certificate", "commonName", "linkedAppToken"}
IDENTITY_RULES = {"email", "emailList", "githubOrganization", "gsuite", "okta", "saml", "azureAd", "oidc",
                  "cloudflareAccountMember"}
CONDITION_RULES = {"authMethod", "authContext", "devicePosture", "userRiskScore", "externalEvaluation"}
ADMITTING = ("allow", "bypass", "non_identity")
# Identity providers anyone can get an account with (docs cloudflare-one identity-providers: one-time PIN
# "any email address"; google "any user with a Google account"; github "You do not need to have a GitHub
# organization"; likewise facebook, linkedin, yandex). Corporate ones (okta, azureAD, saml, oidc, google-apps,
# ...) admit the organization's people.
PUBLIC_IDP_TYPES = {"onetimepin": "one-time PIN (any email address)", "google": "Google (any Google account)",
                    "github": "GitHub (any GitHub account)", "facebook": "Facebook (any account)",
                    "linkedin": "LinkedIn (any account)", "yandex": "Yandex (any account)"}
# Application types the organization-wide MFA requirement does not cover (docs independent-mfa: "The App
# Launcher is exempt from the global MFA requirement").
ORG_MFA_EXEMPT_TYPES = ("app_launcher",)


@dataclass
class Reach:
    """What the include rules of a policy let in, once its requires are applied."""

    public: list[str] = field(default_factory=list)  # who at large gets in (reasons)
    unknown: list[str] = field(default_factory=list)  # what could not be resolved
    people: bool = False  # some include admits people (an identity, a network, anyone)


@dataclass
class Context:
    """The stack's Access groups, identity providers and organization, for rules that reach through them."""

    resources: list[PolicyResource]
    public_domains: list[str]
    allowed_methods: list[str]
    # When set, every other email domain counts as public: a consumer mailbox list is never complete.
    organization_domains: list[str] = field(default_factory=list)

    def of(self, family: types.Family) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type in family]

    @cached_property
    def organization(self) -> Mapping[str, Any]:
        found = self.of(types.ACCESS_ORGANIZATION)
        return found[0].props if found else {}


def _deps(owner: PolicyResource | None, key: str, family: types.Family) -> list[PolicyResource]:
    if owner is None:
        return []
    return [d for d in owner.property_dependencies.get(key, []) if d.resource_type in family]


def _ip_reason(cidr: str) -> str | None:
    network = ipaddress.ip_network(cidr, strict=False)
    if network.prefixlen <= INTERNET_SCALE[network.version]:
        return f"the IP range {cidr}, which covers a large part of the internet"
    return None


def _through_group(whats: list[str]) -> str:
    """What a group admits, said once even when it comes through groups inside groups."""
    return " and ".join(dict.fromkeys(w.removesuffix(THROUGH_GROUP) for w in whats)) + THROUGH_GROUP


def classify(rule: Mapping[str, Any], owner: PolicyResource | None, key: str, ctx: Context,
             seen: frozenset[str] = frozenset()) -> tuple[str, str]:
    """(kind, description) of one rule: kind is public, network, identity, service, condition or unknown."""
    if not rule:
        return "unknown", "an empty rule"
    name = next(iter(rule))
    value = rule[name] or {}
    if name == "everyone":
        return "public", "everyone"
    if name == "ip":
        cidr = str(value.get("ip"))
        return ("public", reason) if (reason := _ip_reason(cidr)) else ("network", f"the IP range {cidr}")
    if name == "ipList":
        return "unknown", "an IP list whose addresses the program does not show"
    if name == "geo":
        return "public", f"everyone in country {value.get('countryCode')}"
    if name == "emailDomain":
        # As the dashboard writes it ("@company.com") or with a trailing dot, it is the same domain.
        domain = str(value.get("domain") or "").lower().strip().lstrip("@").rstrip(".")
        if not domain:
            return "unknown", "an email domain rule with no domain"
        if domain in ctx.public_domains:
            return "public", f"the public email domain {domain}"
        if ctx.organization_domains and not any(domain == d or domain.endswith("." + d)
                                                for d in ctx.organization_domains):
            return "public", f"the email domain {domain}, which is not one of the organization's domains"
        return "identity", f"the email domain {domain}"
    if name == "loginMethod":
        providers = _deps(owner, key, types.ACCESS_IDENTITY_PROVIDER)
        if not providers:
            return "unknown", f"the login method {value.get('id')}, an identity provider the program does not declare"
        public = sorted({str(p.props.get("type")) for p in providers} & set(PUBLIC_IDP_TYPES))
        if public:
            return "public", f"a {PUBLIC_IDP_TYPES[public[0]]} login method"
        return "identity", name  # an identity's description is never shown: only public and unknown ones are
    if name == "group":
        groups = [g for g in _deps(owner, key, types.ACCESS_GROUP) if g.urn not in seen]
        if not groups:
            return "unknown", f"the Access group {value.get('id')}, which the program does not declare"
        reaches = [reach(g.props, g, ctx, seen | {g.urn}) for g in groups]
        if any(r.public for r in reaches):
            return "public", _through_group([p for r in reaches for p in r.public])
        if any(r.unknown for r in reaches):
            return "unknown", _through_group([u for r in reaches for u in r.unknown])
        return "identity", name
    if name in IDENTITY_RULES:
        return "identity", name
    if name in SERVICE_RULES:
        return "service", name
    if name in CONDITION_RULES:
        return "condition", f"anyone who passes {name}"
    return "unknown", f"the rule {name}, which the pack does not know"


def reach(props: Mapping[str, Any], owner: PolicyResource | None, ctx: Context,
          seen: frozenset[str] = frozenset(), inline: bool = False) -> Reach:
    """Who the includes admit, unless a require rule narrows it to identities. The groups and identity
    providers a rule names are found through the owner's property dependencies (an inline policy's are
    under its application's `policies`)."""
    keys = ("policies", "policies") if inline else ("includes", "requires")
    includes = [classify(r, owner, keys[0], ctx, seen) for r in props.get("includes") or []]
    requires = [classify(r, owner, keys[1], ctx, seen) for r in props.get("requires") or []]
    narrowed = any(kind == "identity" for kind, _ in requires)
    found = Reach(people=any(kind != "service" for kind, _ in includes))
    if not narrowed:
        found.public = [what for kind, what in includes if kind in ("public", "condition")]
        found.unknown = [what for kind, what in includes if kind == "unknown"]
    return found


def _mfa_setting(config: Any) -> bool | None:
    """Independent MFA settings: True enforces, False disables, None says nothing."""
    if not config:
        return None
    if config.get("mfaDisabled") is True:
        return False
    return True if config.get("allowedAuthenticators") else None


def requires_mfa(policy: Mapping[str, Any], owner: PolicyResource | None, app: Mapping[str, Any] | None,
                 ctx: Context, inline: bool = False) -> bool:
    """MFA applies: a required auth_method, a required group that requires it, or independent MFA
    (policy > application > organization)."""
    for rule in policy.get("requires") or []:
        if (rule.get("authMethod") or {}).get("authMethod") in ctx.allowed_methods:
            return True
    if any(rule.get("group") for rule in policy.get("requires") or []):
        for group in _deps(owner, "policies" if inline else "requires", types.ACCESS_GROUP):
            if requires_mfa(group.props, group, None, ctx):
                return True
    # Includes are an OR: MFA holds through them only when every include is a declared group that requires
    # it. An inline policy's owner is its application, which has no `includes`: it gets no credit this way (the
    # application's dependencies are those of all its policies).
    includes = policy.get("includes") or []
    ids = {str((rule.get("group") or {}).get("id")) for rule in includes}
    included = _deps(owner, "includes", types.ACCESS_GROUP)
    if includes and all(rule.get("group") for rule in includes) and len(included) >= len(ids) \
            and all(requires_mfa(g.props, g, None, ctx) for g in included):
        return True
    # Precedence policy > application > organization: a later layer is read only if the earlier say nothing
    # (so an unknown organization setting does not matter when the application decides).
    for layer in (lambda: _mfa_setting(policy.get("mfaConfig")), lambda: _mfa_setting((app or {}).get("mfaConfig")),
                  lambda: _organization_mfa(ctx, app)):
        decided = layer()
        if decided is not None:
            return decided
    return False


def _organization_mfa(ctx: Context, app: Mapping[str, Any] | None) -> bool | None:
    if app is not None and app.get("type") in ORG_MFA_EXEMPT_TYPES:  # a type left out is self_hosted: not exempt
        return None
    organization = ctx.organization
    return _mfa_setting(organization.get("mfaConfig")) if organization.get("mfaRequiredForAllApps") else None


@dataclass
class Admission:
    """One policy as it applies to one application (or alone, when no application uses it)."""

    label: str  # how messages name it
    urn: str
    decision: str
    reach: Reach
    mfa: bool


def admissions(ctx: Context) -> Iterable[Admission]:
    """Every admitting policy of every application (inline or reused), and reusable policies alone. A deny
    admits no one: nothing else about it matters, so it is not among them."""
    return (a for a in _every_admission(ctx) if a is not None)


def _every_admission(ctx: Context) -> Iterable[Admission | None]:
    policies = {p.urn: p for p in ctx.of(types.ACCESS_POLICY)}
    used: set[str] = set()
    for app in ctx.of(types.ACCESS_APPLICATION):
        app_name = f"Access application '{app.name}'"
        for index, entry in enumerate(app.props.get("policies") or []):
            if "decision" in entry:  # an inline policy; entries with only an id reuse a policy (below)
                yield _admission(f"{app_name} inline policy #{index + 1}", app.urn, entry, app, app.props, ctx,
                                 inline=True)
        reused = [dep for dep in app.property_dependencies.get("policies", []) if dep.urn in policies]
        for dep in reused:
            used.add(dep.urn)
            yield _admission(f"Access policy '{dep.name}' of {app_name}", dep.urn, dep.props, dep, app.props, ctx)
        references = [entry for entry in app.props.get("policies") or [] if "decision" not in entry]
        if len(references) > len(reused):
            # A reused policy whose id is unknown, or one the program does not declare: who it admits is unknown.
            missing = len(references) - len(reused)
            yield Admission(f"{app_name}", app.urn, "allow", Reach(unknown=[
                f"{missing} reused policy(ies) the program does not declare (or whose id is unknown)"], people=True),
                True)
    for urn, policy in policies.items():
        if urn not in used:
            yield _admission(f"Access policy '{policy.name}'", urn, policy.props, policy, None, ctx)


def _admission(label: str, urn: str, props: Mapping[str, Any], owner: PolicyResource,
               app: Mapping[str, Any] | None, ctx: Context, inline: bool = False) -> Admission | None:
    decision = str(props.get("decision") or "allow")
    if decision not in ADMITTING:
        return None
    return Admission(label, urn, decision, reach(props, owner, ctx, inline=inline),
                     requires_mfa(props, owner, app, ctx, inline=inline))
