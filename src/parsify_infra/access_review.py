"""Who and what can reach what, from the declared state: the weekly access review and the expiry report."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from parsify_policies import ids, types
from parsify_policies.policies.account_member_admin_break_glass_only import granted_ids
from parsify_policies.props import token_resources

EXPIRY_WINDOW_DAYS = 14


def _of_type(doc: dict[str, Any], family: types.Family) -> list[dict[str, Any]]:
    """The resources of one of the pack's type families: current and deprecated type names alike."""
    return [r for r in doc["resources"] if r["type"] in family]


def _date(text: str) -> date:
    return datetime.fromisoformat(text).date()  # Python 3.11 reads a trailing "Z" as UTC


def build_review(doc: dict[str, Any], today: date, waivers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    by_urn = {r["urn"]: r for r in doc["resources"]}
    soon = today + timedelta(days=EXPIRY_WINDOW_DAYS)
    findings: list[dict[str, str]] = []

    members = []
    for m in _of_type(doc, types.ACCOUNT_MEMBER):
        # What the pack judges: roles and the permission groups of allowing member policies, by the pack's ids.
        entries = [(rid, ids.role(rid)) for _, rid in granted_ids(m["inputs"])]
        members.append({"email": m["inputs"]["email"],
                        "roles": [e.name if e else f"unknown role {rid}" for rid, e in entries]})
        admin = sorted({e.name for _, e in entries if e and e.administrator_level})
        if admin:
            findings.append({"kind": "administrator", "subject": m["inputs"]["email"],
                             "detail": f"Cloudflare {', '.join(admin)}"})
        unknown = [rid for rid, e in entries if e is None]
        if unknown:
            findings.append({"kind": "unknown role", "subject": m["inputs"]["email"],
                             "detail": f"role ids {', '.join(unknown)} are not in the pack's id table"})

    def admitted(policy: dict[str, Any]) -> dict[str, Any]:
        groups, emails = [], []
        for dep in policy["propertyDependencies"].get("includes", []):
            group = by_urn.get(dep)
            if group:
                groups.append({"name": group["inputs"]["name"],
                               "emails": [i["email"]["email"] for i in group["inputs"].get("includes", [])
                                          if "email" in i]})
        emails = [i["email"]["email"] for i in policy["inputs"].get("includes", []) if "email" in i]
        methods = [r["authMethod"]["authMethod"] for r in policy["inputs"].get("requires", []) if "authMethod" in r]
        return {"policy": policy["inputs"].get("name"), "decision": policy["inputs"].get("decision"),
                "groups": groups, "emails": emails, "mfa": methods,
                "sessionDuration": policy["inputs"].get("sessionDuration")}

    applications = []
    for app in _of_type(doc, types.ACCESS_APPLICATION):
        policies = [by_urn[u] for u in app["propertyDependencies"].get("policies", []) if u in by_urn]
        applications.append({"name": app["inputs"].get("name"), "domain": app["inputs"].get("domain"),
                             "sessionDuration": app["inputs"].get("sessionDuration"),
                             "policies": [admitted(p) for p in policies]})

    grants = list(doc["outputs"].get("accessGrants", []))
    for grant in grants:
        if not grant.get("ticket"):
            findings.append({"kind": "grant without ticket", "subject": grant["person"],
                             "detail": f"{grant['application']}: {grant['reason']}"})
        if date.fromisoformat(grant["expires"]) <= soon:
            findings.append({"kind": "expiring", "subject": f"grant {grant['person']} -> {grant['application']}",
                             "detail": f"expires {grant['expires']}"})

    tokens = []
    for t in _of_type(doc, types.TOKENS):
        inputs = t["inputs"]
        policies = inputs.get("policies", [])
        groups = [ids.permission_group_name(g["id"]) or f"unknown permission group {g['id']}"
                  for p in policies for g in p.get("permissionGroups", [])]
        scope = sorted({k for p in policies for k in token_resources(p)})  # JSON string or map, as the pack
        expires = inputs.get("expiresOn")
        tokens.append({"name": inputs.get("name"), "permissionGroups": groups, "scope": scope,
                       "ipCondition": (inputs.get("condition") or {}).get("requestIp", {}).get("ins", []),
                       "expires": expires})
        if expires is None or _date(expires) <= soon:
            findings.append({"kind": "expiring", "subject": f"token {inputs.get('name')}",
                             "detail": f"expires {expires or 'never'}"})

    vercel = [{"email": m["inputs"].get("email"), "role": m["inputs"].get("role")}
              for m in _of_type(doc, types.VERCEL_MEMBER)]
    findings += [{"kind": "administrator", "subject": m["email"], "detail": "Vercel team OWNER"}
                 for m in vercel if m["role"] == "OWNER"]
    for waiver in waivers or []:
        if date.fromisoformat(waiver["expires"]) <= soon:
            findings.append({"kind": "expiring", "subject": f"waiver {waiver['ticket']} ({waiver['policy']})",
                             "detail": f"expires {waiver['expires']}"})

    return {"project": doc["project"], "stack": doc["stack"], "asOf": today.isoformat(),
            "members": members, "applications": applications, "grants": grants, "tokens": tokens,
            "vercelTeam": vercel, "findings": findings}


def expiring(review: dict[str, Any]) -> list[dict[str, str]]:
    return [f for f in review["findings"] if f["kind"] == "expiring"]


def render_review(review: dict[str, Any]) -> str:
    out = [f"# Access review: {review['project']}/{review['stack']} ({review['asOf']})", "",
           f"## Findings ({len(review['findings'])})", ""]
    out += [f"- **{f['kind']}**: {f['subject']} ({f['detail']})" for f in review["findings"]] or ["- none"]
    out += ["", "## Cloudflare account members", "", "| Member | Roles |", "|---|---|"]
    out += [f"| {m['email']} | {', '.join(m['roles'])} |" for m in review["members"]]
    out += ["", "## Zero Trust Access applications", ""]
    for app in review["applications"]:
        out += [f"### {app['name']} (`{app['domain']}`, session {app['sessionDuration']})", "",
                "| Policy | Decision | Groups (members) | Emails | MFA required | Session |",
                "|---|---|---|---|---|---|"]
        for p in app["policies"]:
            groups = "; ".join(f"{g['name']} ({', '.join(g['emails'])})" for g in p["groups"]) or "-"
            out.append(f"| {p['policy']} | {p['decision']} | {groups} | {', '.join(p['emails']) or '-'} | "
                       f"{', '.join(p['mfa']) or '**none**'} | {p['sessionDuration']} |")
        out.append("")
    out += ["## Time-limited grants", "", "| Person | Application | Expires | Ticket | Reason |",
            "|---|---|---|---|---|"]
    out += [f"| {g['person']} | {g['application']} | {g['expires']} | {g.get('ticket') or '**none**'} | "
            f"{g['reason']} |" for g in review["grants"]]
    out += ["", "## API tokens", "", "| Token | Permission groups | Scope | IP condition | Expires |",
            "|---|---|---|---|---|"]
    out += [f"| {t['name']} | {', '.join(t['permissionGroups'])} | {', '.join(t['scope'])} | "
            f"{', '.join(t['ipCondition']) or 'any'} | {t['expires'] or '**never**'} |" for t in review["tokens"]]
    out += ["", "## Vercel team", "", "| Member | Role |", "|---|---|"]
    out += [f"| {m['email']} | {m['role']} |" for m in review["vercelTeam"]]
    return "\n".join(out) + "\n"
