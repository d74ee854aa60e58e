"""Access: account 2FA, members and roles, Zero Trust Access groups, applications and grants.

Every allow policy requires MFA (`auth_method` in `requires`, which is AND) and bounds the session.
Time-limited grants are declared only until their expiry date: the first deploy after it revokes them.
"""

from __future__ import annotations

import difflib

import pulumi
import pulumi_cloudflare as cloudflare

from stacks import lookups
from stacks.config import AccessAppSpec, GrantSpec, StackConfig, StackConfigError, plan_date


def _require_mfa(method: str) -> list[cloudflare.ZeroTrustAccessPolicyRequireArgs]:
    return [cloudflare.ZeroTrustAccessPolicyRequireArgs(
        auth_method=cloudflare.ZeroTrustAccessPolicyRequireAuthMethodArgs(auth_method=method))]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


class AccessControl(pulumi.ComponentResource):
    """Who can reach what: the account's 2FA switch, members, Access groups, apps and grants."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:access:AccessControl", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The account already exists: adopt it once with `pulumi import` (see README) and keep 2FA enforced.
        cloudflare.Account(
            f"{name}-account", name=cfg.account_name, type="standard",
            settings=cloudflare.AccountSettingsArgs(enforce_twofactor=True),
            opts=pulumi.ResourceOptions(parent=self, protect=True))

        roles = lookups.role_ids(cfg.account_id) if cfg.members else {}
        for index, member in enumerate(cfg.members):
            unknown = [role for role in member.roles if role not in roles]
            if unknown:
                near = sorted({m for role in unknown for m in difflib.get_close_matches(role, roles, n=3)})
                hint = f"did you mean {near}?" if near else "see the account's roles in fixtures/invokes.json"
                raise StackConfigError(f"members[{index}].roles", f"has unknown roles {unknown}; {hint}")
            cloudflare.AccountMember(
                f"{name}-member-{slug(member.email)}", account_id=cfg.account_id, email=member.email,
                roles=[roles[role] for role in member.roles], opts=child)

        groups = {
            group.name: cloudflare.ZeroTrustAccessGroup(
                f"{name}-group-{slug(group.name)}", account_id=cfg.account_id, name=group.name,
                includes=[cloudflare.ZeroTrustAccessGroupIncludeArgs(
                    email=cloudflare.ZeroTrustAccessGroupIncludeEmailArgs(email=email)) for email in group.emails],
                opts=child)
            for group in cfg.access.groups
        }
        today = plan_date()
        for app in cfg.access.applications:
            grants = [g for g in cfg.access.grants if g.application == app.name and g.expires >= today]
            self._application(name, cfg.account_id, app, groups, grants, child)
        self.register_outputs({
            "groups": sorted(groups),
            "activeGrants": sum(1 for g in cfg.access.grants if g.expires >= today),
        })

    def _application(self, name: str, account_id: str, app: AccessAppSpec,
                     groups: dict[str, cloudflare.ZeroTrustAccessGroup], grants: list[GrantSpec],
                     child: pulumi.ResourceOptions) -> None:
        prefix = f"{name}-app-{slug(app.name)}"
        team_policy = cloudflare.ZeroTrustAccessPolicy(
            f"{prefix}-teams", account_id=account_id, name=f"{app.name}: {', '.join(app.groups)} with MFA",
            decision="allow", session_duration=app.session_duration,
            includes=[cloudflare.ZeroTrustAccessPolicyIncludeArgs(
                group=cloudflare.ZeroTrustAccessPolicyIncludeGroupArgs(id=groups[g].id)) for g in app.groups],
            requires=_require_mfa(app.auth_method), opts=child)
        policies = [cloudflare.ZeroTrustAccessApplicationPolicyArgs(id=team_policy.id, precedence=1)]
        for precedence, grant in enumerate(grants, start=2):
            grant_policy = cloudflare.ZeroTrustAccessPolicy(
                f"{prefix}-grant-{slug(grant.person)}", account_id=account_id,
                name=f"{app.name}: temporary grant to {grant.person} until {grant.expires.isoformat()}"
                     + (f" ({grant.ticket})" if grant.ticket else ""),
                decision="allow", session_duration=app.session_duration, purpose_justification_required=True,
                purpose_justification_prompt=grant.reason,
                includes=[cloudflare.ZeroTrustAccessPolicyIncludeArgs(
                    email=cloudflare.ZeroTrustAccessPolicyIncludeEmailArgs(email=grant.person))],
                requires=_require_mfa(app.auth_method), opts=child)
            policies.append(cloudflare.ZeroTrustAccessApplicationPolicyArgs(id=grant_policy.id, precedence=precedence))
        cloudflare.ZeroTrustAccessApplication(
            prefix, account_id=account_id, name=app.name, type="self_hosted", domain=app.domain,
            session_duration=app.session_duration, app_launcher_visible=True, policies=policies, opts=child)
