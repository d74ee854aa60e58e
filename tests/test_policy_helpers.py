"""Direct unit tests of the pack's helpers and of single policies' logic."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from parsify_policies import ids, types, waivers
from parsify_policies.backups import bound, bucket_keys
from parsify_policies.pack import POLICIES
from parsify_policies.policies.api_token_no_wildcard_resources import wildcard_keys
from parsify_policies.policies.zone_setting_transport_security import problem
from parsify_policies.props import duration_hours
from parsify_policies.secretlike import detected, looks_secret, secret_reason
from parsify_policies.waivers import parse_waivers, problems
from pulumi_policy import PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs


@pytest.mark.parametrize("text, hours", [("24h", 24), ("30m", 0.5), ("1h30m", 1.5), ("90s", 0.025),
                                         ("500ms", 0.5 / 3600), ("1h500ms", 1 + 0.5 / 3600), ("86400000ms", 24)])
def test_duration_hours_reads_go_durations(text: str, hours: float) -> None:
    assert duration_hours(text) == pytest.approx(hours)


@pytest.mark.parametrize("text", ["", "1d", "24", "h24", "24h junk"])
def test_duration_hours_rejects_what_cloudflare_would(text: str) -> None:
    assert duration_hours(text) is None


def test_wildcards_are_found_at_any_depth() -> None:
    # Resource forms: docs fundamentals/api/how-to/create-via-api (reference D-TOK).
    assert wildcard_keys({"com.cloudflare.api.account.abc": "*"}) == []
    assert wildcard_keys({"*": "*"}) == ["*"]
    # "All zones of this account" is the nested form under a named account: a scope, not a wildcard.
    assert wildcard_keys({"com.cloudflare.api.account.abc": {"com.cloudflare.api.account.zone.*": "*"}}) == []
    assert wildcard_keys({"com.cloudflare.api.account.abc": '{"com.cloudflare.api.account.zone.*": "*"}'}) == []
    # Every zone of every account, and every account, are wildcards at any depth.
    assert wildcard_keys({"com.cloudflare.api.account.zone.*": "*"}) == ["com.cloudflare.api.account.zone.*"]
    assert wildcard_keys({"com.cloudflare.api.account.*": {"com.cloudflare.api.account.zone.*": "*"}}) == [
        "com.cloudflare.api.account.*", "com.cloudflare.api.account.zone.*"]
    assert wildcard_keys({"com.cloudflare.api.account.zone.abc": {"com.cloudflare.api.account.zone.*": "*"}}) == [
        "com.cloudflare.api.account.zone.*"]


@pytest.mark.parametrize("name, value", [
    ("DATABASE_PASSWORD", "x"),  # the name says so, whatever the value
    ("UPSTREAM", "Zq8vW3nR7tY2mK9pL4xC6bH1jF5dG0sA"),  # high entropy (detect-secrets' Base64 limit 4.5)
    ("ALERTS", "https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/q3X9fLmN2pR7sT4vW8yZ1aB6"),  # Slack webhook
    ("DATABASE_URL", "postgres://parsify:hunter2hunter2@db.internal:5432/core"),  # credentials in a URL
    ("PAGER", "https://events.example.com/v2/enqueue?token=5f0c2a9e1b7d4c3a"),  # a token in the query
    ("NEXT_PUBLIC_PAYMENTS", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),  # a Stripe secret key under a public name
    ("CI", "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB"),  # a GitHub token
])
def test_secrets_are_found_by_name_format_or_entropy(name: str, value: str) -> None:
    assert looks_secret(name, value)


@pytest.mark.parametrize("name, value", [
    ("API_URL", "https://api.parsify.io/v1/health/checks"),  # a URL without credentials
    ("ENVIRONMENT", "production"),
    ("MESSAGE", "the quick brown fox jumps over the lazy dog"),
    ("NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY", "pk_live_51HqLyjWDarjtT1zdp7dcZq8vW3nR7tY2mK9pL4xC6"),  # public by design
    ("TURNSTILE_SITE_KEY", "0x4AAAAAAABkMYinukE8nzYS"),  # Cloudflare Turnstile site keys are public
    ("NEXT_PUBLIC_API_TOKEN_HEADER", "x-parsify-client"),  # a public prefix outweighs TOKEN in the name
])
def test_public_values_and_names_by_convention_are_not_secrets(name: str, value: str) -> None:
    assert looks_secret(name, value) is None


def test_a_secret_name_counts_even_when_its_value_is_json() -> None:
    # The value is JSON without a secret in it; the name alone says it holds one.
    assert secret_reason("DB_PASSWORD", '{"user": "app"}') is not None
    assert secret_reason("DB_SETTINGS", '{"user": "app"}') is None


def test_nested_json_is_walked() -> None:
    assert secret_reason("CONFIG", '{"db": {"host": "db.internal", "password": "x"}}') == \
        "its name 'password' suggests a secret"
    assert secret_reason("TARGETS", [{"name": "API", "url": "https://api.parsify.io/healthz"}]) is None


def test_json_lists_are_walked_as_text_and_as_values() -> None:
    # A json binding or a plain_text value may hold a list; a key inside an element still counts, and list items
    # keep the list's own name (a public-by-convention list stays public).
    assert secret_reason("TARGETS", '[{"url": "https://api.parsify.io"}, {"password": "x"}]') == \
        "its name 'password' suggests a secret"
    assert secret_reason("TARGETS", [{"url": "https://api.parsify.io"}, {"password": "x"}]) == \
        "its name 'password' suggests a secret"
    assert secret_reason("SCOPES", '["read", "write"]') is None
    assert secret_reason("PUBLIC_KEYS", '["0x4AAAAAAABkMYinukE8nzYS"]') is None
    assert secret_reason("UPSTREAMS", '[ "not json') is None, "text that is not JSON is judged as text"


def test_zone_transport_values() -> None:
    assert problem("min_tls_version", "1.2") is None and problem("min_tls_version", "1.1")
    assert problem("ssl", "strict") is None and problem("ssl", "full")
    assert problem("always_use_https", "on") is None and problem("always_use_https", "off")
    assert problem("brotli", "off") is None


def _waiver(**overrides: Any) -> dict[str, Any]:
    return {"resources": ["web"], "ticket": "SEC-1", "reason": "r" * 20, "approver": "a@b.c",
            "expires": "2026-12-01", **overrides}


def test_waivers_cover_by_name_or_urn() -> None:
    (waiver,) = parse_waivers("p", {"waivers": [_waiver()]}, date(2026, 11, 27), {"web"})
    assert waiver.covers("urn:pulumi:prod::parsify::vercel:index/project:Project::web")
    assert not waiver.covers("urn:pulumi:prod::parsify::vercel:index/project:Project::webapp")


TODAY = date(2026, 11, 27)


@pytest.mark.parametrize("expires, valid", [
    ("2027-02-25", True),   # exactly 90 days after the plan date: the last valid day
    ("2027-02-26", False),  # 91 days
    ("2026-11-26", True),   # already expired: valid, reported as expired, no longer applied
])
def test_waiver_expiry_window_both_sides_of_the_boundary(expires: str, valid: bool) -> None:
    found = problems("p", {"waivers": [_waiver(expires=expires)]}, TODAY, {"web"})
    assert (found == []) is valid, found
    assert len(parse_waivers("p", {"waivers": [_waiver(expires=expires)]}, TODAY, {"web"})) == int(valid)


@pytest.mark.parametrize("entry, why", [
    ("SEC-1", "Waiver #1 of policy 'p' (waivers[0]) is not an object; it does not apply"),
    ({**_waiver(), "approver": ""}, "Waiver SEC-1 of policy 'p' (waivers[0]) is missing approver; it does not apply"),
    ({"resources": ["web"]}, "Waiver #1 of policy 'p' (waivers[0]) is missing reason, ticket, approver, expires"),
    (_waiver(expires="soon"), "Waiver SEC-1 of policy 'p' (waivers[0]) expires 'soon', which is not a date"),
    (_waiver(resources=["ghost"]), "(waivers[0]) names ghost, which is not a resource of this stack"),
    (_waiver(expires="2027-03-01"), "Waiver SEC-1 of policy 'p' (waivers[0]) expires 2027-03-01, more than 90 days "
                                    "after the plan date 2026-11-27; waivers are time-limited; it does not apply"),
], ids=["not an object", "empty approver", "missing keys", "not a date", "unknown resource", "too long"])
def test_a_waiver_that_cannot_apply_says_why(entry: Any, why: str) -> None:
    (found,) = problems("p", {"waivers": [entry]}, TODAY, {"web"})
    assert why in found
    assert parse_waivers("p", {"waivers": [entry]}, TODAY, {"web"}) == [], "and it is not applied"


def test_a_resource_policy_reports_only_the_waivers_naming_its_resource() -> None:
    config = {"waivers": [_waiver(resources=["web"], expires="2028-01-01"),
                          _waiver(resources=["api"], ticket="SEC-2", expires="2028-01-01")]}
    (found,) = problems("p", config, TODAY, None, subject="urn:pulumi:prod::parsify::vercel:index/project:Project::api")
    assert found.startswith("Waiver SEC-2 of policy 'p' (waivers[1]) expires 2028-01-01")
    assert problems("p", config, TODAY, None, subject="urn:other::db") == []
    assert len(problems("p", config, TODAY, None)) == 2, "without a subject, every waiver is judged"
    assert problems("p", {}, TODAY, None) == [] and problems("p", {"waivers": None}, TODAY, None) == []


def test_a_waiver_describes_itself_for_the_ledger() -> None:
    (waiver,) = parse_waivers("p", {"waivers": [_waiver(resources=["web", "urn:x::api"])]}, TODAY, None)
    assert waiver.describe() == {"policy": "p", "ticket": "SEC-1", "reason": "r" * 20, "approver": "a@b.c",
                                 "expires": "2026-12-01", "resources": ["web", "urn:x::api"]}
    assert waiver.covers("urn:y::web") and waiver.covers("urn:x::api"), "by name, or by the full URN"
    assert not waiver.covers("urn:y::api") and not waiver.covers("urn:x::db")


def test_waiver_active_until_the_end_of_its_expiry_day() -> None:
    (waiver,) = parse_waivers("p", {"waivers": [_waiver(expires="2026-12-01")]}, TODAY, {"web"})
    assert waiver.active(date(2026, 12, 1)) and not waiver.active(date(2026, 12, 2))


OPTS = PolicyResourceOptions(False, [], None, [], None, [])  # type: ignore[arg-type]
WEB = "urn:pulumi:prod::parsify::vercel:index/project:Project::web"
UNPROTECTED = "Project 'web' deployment protection is none. Set vercel_authentication.deployment_type to " \
              "standard_protection_new or all_deployments."
DB = "urn:pulumi:prod::parsify::cloudflare:index/d1Database:D1Database::db"
NO_BACKUP = "D1Database 'db' has no scheduled backup. Bind it to the backup Worker (which also binds the R2 backup " \
            "bucket and has a cron trigger)."


def _as_the_cli_runs_it(monkeypatch: pytest.MonkeyPatch, policy: str, config: dict[str, Any]
                        ) -> list[tuple[str, str | None]]:
    """(message, urn) of what one policy reports when `pulumi preview --policy-pack` runs the pack alone, on the
    unprotected Vercel project web (a resource policy) or the unbacked-up database db (a stack policy)."""
    monkeypatch.setenv("PARSIFY_PLAN_DATE", "2026-11-27")
    found: list[tuple[str, str | None]] = []
    validate = next(p for p in POLICIES if p.name == policy).validate

    def report(message: str, urn: str | None = None) -> None:
        found.append((message, urn))

    if policy == "vercel-project-deployment-protection":
        props = {"name": "web", "vercelAuthentication": {"deploymentType": "none"}}
        validate(ResourceValidationArgs("vercel:index/project:Project", props, WEB, "web", OPTS, None, config), report)
    else:
        db = PolicyResource("cloudflare:index/d1Database:D1Database", {"name": "core"}, DB, "db", OPTS, None, None,
                            [], {})
        validate(StackValidationArgs([db], config), report)
    return found


def test_the_pack_itself_refuses_bad_waivers_as_the_real_cli_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # `pulumi preview --policy-pack` runs the pack alone: its own code reports a waiver that is too long (on
    # the resource it names; one naming another resource is that resource's business) or, where the policy sees
    # the stack, names no resource, as a violation that no waiver covers, and does not apply it.
    too_long = [_waiver(expires="2027-06-01"), _waiver(resources=["api"], ticket="SEC-9", expires="2027-06-01")]
    assert _as_the_cli_runs_it(monkeypatch, "vercel-project-deployment-protection", {"waivers": too_long}) == [
        ("Waiver SEC-1 of policy 'vercel-project-deployment-protection' (waivers[0]) expires 2027-06-01, more than 90 "
         "days after the plan date 2026-11-27; waivers are time-limited; it does not apply.", WEB),
        (UNPROTECTED, None)]
    # A waiver naming a resource the stack does not have is refused whole, even where it names one it has.
    ghost = [_waiver(resources=["db", "ghost"], ticket="SEC-2")]
    assert _as_the_cli_runs_it(monkeypatch, "d1-database-has-scheduled-backup", {"waivers": ghost}) == [
        ("Waiver SEC-2 of policy 'd1-database-has-scheduled-backup' (waivers[0]) names ghost, which is not a "
         "resource of this stack; it does not apply.", None),
        (NO_BACKUP, DB)]


def test_the_pack_applies_a_waiver_as_the_real_cli_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The waiver for web comes after one for another resource: it still applies, and the gate's ledger says so.
    config = {"waivers": [_waiver(resources=["api"], ticket="SEC-8"), _waiver()]}
    waivers.LEDGER.clear()
    assert _as_the_cli_runs_it(monkeypatch, "vercel-project-deployment-protection", config) == []
    assert waivers.LEDGER == [{
        "policy": "vercel-project-deployment-protection", "urn": WEB, "message": UNPROTECTED, "status": "waived",
        "waiver": {"policy": "vercel-project-deployment-protection", "ticket": "SEC-1", "reason": "r" * 20,
                   "approver": "a@b.c", "expires": "2026-12-01", "resources": ["web"]}}]
    # Expired: the violation is reported again, saying which waiver no longer covers it.
    expired = {"waivers": [_waiver(expires="2026-11-26")]}
    assert _as_the_cli_runs_it(monkeypatch, "vercel-project-deployment-protection", expired) == [
        (UNPROTECTED + " Waiver SEC-1 for this resource expired on 2026-11-26 and no longer applies.", None)]


def _token_verdicts(monkeypatch: pytest.MonkeyPatch, expires_on: str, zone: str) -> list[str]:
    """What api-token-expires says of a token, planned on 2026-11-27 on a machine in time zone `zone`."""
    monkeypatch.setenv("PARSIFY_PLAN_DATE", "2026-11-27")
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        policy = next(p for p in POLICIES if p.name == "api-token-expires")
        opts = PolicyResourceOptions(False, [], None, [], None, [])  # type: ignore[arg-type]
        found: list[str] = []
        policy.validate(ResourceValidationArgs(
            "cloudflare:index/accountToken:AccountToken", {"name": "ci", "expiresOn": expires_on},
            "urn:pulumi:prod::parsify::cloudflare:index/accountToken:AccountToken::t", "t", opts, None, {}),
            lambda message, urn=None: found.append(message))
    finally:
        monkeypatch.undo()
        time.tzset()
    return found


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Kiritimati"])
def test_token_expiry_is_judged_in_utc_whatever_the_machine_s_time_zone(monkeypatch: pytest.MonkeyPatch,
                                                                        zone: str) -> None:
    # RFC 3339: 22:00 at -05:00 on 2027-02-25 is 03:00 UTC on 2027-02-26, day 91 after 2026-11-27. A runner in
    # another time zone (the engine runs the pack on the operator's machine) must reach the same verdict.
    found = _token_verdicts(monkeypatch, "2027-02-25T22:00:00-05:00", zone)
    assert len(found) == 1 and "expires on 2027-02-26, beyond the 90-day maximum (2027-02-25)" in found[0], found


def test_values_inside_json_are_judged_by_value_and_list_items_keep_their_list_s_name() -> None:
    assert secret_reason("TARGETS", {"url": "Zq8vW3nR7tY2mK9pL4xC6bH1jF5dG0sA"}) == \
        "its value for 'url' looks like a Base64 High Entropy String"
    assert secret_reason("SCOPES", ["read", "write"]) is None
    assert secret_reason("API_TOKEN", ["x"]) == "its name 'API_TOKEN' suggests a secret"


@pytest.mark.parametrize("value, kind", [
    ("Zq8vW3nR7tY2mK9pL4xC6bH1jF5dG0sA", "a Base64 High Entropy String"),  # entropy is judged by default
    ("0123456789abcdef0123", "a Hex High Entropy String"),  # exactly MIN_ENTROPY_LENGTH (20) characters
    ("0123456789abcdef012", None),  # one under: too short to judge by entropy
    ("https://api.parsify.io/search?q=hello&token=", None),  # an empty token parameter carries nothing
    ("https://api.parsify.io/cb?token=abc123", "a URL carrying a 'token' parameter"),
    ("https://api.parsify.io/Zq8vW3nR7tY2mK9pL4xC6bH1jF5dG0sA", None),  # a URL's path is not judged by entropy
])
def test_what_the_value_detector_finds(value: str, kind: str | None) -> None:
    assert detected(value) == kind


def test_without_entropy_only_token_formats_count() -> None:
    assert detected("Zq8vW3nR7tY2mK9pL4xC6bH1jF5dG0sA", entropy=False) is None
    assert detected("xoxb-2401234567-2401234567890-Zq8vW3nR7tY2mK9pL4xC6bH1", entropy=False) == "a Slack Token"


def test_every_powerful_permission_group_says_why() -> None:
    # A token that holds one is refused with this reason (api-token-no-powerful-permission-groups); each entry of
    # the id table carries its source (shared/reference, Cloudflare API token permission groups).
    table = json.loads((Path(ids.__file__).parent / "data" / "cloudflare_ids.json").read_text(encoding="utf-8"))
    powerful = {gid: e for gid, e in table["permissionGroups"].items() if e["powerful"]}
    assert powerful and all(e.get("whyPowerful") and e.get("source") for e in powerful.values())
    assert all(ids.permission_group(gid) == (e["name"], True, e["whyPowerful"]) for gid, e in powerful.items())


@pytest.mark.parametrize("expires_on, verdict", [
    ("2026-11-27T00:00:00Z", None),  # expires today (the plan date): not yet expired
    ("2026-11-26T23:59:59Z", "expired on 2026-11-26"),
    ("2027-02-25T23:59:59Z", None),  # the last day of the 90-day maximum
    ("2027-02-26T00:00:00Z", "beyond the 90-day maximum (2027-02-25)"),
    ("2027-02-25T23:30:00", None),  # no offset: UTC as Cloudflare reads it, not the machine's zone (here UTC-8)
    ("2027-02-25t23:59:59z", None),  # RFC 3339 5.6: "T" and "Z" may be written in lower case
    ("2027-02-26t00:00:00z", "beyond the 90-day maximum (2027-02-25)"),
], ids=["today", "yesterday", "last allowed day", "one day over", "no offset", "lower case",
        "lower case, one day over"])
def test_token_expiry_both_sides_of_today_and_of_the_maximum(monkeypatch: pytest.MonkeyPatch, expires_on: str,
                                                             verdict: str | None) -> None:
    # Cloudflare API token expires_on is an RFC 3339 date-time (reference D-TOK); the pack's maximum is 90 days.
    found = _token_verdicts(monkeypatch, expires_on, "America/Los_Angeles")
    assert [verdict in m for m in found] == ([True] if verdict else []), found


def test_numbers_and_booleans_are_not_secrets_whatever_the_name() -> None:
    assert looks_secret("TOKEN_LIFETIME_SECONDS", "3600") is None
    assert looks_secret("AUTH_ENABLED", True) is None
    assert looks_secret("AUTH_MODE", "oidc") == "its name 'AUTH_MODE' suggests a secret"


def test_a_lifecycle_names_its_bucket_by_dependency_or_by_a_literal_name() -> None:
    opts = PolicyResourceOptions(False, [], None, [], None, [])  # type: ignore[arg-type]
    bucket = PolicyResource("cloudflare:index/r2Bucket:R2Bucket", {"name": "backups"}, "urn:b", "b", opts, None, None,
                            [], {})
    literal = PolicyResource("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", {"bucketName": "backups"},
                             "urn:l", "l", opts, None, None, [], {})  # no dependency recorded for a literal name
    linked = PolicyResource("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle", {"bucketName": "backups"},
                            "urn:m", "m", opts, None, None, [], {"bucketName": [bucket]})
    assert bucket_keys(literal) == {"backups"} and bucket_keys(linked) == {"urn:b", "backups"}
    script = PolicyResource("cloudflare:index/workersScript:WorkersScript", {"scriptName": "w"}, "urn:w", "w", opts,
                            None, None, [], {})  # no binding depends on a declared resource
    assert bound(script, types.R2_BUCKET) == set()


def test_an_application_without_dependencies_is_judged_by_its_inline_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    # Property dependencies may leave out a property that has none: an application whose policies are all
    # inline may have no "policies" entry, and that must not make the Access policies fail closed.
    monkeypatch.setenv("PARSIFY_PLAN_DATE", "2026-11-27")
    inline = {"decision": "allow", "includes": [{"email": {"email": "a@parsify.io"}}],
              "requires": [{"authMethod": {"authMethod": "mfa"}}]}
    app = PolicyResource("cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication",
                         {"name": "Admin", "policies": [inline]}, "urn:pulumi:prod::parsify::app::admin", "admin",
                         OPTS, None, None, [], {})
    found: list[str] = []
    for name in ("access-policy-requires-mfa", "access-policy-no-public-include"):
        next(p for p in POLICIES if p.name == name).validate(StackValidationArgs([app], {}),
                                                             lambda message, urn=None: found.append(message))
    assert found == []
