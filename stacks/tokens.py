"""API tokens for automation: account-owned, scoped to named permission groups, expiring."""

from __future__ import annotations

import json

import pulumi
import pulumi_cloudflare as cloudflare

from stacks import lookups
from stacks.config import StackConfig, TokenSpec


def token_resources(cfg: StackConfig, token: TokenSpec) -> str:
    """The token's resource scope as the API's JSON string: this account, or this zone only."""
    if token.scope == "zone":
        return json.dumps({f"com.cloudflare.api.account.zone.{cfg.zone.id}": "*"})
    return json.dumps({f"com.cloudflare.api.account.{cfg.account_id}": "*"})


class ApiTokens(pulumi.ComponentResource):
    """One `AccountToken` per token in config; the token values are secret outputs, never exported."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:tokens:ApiTokens", name, None, opts)
        for index, token in enumerate(cfg.tokens):
            groups = lookups.permission_group_ids(cfg.account_id, token.scope, token.permission_groups,
                                                  f"tokens[{index}].permissionGroups")
            condition = None
            if token.allowed_ips:
                condition = cloudflare.AccountTokenConditionArgs(
                    request_ip=cloudflare.AccountTokenConditionRequestIpArgs(
                        ins=[str(net) for net in token.allowed_ips]))
            cloudflare.AccountToken(
                f"{name}-{token.name}", account_id=cfg.account_id, name=f"parsify-{cfg.environment}-{token.name}",
                policies=[cloudflare.AccountTokenPolicyArgs(
                    effect="allow", resources=token_resources(cfg, token),
                    permission_groups=[cloudflare.AccountTokenPolicyPermissionGroupArgs(id=g) for g in groups])],
                expires_on=f"{token.expires.isoformat()}T00:00:00Z", condition=condition,
                opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"tokens": [t.name for t in cfg.tokens]})
