"""The access review and expiry report, directly on a small declared state: the weekly and daily jobs act on
its findings (the exit status says whether there are any)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from parsify_infra.access_review import build_review, expiring, render_review

TODAY = date(2026, 11, 27)
ADMIN_ROLE = "05784afa30c1afe1440e79d9351c7430"  # Administrator (policies/parsify_policies/data/cloudflare_ids.json)
PLAIN_ROLE = "35956457e745b2af7331713a1ddf4fdb"  # API Gateway Read
GROUP = "2dd44e425a914fb98f8d1ddbbcd66915"  # token permission group "Access: Apps Read"


def _resource(type_token: str, name: str, inputs: dict[str, Any], deps: dict[str, list[str]] | None = None
              ) -> dict[str, Any]:
    return {"urn": f"urn:{name}", "type": type_token, "name": name, "inputs": inputs,
            "propertyDependencies": deps or {}}


def _doc(*resources: dict[str, Any], grants: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"project": "parsify", "stack": "test", "resources": list(resources),
            "outputs": {"accessGrants": grants or []}}


def _grant(expires: str, ticket: str | None = "OPS-1") -> dict[str, Any]:
    return {"person": "a@parsify.io", "application": "Admin", "reason": "a reason of some length",
            "ticket": ticket, "expires": expires}


def _token(expires: str | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {"name": "ci", "policies": [{"permissionGroups": [{"id": GROUP}, {"id": "f" * 32}],
                                                            "resources": '{"com.cloudflare.api.account.x": "*"}'}],
                              "condition": {"requestIp": {"ins": ["203.0.113.0/28"]}}}
    if expires:
        inputs["expiresOn"] = expires
    return _resource("cloudflare:index/accountToken:AccountToken", "t", inputs)


def test_members_roles_and_who_is_an_administrator() -> None:
    admin = _resource("cloudflare:index/accountMember:AccountMember", "m1",
                      {"email": "root@parsify.io", "roles": [ADMIN_ROLE]})
    via_policy = _resource("cloudflare:index/accountMember:AccountMember", "m2", {
        "email": "ops@parsify.io", "roles": [PLAIN_ROLE],
        "policies": [{"access": "allow", "permissionGroups": [{"id": ADMIN_ROLE}]},
                     {"access": "deny", "permissionGroups": [{"id": "0" * 32}]}]})
    review = build_review(_doc(admin, via_policy), TODAY)
    assert review["members"] == [{"email": "root@parsify.io", "roles": ["Administrator"]},
                                 {"email": "ops@parsify.io", "roles": ["API Gateway Read", "Administrator"]}]
    assert [(f["kind"], f["subject"]) for f in review["findings"]] == [
        ("administrator", "root@parsify.io"), ("administrator", "ops@parsify.io")]
    odd = _resource("cloudflare:index/accountMember:AccountMember", "m3",
                    {"email": "x@parsify.io", "roles": ["9" * 32]})
    (finding,) = build_review(_doc(odd), TODAY)["findings"]
    assert (finding["kind"], finding["detail"]) == ("unknown role",
                                                    f"role ids {'9' * 32} are not in the pack's id table")


@pytest.mark.parametrize("expires, listed", [("2026-12-11", True), ("2026-12-12", False)],
                         ids=["the 14th day", "the 15th day"])
def test_grants_tokens_and_waivers_expiring_within_14_days_both_sides(expires: str, listed: bool) -> None:
    waiver = {"ticket": "SEC-1", "policy": "p", "expires": expires}
    review = build_review(_doc(_token(f"{expires}T12:00:00Z"), grants=[_grant(expires)]), TODAY, [waiver])
    expected = [{"kind": "expiring", "subject": "grant a@parsify.io -> Admin", "detail": f"expires {expires}"},
                {"kind": "expiring", "subject": "token ci", "detail": f"expires {expires}T12:00:00Z"},
                {"kind": "expiring", "subject": "waiver SEC-1 (p)", "detail": f"expires {expires}"}]
    assert expiring(review) == (expected if listed else [])


def test_a_token_that_never_expires_and_a_grant_without_a_ticket_are_findings() -> None:
    review = build_review(_doc(_token(None), grants=[_grant("2027-06-01", ticket=None)]), TODAY)
    assert [(f["kind"], f["subject"], f["detail"]) for f in review["findings"]] == [
        ("grant without ticket", "a@parsify.io", "Admin: a reason of some length"),
        ("expiring", "token ci", "expires never")]
    (token,) = review["tokens"]
    assert token == {"name": "ci", "permissionGroups": ["Access: Apps Read", f"unknown permission group {'f' * 32}"],
                     "scope": ["com.cloudflare.api.account.x"], "ipCondition": ["203.0.113.0/28"], "expires": None}
    assert "| ci | Access: Apps Read" in render_review(review) and "| **never** |" in render_review(review)


def test_who_gets_into_each_application_and_vercel_owners() -> None:
    group = _resource("cloudflare:index/zeroTrustAccessGroup:ZeroTrustAccessGroup", "g",
                      {"name": "sre", "includes": [{"email": {"email": "b@parsify.io"}}, {"everyone": {}}]})
    policy = _resource("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "p", {
        "name": "sre only", "decision": "allow", "sessionDuration": "8h",
        "includes": [{"group": {"id": "g"}}, {"email": {"email": "c@parsify.io"}}],
        "requires": [{"authMethod": {"authMethod": "hwk"}}, {"geo": {"countryCode": "DE"}}]}, {"includes": ["urn:g"]})
    bare = _resource("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "q",
                     {"name": "bare", "decision": "deny"})  # nothing included or required: admits no one
    app = _resource("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication", "a",
                    {"name": "Admin", "domain": "admin.parsify.io", "sessionDuration": "12h"},
                    {"policies": ["urn:p", "urn:gone", "urn:q"]})
    owner = _resource("vercel:index/teamMember:TeamMember", "v", {"email": "o@parsify.io", "role": "OWNER"})
    member = _resource("vercel:index/teamMember:TeamMember", "w", {"email": "d@parsify.io", "role": "MEMBER"})
    review = build_review(_doc(group, policy, bare, app, owner, member), TODAY)
    assert review["applications"] == [{"name": "Admin", "domain": "admin.parsify.io", "sessionDuration": "12h",
                                       "policies": [{"policy": "sre only", "decision": "allow",
                                                     "groups": [{"name": "sre", "emails": ["b@parsify.io"]}],
                                                     "emails": ["c@parsify.io"], "mfa": ["hwk"],
                                                     "sessionDuration": "8h"},
                                                    {"policy": "bare", "decision": "deny", "groups": [], "emails": [],
                                                     "mfa": [], "sessionDuration": None}]}]
    assert review["findings"] == [{"kind": "administrator", "subject": "o@parsify.io", "detail": "Vercel team OWNER"}]
    text = render_review(review)
    assert "| sre only | allow | sre (b@parsify.io) | c@parsify.io | hwk | 8h |" in text
    assert "## Findings (1)" in text and "- **administrator**: o@parsify.io (Vercel team OWNER)" in text


def test_the_review_is_a_markdown_document_with_one_table_per_section() -> None:
    # The weekly job posts this as an issue for the security team: headings, and tables GitHub renders (a header
    # row, a separator row of as many columns, then one row per entry). Lists in a cell are comma-separated, and
    # an empty one says what it means ("-", "any", "**none**", "**never**").
    group_type = "cloudflare:index/zeroTrustAccessGroup:ZeroTrustAccessGroup"
    group = _resource(group_type, "g", {"name": "sre", "includes": [{"email": {"email": "b@parsify.io"}},
                                                                   {"email": {"email": "e@x.io"}}]})
    policy = _resource("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "p",
                       {"name": "open", "decision": "allow", "sessionDuration": "1h",
                        "includes": [{"group": {"id": "g"}}, {"group": {"id": "h"}}]}, {"includes": ["urn:g", "urn:h"]})
    named = _resource("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "n", {
        "name": "named", "decision": "allow", "sessionDuration": "8h",
        "includes": [{"email": {"email": "c@parsify.io"}}, {"email": {"email": "f@parsify.io"}}],
        "requires": [{"authMethod": {"authMethod": "hwk"}}, {"authMethod": {"authMethod": "otp"}}]})
    other = _resource(group_type, "h", {"name": "ops", "includes": []})
    app = _resource("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication", "a",
                    {"name": "Admin", "domain": "admin.parsify.io", "sessionDuration": "12h"},
                    {"policies": ["urn:p", "urn:n"]})
    member = _resource("vercel:index/teamMember:TeamMember", "w", {"email": "d@parsify.io", "role": "MEMBER"})
    cf_member = _resource("cloudflare:index/accountMember:AccountMember", "m",
                          {"email": "dba@parsify.io", "roles": [PLAIN_ROLE, "9" * 32]})
    ranged = _resource("cloudflare:index/accountToken:AccountToken", "t", {
        "name": "deploy", "expiresOn": "2027-03-01T00:00:00Z",
        "policies": [{"permissionGroups": [{"id": GROUP}, {"id": "f" * 32}],
                      "resources": '{"com.cloudflare.api.account.x": "*", "com.cloudflare.api.account.y": "*"}'}],
        "condition": {"requestIp": {"ins": ["198.51.100.0/24", "2001:db8::/48"]}}})
    anywhere = _resource("cloudflare:index/accountToken:AccountToken", "u", {
        "name": "anywhere", "expiresOn": "2027-03-01T00:00:00Z",
        "policies": [{"permissionGroups": [{"id": GROUP}], "resources": '{"com.cloudflare.api.account.x": "*"}'}]})
    review = build_review(_doc(group, other, policy, named, app, member, cf_member, _token("2027-04-01T00:00:00Z"),
                               ranged, anywhere, grants=[_grant("2027-06-01")]), TODAY)
    assert render_review(review) == "\n".join([
        "# Access review: parsify/test (2026-11-27)", "",
        "## Findings (1)", "",
        f"- **unknown role**: dba@parsify.io (role ids {'9' * 32} are not in the pack's id table)", "",
        "## Cloudflare account members", "", "| Member | Roles |", "|---|---|",
        f"| dba@parsify.io | API Gateway Read, unknown role {'9' * 32} |", "",
        "## Zero Trust Access applications", "",
        "### Admin (`admin.parsify.io`, session 12h)", "",
        "| Policy | Decision | Groups (members) | Emails | MFA required | Session |", "|---|---|---|---|---|---|",
        "| open | allow | sre (b@parsify.io, e@x.io); ops () | - | **none** | 1h |",
        "| named | allow | - | c@parsify.io, f@parsify.io | hwk, otp | 8h |", "",
        "## Time-limited grants", "", "| Person | Application | Expires | Ticket | Reason |", "|---|---|---|---|---|",
        "| a@parsify.io | Admin | 2027-06-01 | OPS-1 | a reason of some length |", "",
        "## API tokens", "", "| Token | Permission groups | Scope | IP condition | Expires |", "|---|---|---|---|---|",
        f"| ci | Access: Apps Read, unknown permission group {'f' * 32} | com.cloudflare.api.account.x | "
        "203.0.113.0/28 | 2027-04-01T00:00:00Z |",
        f"| deploy | Access: Apps Read, unknown permission group {'f' * 32} | com.cloudflare.api.account.x, "
        "com.cloudflare.api.account.y | 198.51.100.0/24, 2001:db8::/48 | 2027-03-01T00:00:00Z |",
        "| anywhere | Access: Apps Read | com.cloudflare.api.account.x | any | 2027-03-01T00:00:00Z |",
        "", "## Vercel team", "", "| Member | Role |", "|---|---|", "| d@parsify.io | MEMBER |", ""])


def test_deprecated_type_names_and_left_out_keys_are_reviewed_too() -> None:
    # Provider 5 names (AccessApplication, AccessPolicy, AccessGroup, ApiToken) are still accepted by the provider
    # (shared/reference, provider type tokens); keys a user leaves out (no policies, no includes, no permission
    # groups) are empty lists, not a crash.
    group = _resource("cloudflare:index/accessGroup:AccessGroup", "g", {"name": "empty"})
    policy = _resource("cloudflare:index/accessPolicy:AccessPolicy", "p", {"name": "old", "decision": "allow"},
                       {"includes": ["urn:g"]})
    app = _resource("cloudflare:index/accessApplication:AccessApplication", "a", {"name": "Legacy"},
                    {"policies": ["urn:p"]})
    bare_app = _resource("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication", "b",
                         {"name": "Bare"})
    token = _resource("cloudflare:index/apiToken:ApiToken", "t", {"name": "legacy", "expiresOn": "2027-01-01T00:00:00Z",
                                                                  "policies": [{"resources": "{}"}]})
    no_policies = _resource("cloudflare:index/accountToken:AccountToken", "u", {"name": "empty"})
    two_admin = _resource("cloudflare:index/accountMember:AccountMember", "m", {
        "email": "root@parsify.io", "roles": [ADMIN_ROLE, "1" * 32, "2" * 32],
        "policies": [{"access": "allow", "permissionGroups": [{"id": "33666b9c79b9a5273fc7344ff42f953d"}]}]})
    review = build_review(_doc(group, policy, app, bare_app, token, no_policies, two_admin), TODAY)
    assert review["applications"] == [
        {"name": "Legacy", "domain": None, "sessionDuration": None,
         "policies": [{"policy": "old", "decision": "allow", "groups": [{"name": "empty", "emails": []}], "emails": [],
                       "mfa": [], "sessionDuration": None}]},
        {"name": "Bare", "domain": None, "sessionDuration": None, "policies": []}]
    assert review["tokens"] == [
        {"name": "legacy", "permissionGroups": [], "scope": [], "ipCondition": [], "expires": "2027-01-01T00:00:00Z"},
        {"name": "empty", "permissionGroups": [], "scope": [], "ipCondition": [], "expires": None}]
    assert [f["detail"] for f in review["findings"] if f["subject"] == "root@parsify.io"] == [
        "Cloudflare Administrator, Super Administrator - All Privileges",
        f"role ids {'1' * 32}, {'2' * 32} are not in the pack's id table"]
