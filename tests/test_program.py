"""What the program declares for each real stack, checked against that stack's config."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from tests.conftest import PLAN_DATE, REPO, resources_of

Stack = tuple[str, dict[str, Any], dict[str, Any]]


def by_name(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["name"] == name)


def test_every_database_is_declared_protected_with_its_placement(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    databases = {r["inputs"]["name"]: r for r in resources_of(plan, ":D1Database")}
    assert sorted(databases) == sorted(db["name"] for db in config["databases"])
    for spec in config["databases"]:
        d1 = databases[spec["name"]]
        # protect refuses a delete; retain_on_delete leaves the data in Cloudflare if the program drops it
        assert (d1["protect"], d1["retainOnDelete"]) == (True, True)
        assert d1["inputs"].get("primaryLocationHint") == spec.get("locationHint")
        assert d1["inputs"].get("jurisdiction") == spec.get("jurisdiction")
        assert d1["inputs"]["readReplication"] == {"mode": spec["readReplication"]}
        assert d1["parent"].endswith(f"parsify:data:Database::db-{spec['name']}")


def test_backup_job_binds_every_database_the_bucket_and_a_cron(stack_plan: Stack) -> None:
    stack, plan, config = stack_plan
    script = by_name(plan, "backup-job-script")
    d1_urns = {r["urn"] for r in resources_of(plan, ":D1Database")}
    assert set(script["propertyDependencies"]["bindings"]) >= d1_urns
    d1_bindings = sorted(b["name"] for b in script["inputs"]["bindings"] if b["type"] == "d1")
    assert d1_bindings == sorted("DB_" + db["name"].upper().replace("-", "_") for db in config["databases"])
    bindings = {b["name"]: b for b in script["inputs"]["bindings"]}
    assert bindings["BACKUPS"] == {"type": "r2_bucket", "name": "BACKUPS", "bucketName": config["backups"]["bucket"]}
    assert bindings["BACKUP_QUEUE"] == {"type": "queue", "name": "BACKUP_QUEUE",
                                        "queueName": f"parsify-{stack}-backup-continue"}
    assert bindings["ALERT_WEBHOOK_URL"] == {"type": "secret_text", "name": "ALERT_WEBHOOK_URL", "text": "[secret]"}
    consumer = by_name(plan, "backup-job-queue-consumer")["inputs"]
    assert consumer["type"] == "worker" and consumer["scriptName"] == f"parsify-{stack}-backup"
    assert script["inputs"]["mainModule"] == "index.js"
    assert "export default" in script["inputs"]["content"] and "manifest.json" in script["inputs"]["content"]
    cron = by_name(plan, "backup-job-cron")
    assert cron["inputs"]["schedules"] == [{"cron": config["backups"]["schedule"]}, {"cron": "0 14 * * *"}]
    assert cron["inputs"]["scriptName"] == f"parsify-{stack}-backup"


def test_backup_bucket_retention_and_object_lock_follow_config(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    bucket = by_name(plan, "backups-bucket")
    assert bucket["protect"] and bucket["retainOnDelete"] and bucket["inputs"]["name"] == config["backups"]["bucket"]
    rule = by_name(plan, "backups-lifecycle")["inputs"]["rules"][0]
    assert rule["deleteObjectsTransition"]["condition"] == {
        "type": "Age", "maxAge": config["backups"]["retentionDays"] * 86400}
    lock = by_name(plan, "backups-lock")["inputs"]["rules"][0]
    assert lock["condition"] == {"type": "Age", "maxAgeSeconds": config["backups"]["immutableDays"] * 86400}


def test_api_worker_has_module_syntax_d1_secrets_logs_and_domain(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    spec = config["apiWorker"]
    script = by_name(plan, "api-script")["inputs"]
    bindings = {b["name"]: b for b in script["bindings"]}
    assert bindings["DB"]["type"] == "d1"
    for name in spec["secrets"]:
        assert bindings[name] == {"type": "secret_text", "name": name, "text": "[secret]"}
    for name, value in spec["vars"].items():
        assert bindings[name] == {"type": "plain_text", "name": name, "text": value}
    assert script["observability"] == {"enabled": True, "logs": {"enabled": True, "invocationLogs": True}}
    assert script["compatibilityDate"] == spec["compatibilityDate"]
    assert by_name(plan, "api-domain")["inputs"]["hostname"] == spec["hostname"]


def test_zone_is_hardened(stack_plan: Stack) -> None:
    _, plan, _ = stack_plan
    settings = {r["inputs"]["settingId"]: r["inputs"]["value"] for r in resources_of(plan, ":ZoneSetting")}
    assert settings["min_tls_version"] == "1.2"
    assert settings["always_use_https"] == "on"
    assert settings["ssl"] == "strict"
    assert settings["security_header"]["strict_transport_security"]["enabled"] is True


def test_access_apps_require_mfa_and_expired_grants_are_not_declared(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    policies = resources_of(plan, ":ZeroTrustAccessPolicy")
    for policy in policies:
        assert policy["inputs"]["decision"] == "allow"
        assert any("authMethod" in rule for rule in policy["inputs"]["requires"])
    names = " ".join(p["inputs"]["name"] for p in policies)
    today = date.fromisoformat(PLAN_DATE)
    grants = config["access"]["grants"]
    assert any(date.fromisoformat(str(g["expires"])) < today for g in grants), "config keeps an expired grant"
    for grant in grants:
        active = date.fromisoformat(str(grant["expires"])) >= today
        assert (f"temporary grant to {grant['person']}" in names) == active
    apps = {r["inputs"]["name"]: r for r in resources_of(plan, ":ZeroTrustAccessApplication")}
    assert sorted(apps) == sorted(a["name"] for a in config["access"]["applications"])
    account = resources_of(plan, "index/account:Account")[0]
    assert account["inputs"]["settings"] == {"enforceTwofactor": True}


def test_members_get_role_ids_looked_up_by_name(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    fixtures = json.loads((REPO / "fixtures/invokes.json").read_text())["invokes"]
    role_ids = {r["name"]: r["id"] for f in fixtures if f["invoke"].endswith("getAccountRoles")
                for r in f["result"]["results"]}
    members = {r["inputs"]["email"]: r["inputs"]["roles"] for r in resources_of(plan, ":AccountMember")}
    assert members == {m["email"]: [role_ids[n] for n in m["roles"]] for m in config["members"]}


def test_tokens_are_scoped_expiring_and_ip_bound_where_configured(stack_plan: Stack) -> None:
    stack, plan, config = stack_plan
    tokens = {r["inputs"]["name"]: r["inputs"] for r in resources_of(plan, ":AccountToken")}
    for spec in config["tokens"]:
        token = tokens[f"parsify-{stack}-{spec['name']}"]
        assert token["expiresOn"] == f"{spec['expires']}T00:00:00Z"
        (policy,) = token["policies"]
        scope = (f"com.cloudflare.api.account.{config['accountId']}" if spec["scope"] == "account"
                 else f"com.cloudflare.api.account.zone.{config['zone']['id']}")
        assert json.loads(policy["resources"]) == {scope: "*"}
        assert len(policy["permissionGroups"]) == len(spec["permissionGroups"])
        if spec.get("allowedIps"):
            assert token["condition"] == {"requestIp": {"ins": spec["allowedIps"]}}


def test_health_checks_and_alert_routes(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    checks = {r["inputs"]["address"]: r for r in resources_of(plan, ":Healthcheck")}
    assert sorted(checks) == sorted(h["hostname"] for h in config["monitoring"]["healthchecks"])
    health_policy = by_name(plan, "monitoring-critical-health-check-status-notification")
    assert set(health_policy["propertyDependencies"]["filters"]) == {c["urn"] for c in checks.values()}
    mechanisms = health_policy["inputs"]["mechanisms"]
    assert set(mechanisms) == {"emails", "webhooks", "pagerduties"}
    assert mechanisms["pagerduties"] == [{"id": config["monitoring"]["channels"]["pagerdutyDestinationId"]}]
    warning = by_name(plan, "monitoring-warning-billing-usage-alert")["inputs"]["mechanisms"]
    assert set(warning) == {"emails", "webhooks"}, "unused mechanisms are left out (empty lists drift)"
    assert by_name(plan, "monitoring-slack")["inputs"]["url"] == "[secret]"


def test_logpush_ships_both_datasets_with_secret_credentials(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    jobs = {r["inputs"]["dataset"]: r["inputs"] for r in resources_of(plan, ":LogpushJob")}
    assert sorted(jobs) == sorted(config["logs"]["datasets"])
    assert all(job["destinationConf"] == "[secret]" for job in jobs.values())
    assert "accountId" in jobs["workers_trace_events"] and "zoneId" in jobs["http_requests"]


def test_vercel_project_protection_domains_env_and_members(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    spec = config["frontend"]
    project = by_name(plan, "frontend-project")["inputs"]
    assert project["vercelAuthentication"] == {"deploymentType": spec["deploymentProtection"]}
    domains = sorted(r["inputs"]["domain"] for r in resources_of(plan, ":ProjectDomain"))
    assert domains == sorted(spec["domains"])
    env = {r["inputs"]["key"]: r["inputs"] for r in resources_of(plan, ":ProjectEnvironmentVariable")}
    for var in spec["env"]:
        assert env[var["key"]]["sensitive"] is ("secret" in var)
        # the Vercel SDK marks every variable value secret, so none reaches the plan
        assert env[var["key"]]["value"] == "[secret]"
    members = {r["inputs"]["email"]: r["inputs"]["role"] for r in resources_of(plan, ":TeamMember")}
    assert members == {m["email"]: m["role"] for m in spec["members"]}


def test_components_parent_their_children_and_use_parsify_type_tokens(stack_plan: Stack) -> None:
    _, plan, _ = stack_plan
    components = {r["urn"] for r in plan["resources"] if not r["custom"] and r["type"] != "pulumi:pulumi:Stack"}
    assert all(r["type"].startswith("parsify:") for r in plan["resources"] if r["urn"] in components)
    for resource in plan["resources"]:
        if resource["custom"]:
            assert resource["parent"] in components, f"{resource['name']} has no component parent"


def test_outputs_name_the_platform(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    outputs = plan["outputs"]
    assert outputs["apiHostname"] == config["apiWorker"]["hostname"]
    assert sorted(outputs["databases"]) == sorted(db["name"] for db in config["databases"])
    assert outputs["backupSchedule"] == config["backups"]["schedule"]


def test_component_type_tokens_name_their_module(stack_plan: Stack) -> None:
    """`parsify:<module>:<Name>` lives in `stacks/<module>.py`: the change record's reviewers rely on it."""
    _, plan, _ = stack_plan
    for resource in plan["resources"]:
        if resource["type"].startswith("parsify:"):
            module = resource["type"].split(":")[1]
            assert (REPO / "stacks" / f"{module}.py").is_file(), resource["type"]


