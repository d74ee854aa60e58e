"""Access never lets the public in: no allow rule that admits people at large, no bypass, and no service
auth that admits people. Judged on the effective audience (parsify_policies/access.py), through the Access
groups and identity providers the program declares."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity, StackValidationArgs

from parsify_policies import access, handbook, types
from parsify_policies.framework import PolicyMeta, Report, stack_policy

# Consumer mailbox providers anyone can sign up with. The list can never be complete: set organizationDomains
# in the stack's pack config, and every other domain counts as public.
PUBLIC_EMAIL_DOMAINS = [
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com", "yahoo.co.uk",
    "yahoo.co.jp", "yahoo.fr", "ymail.com", "rocketmail.com", "icloud.com", "me.com", "mac.com", "aol.com",
    "proton.me", "protonmail.com", "pm.me", "tutanota.com", "tuta.io", "gmx.com", "gmx.net", "gmx.de", "web.de",
    "t-online.de", "mail.com", "zoho.com", "fastmail.com", "hey.com", "yandex.ru", "yandex.com", "mail.ru",
    "qq.com", "163.com", "126.com", "naver.com", "libero.it", "orange.fr", "free.fr", "comcast.net"]

META = PolicyMeta(
    name="access-policy-no-public-include",
    description="Access policies never admit the public: no everyone, internet-wide IP ranges, countries, "
                "public email domains or one-time PIN logins, no bypass, and no service auth for people.",
    severity=Severity.CRITICAL, level=EnforcementLevel.MANDATORY, section=handbook.LEAST_PRIVILEGE,
    kind="stack", resource_types=(types.ACCESS_POLICY + types.ACCESS_APPLICATION + types.ACCESS_GROUP
                                  + types.ACCESS_IDENTITY_PROVIDER),
    remediation="Include named Access groups or individual emails (declared in the program), or require one "
                "next to a network or country rule; use service auth only with service tokens or mTLS.",
    config={"publicEmailDomains": {"type": "array", "items": {"type": "string"}, "default": PUBLIC_EMAIL_DOMAINS},
            "organizationDomains": {"type": "array", "items": {"type": "string"}, "default": []}},
)


def check(args: StackValidationArgs, report: Report, config: dict[str, Any]) -> None:
    ctx = access.Context(list(args.resources), [d.lower() for d in config["publicEmailDomains"]], [],
                         [d.lower() for d in config["organizationDomains"]])
    for a in access.admissions(ctx):
        if a.decision == "bypass":
            report(f"{a.label} is a bypass: matching requests reach the application with no login, no MFA and "
                   "no access log. Use an allow policy with named people, or waive this with a ticket.", a.urn)
            continue
        if a.decision == "non_identity" and a.reach.people:
            report(f"{a.label} is service auth (non_identity) but its rules admit people or networks, not only "
                   "service tokens or certificates. Include service tokens only.", a.urn)
        for who in a.reach.public:
            report(f"{a.label} admits {who}. Include named Access groups or emails instead, or require one.", a.urn)
        for what in a.reach.unknown:
            report(f"{a.label} includes {what}, so the pack cannot show who it admits. Declare it in the "
                   "program, or waive this with a ticket.", a.urn)


POLICY = stack_policy(META, check)
