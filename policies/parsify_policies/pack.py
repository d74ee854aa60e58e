"""The Parsify pack: its identity and the ordered list of its policies."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Policy

from parsify_policies.policies import (
    access_policy_no_public_include,
    access_policy_requires_mfa,
    access_session_duration_bounded,
    account_enforces_two_factor,
    account_member_admin_break_glass_only,
    api_token_expires,
    api_token_no_powerful_permission_groups,
    api_token_no_wildcard_resources,
    d1_database_has_scheduled_backup,
    d1_database_protected,
    monitoring_public_hostname_covered,
    r2_backup_bucket_has_lifecycle,
    r2_bucket_lifecycle_min_retention,
    r2_bucket_protected,
    vercel_project_deployment_protection,
    vercel_project_environment_variable_sensitive,
    vercel_team_member_owner_break_glass_only,
    workers_script_no_plaintext_secrets,
    workers_script_observability_logs,
    zone_setting_transport_security,
)

PACK_NAME = "parsify-security"

MODULES = [
    access_policy_requires_mfa, access_policy_no_public_include, access_session_duration_bounded,
    account_enforces_two_factor, api_token_expires, api_token_no_wildcard_resources,
    api_token_no_powerful_permission_groups, account_member_admin_break_glass_only,
    vercel_team_member_owner_break_glass_only, d1_database_has_scheduled_backup, d1_database_protected,
    r2_bucket_protected, r2_bucket_lifecycle_min_retention, r2_backup_bucket_has_lifecycle,
    workers_script_no_plaintext_secrets, vercel_project_environment_variable_sensitive, zone_setting_transport_security,
    vercel_project_deployment_protection, monitoring_public_hostname_covered, workers_script_observability_logs,
]
POLICIES: list[Policy] = [module.POLICY for module in MODULES]
METAS = [module.META for module in MODULES]


def pack_arguments() -> dict[str, Any]:
    """Keyword arguments of `PolicyPack(...)`; the offline gate builds the SDK's servicer from the same."""
    return {
        "name": PACK_NAME,
        "policies": POLICIES,
        "enforcement_level": EnforcementLevel.MANDATORY,
        "description": "Parsify's security gate: least privilege, MFA, data safety, transport and monitoring.",
    }
