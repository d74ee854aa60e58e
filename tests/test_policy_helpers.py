"""Direct unit tests of the pack's helpers and of single policies' logic."""

from __future__ import annotations

import pytest
from parsify_policies.policies.api_token_no_wildcard_resources import wildcard_keys
from parsify_policies.policies.zone_setting_transport_security import problem
from parsify_policies.props import duration_hours
from parsify_policies.secretlike import looks_secret
from parsify_policies.waivers import parse_waivers


@pytest.mark.parametrize("text, hours", [("24h", 24), ("30m", 0.5), ("1h30m", 1.5), ("90s", 0.025)])
def test_duration_hours_reads_go_durations(text: str, hours: float) -> None:
    assert duration_hours(text) == pytest.approx(hours)


@pytest.mark.parametrize("text", ["", "1d", "24", "h24", "24h junk"])
def test_duration_hours_rejects_what_cloudflare_would(text: str) -> None:
    with pytest.raises(ValueError):
        duration_hours(text)


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


def test_secret_detection_by_name_and_entropy_but_not_urls_or_words() -> None:
    assert looks_secret("DATABASE_PASSWORD", "x")
    assert looks_secret("UPSTREAM", "Zq8vW3nR7tY2mK9pL4xC6bH1jF5dG0sA")
    assert looks_secret("API_URL", "https://api.parsify.io/v1/health/checks") is None
    assert looks_secret("ENVIRONMENT", "production") is None
    assert looks_secret("MESSAGE", "the quick brown fox jumps over the lazy dog") is None


def test_zone_transport_values() -> None:
    assert problem("min_tls_version", "1.2") is None and problem("min_tls_version", "1.1")
    assert problem("ssl", "strict") is None and problem("ssl", "full")
    assert problem("always_use_https", "on") is None and problem("always_use_https", "off")
    assert problem("brotli", "off") is None


def test_waivers_cover_by_name_or_urn() -> None:
    (waiver,) = parse_waivers("p", {"waivers": [{"resources": ["web"], "ticket": "SEC-1", "reason": "r" * 20,
                                                 "approver": "a@b.c", "expires": "2026-12-01"}]})
    assert waiver.covers("urn:pulumi:prod::parsify::vercel:index/project:Project::web")
    assert not waiver.covers("urn:pulumi:prod::parsify::vercel:index/project:Project::webapp")