def test_synthetic_monitor_probes_the_configured_targets_against_the_slos(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    spec = config["monitoring"]["synthetic"]
    manifest = json.loads((REPO / "workers" / "monitor" / "worker.json").read_text())
    script = by_name(plan, "synthetic-script")["inputs"]
    assert script["compatibilityDate"] == manifest["compatibilityDate"] and script["mainModule"] == manifest["main"]
    bindings = {b["name"]: b for b in script["bindings"]}
    assert json.loads(bindings["MONITOR_TARGETS"]["json"]) == spec["targets"]
    settings = json.loads(bindings["MONITOR_SETTINGS"]["json"])
    # The manifest's settings reach the Worker as they are; the stack's SLOs, rules and windows beside them.
    assert {k: settings[k] for k in manifest["settings"] if not k.startswith("$")} == {
        k: v for k, v in manifest["settings"].items() if not k.startswith("$")}
    assert settings["slo"] == {k: config["slo"][k] for k in
                               ("availabilityPercent", "p95LatencyMs", "errorRatePercent", "budgetDays")}
    assert settings["burnAlerts"] == config["slo"]["burnAlerts"]
    assert [(w["summary"], w["targets"]) for w in settings["maintenance"]] == [
        (w["summary"], w["targets"]) for w in spec["maintenance"]]
    assert settings["routes"]["critical"] == ["pagerduty", "slack", "email"]
    assert "pagerduty" not in settings["routes"]["warning"]
    # The reports cover every database the backup Worker backs up (it reports them to the monitor).
    assert settings["reportDatabases"] == [db["name"] for db in config["databases"]]
    for secret in ("SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "EMAIL_API_KEY"):
        assert bindings[secret] == {"type": "secret_text", "name": secret, "text": "[secret]"}
    monitor_db = next(r for r in resources_of(plan, ":D1Database") if r["inputs"]["name"] == spec["database"])
    assert monitor_db["urn"] in by_name(plan, "synthetic-script")["propertyDependencies"]["bindings"]
    assert bindings[manifest["databaseBinding"]]["type"] == "d1"
    reports = spec["reports"]
    assert by_name(plan, "synthetic-cron")["inputs"]["schedules"] == [
        {"cron": c} for c in (manifest["probeCron"], reports["morning"], reports["evening"], reports["weekly"])]
    assert by_name(plan, "synthetic-domain")["inputs"]["hostname"] == spec["hostname"]
    assert plan["outputs"]["statusPage"] == f"https://{spec['hostname']}/"


def test_the_status_page_has_a_health_check_that_pages(stack_plan: Stack) -> None:
    """The monitor watches itself from outside: a Cloudflare health check on /status.json (503 when stale),
    routed to PagerDuty."""
    _, plan, config = stack_plan
    host = config["monitoring"]["synthetic"]["hostname"]
    check = next(r for r in resources_of(plan, ":Healthcheck") if r["inputs"]["address"] == host)
    assert check["inputs"]["httpConfig"]["path"] == "/status.json"
    policy = by_name(plan, "monitoring-critical-health-check-status-notification")["inputs"]
    assert policy["mechanisms"]["pagerduties"]
    assert check["urn"] in by_name(plan, "monitoring-critical-health-check-status-notification")[
        "propertyDependencies"]["filters"]


def test_the_email_provider_records_are_declared_in_the_zone(stack_plan: Stack) -> None:
    _, plan, config = stack_plan
    dns = config["monitoring"]["channels"]["emailDns"]
    sender = config["monitoring"]["channels"].get("emailFrom", "monitor@parsify.io").split("@")[1]
    below = sender.removesuffix(config["zone"]["name"]).removesuffix(".")
    suffix = f".{below}" if below else ""
    records = {(r["inputs"]["type"], r["inputs"]["name"]): r["inputs"] for r in resources_of(plan, ":DnsRecord")
               if r["name"].startswith("monitoring-email-")}
    assert records[("MX", f"send{suffix}")]["content"] == f"feedback-smtp.{dns['region']}.amazonses.com"
    assert records[("MX", f"send{suffix}")]["priority"] == 10
    assert records[("TXT", f"send{suffix}")]["content"] == "v=spf1 include:amazonses.com ~all"
    assert records[("TXT", f"resend._domainkey{suffix}")]["content"] == f"p={dns['dkimPublicKey']}"


def test_public_monitor_has_no_access_to_backups_or_application_databases(stack_plan: Stack) -> None:
    """Least privilege: the monitor serves the public status page, so a bug or an injection there must not
    reach production data or backups. It binds no R2 bucket (R2 has no read-only binding) and no D1
    database but its own; it binds nothing that can call another Worker either."""
    _, plan, config = stack_plan
    spec = config["monitoring"]["synthetic"]
    script = by_name(plan, "synthetic-script")
    bindings = script["inputs"]["bindings"]
    assert [b for b in bindings if b["type"] == "r2_bucket"] == []
    own = next(r for r in resources_of(plan, ":D1Database") if r["inputs"]["name"] == spec["database"])
    d1 = [b for b in bindings if b["type"] == "d1"]
    assert len(d1) == 1 and d1[0]["name"] == "MONITOR_DB"
    other_dbs = {r["urn"] for r in resources_of(plan, ":D1Database")} - {own["urn"]}
    assert not other_dbs & set(script["propertyDependencies"]["bindings"])
    assert {b["type"] for b in bindings} <= {"d1", "json", "plain_text", "secret_text"}


def test_backup_worker_reports_to_the_monitor_entrypoint_over_a_service_binding(stack_plan: Stack) -> None:
    """The backup Worker, which already has the databases and the bucket, reports each run to the
    monitor's named entrypoint (workers/monitor/worker.json), bound by the names both manifests declare."""
    _, plan, _ = stack_plan
    backup_manifest = json.loads((REPO / "workers" / "backup" / "worker.json").read_text())
    monitor_manifest = json.loads((REPO / "workers" / "monitor" / "worker.json").read_text())
    monitor = by_name(plan, "synthetic-script")
    backup = by_name(plan, "backup-job-script")
    services = [b for b in backup["inputs"]["bindings"] if b["type"] == "service"]
    assert services == [{"type": "service", "name": backup_manifest["monitorBinding"],
                         "service": monitor["inputs"]["scriptName"],
                         "entrypoint": monitor_manifest["backupReportsEntrypoint"]}]
    # Declared from the monitor's script: the monitor is created (and deployed) before the binding to it.
    assert monitor["urn"] in backup["propertyDependencies"]["bindings"]
    assert f"export class {monitor_manifest['backupReportsEntrypoint']} extends WorkerEntrypoint" in (
        monitor["inputs"]["content"])
