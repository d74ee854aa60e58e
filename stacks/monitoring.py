"""Monitors: a health check per public hostname, alert routes by severity to Slack, email, PagerDuty."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
from pydantic import BaseModel, ConfigDict, Field

from stacks.access import slug
from stacks.backups import backup_worker_manifest
from stacks.config import StackConfig
from stacks.edge import logs_on, worker_source

HEALTH_ALERT = "health_check_status_notification"
CHECK_REGIONS = ["WEU", "ENAM", "SEAS"]


class Monitoring(pulumi.ComponentResource):
    """Cloudflare health checks and the notification policies that route their alerts."""

    healthchecks: list[cloudflare.Healthcheck]

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = cfg.monitoring
        self.healthchecks = [
            cloudflare.Healthcheck(
                f"{name}-hc-{slug(check.hostname)}", zone_id=cfg.zone.id, name=f"{check.hostname}{check.path}",
                address=check.hostname, type="HTTPS", interval=check.interval, retries=2, timeout=5,
                consecutive_fails=2, consecutive_successes=2, check_regions=CHECK_REGIONS,
                http_config=cloudflare.HealthcheckHttpConfigArgs(
                    method="GET", path=check.path, port=443, expected_codes=check.expected_codes,
                    follow_redirects=False, allow_insecure=False),
                opts=child)
            for check in spec.healthchecks
        ]
        slack = None
        if spec.channels.slack_webhook_secret:
            slack = cloudflare.NotificationPolicyWebhooks(
                f"{name}-slack", account_id=cfg.account_id, name=f"parsify-{cfg.environment}-slack",
                url=cfg.secret(spec.channels.slack_webhook_secret), opts=child)
        for route in spec.routes:
            # Only the channels a route uses: empty mechanism lists drift against the API.
            mechanisms = cloudflare.NotificationPolicyMechanismsArgs(
                emails=[cloudflare.NotificationPolicyMechanismsEmailArgs(id=e) for e in spec.channels.emails]
                if "email" in route.channels else None,
                webhooks=[cloudflare.NotificationPolicyMechanismsWebhookArgs(id=slack.id)]
                if "slack" in route.channels and slack else None,
                pagerduties=[cloudflare.NotificationPolicyMechanismsPagerdutyArgs(
                    id=spec.channels.pagerduty_destination_id)] if "pagerduty" in route.channels else None,
            )
            for alert_type in route.alert_types:
                filters = None
                if alert_type == HEALTH_ALERT:
                    filters = cloudflare.NotificationPolicyFiltersArgs(
                        health_check_ids=[hc.id for hc in self.healthchecks], statuses=["Unhealthy"])
                cloudflare.NotificationPolicy(
                    f"{name}-{route.severity}-{alert_type.replace('_', '-')}", account_id=cfg.account_id,
                    name=f"[{route.severity}] {alert_type}", alert_type=alert_type, enabled=True,
                    mechanisms=mechanisms, filters=filters, opts=child)
        if spec.channels.email_dns:
            self._email_records(name, cfg)
        self.register_outputs({"healthchecks": [c.hostname for c in spec.healthchecks]})

    def _email_records(self, name: str, cfg: StackConfig) -> None:
        """Resend's records for sending as channels.emailFrom: MX and SPF on the bounce subdomain, the DKIM
        key (https://resend.com/docs/add-a-domain; Domain Connect template resend.com.mail.json)."""
        dns = cfg.monitoring.channels.email_dns
        assert dns is not None
        domain = cfg.monitoring.channels.email_from.split("@")[1]
        below = domain.removesuffix(cfg.zone.name).removesuffix(".")  # "" when sending from the apex
        suffix = f".{below}" if below else ""
        child = pulumi.ResourceOptions(parent=self)
        bounce = f"{dns.bounce_subdomain}{suffix}"
        cloudflare.DnsRecord(f"{name}-email-mx", zone_id=cfg.zone.id, name=bounce, type="MX",
                             content=f"feedback-smtp.{dns.region}.amazonses.com", priority=10, ttl=1, opts=child)
        cloudflare.DnsRecord(f"{name}-email-spf", zone_id=cfg.zone.id, name=bounce, type="TXT",
                             content="v=spf1 include:amazonses.com ~all", ttl=1, opts=child)
        cloudflare.DnsRecord(f"{name}-email-dkim", zone_id=cfg.zone.id, name=f"resend._domainkey{suffix}", type="TXT",
                             content=f"p={dns.dkim_public_key}", ttl=1, opts=child)


MONITOR_DIR = "workers/monitor"


class _Manifest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class MonitorWorkerManifest(_Manifest):
    """`workers/monitor/worker.json`: what the deploy and the Worker tests share (read by both)."""

    main: str
    compatibility_date: str = Field(alias="compatibilityDate")
    database_binding: str = Field(alias="databaseBinding")
    # The named entrypoint (WorkerEntrypoint class) the backup Worker reports each run to.
    backup_reports_entrypoint: str = Field(alias="backupReportsEntrypoint", pattern=r"^[A-Z][A-Za-z0-9_]*$")
    probe_cron: str = Field(alias="probeCron")
    # Passed through to the Worker as they are (its MONITOR_SETTINGS); the "$..." keys say why each is set.
    settings: dict[str, Any]


def monitor_worker_manifest(worker_dir: str = MONITOR_DIR) -> MonitorWorkerManifest:
    return MonitorWorkerManifest.model_validate_json(Path(worker_dir, "worker.json").read_text(encoding="utf-8"))


def monitor_settings(cfg: StackConfig, manifest: MonitorWorkerManifest,
                     report_databases: list[str]) -> dict[str, Any]:
    """MONITOR_SETTINGS: the manifest's settings and the stack's SLOs, burn-rate rules, maintenance windows,
    alert routes and report schedules, in the Worker's names."""
    spec = cfg.monitoring.synthetic
    assert spec is not None
    channels = cfg.monitoring.channels
    routes: dict[str, list[str]] = {}
    for route in cfg.monitoring.routes:
        routes.setdefault(route.severity, [])
        routes[route.severity] += [c for c in route.channels if c not in routes[route.severity]]
    reports = spec.reports
    return {
        **{k: v for k, v in manifest.settings.items() if not k.startswith("$")},
        "databaseBinding": manifest.database_binding,
        "slo": {"availabilityPercent": cfg.slo.availability_percent, "p95LatencyMs": cfg.slo.p95_latency_ms,
                "errorRatePercent": cfg.slo.error_rate_percent, "budgetDays": cfg.slo.budget_days},
        "burnAlerts": [rule.model_dump(by_alias=True) for rule in cfg.slo.burn_alerts],
        "routes": routes,
        "maintenance": [{"start": w.start.isoformat(), "end": w.end.isoformat(), "targets": w.targets,
                         "summary": w.summary} for w in spec.maintenance],
        "reports": {"morning": reports.morning, "evening": reports.evening, "weekly": reports.weekly},
        "reportChannels": reports.channels,
        # The databases the backup Worker reports on: one that never reports shows as NONE, not as absent.
        "reportDatabases": report_databases,
        # A backup older than the backup Worker's own limit is stale in the morning report too.
        "backupMaxAgeHours": backup_worker_manifest().max_age_hours,
        "emailTo": channels.emails,
        "emailFrom": channels.email_from,
    }


class SyntheticMonitor(pulumi.ComponentResource):
    """`workers/monitor`: probes the configured endpoints every minute, alerts on error-budget burn rates
    (PagerDuty, Slack, email), sends the daily and weekly reports and serves the status page."""

    script: cloudflare.WorkersScript

    def __init__(self, name: str, cfg: StackConfig, database: cloudflare.D1Database, reported: list[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:monitoring:SyntheticMonitor", name, None, opts)
        spec = cfg.monitoring.synthetic
        assert spec is not None
        manifest = monitor_worker_manifest()
        channels = cfg.monitoring.channels
        child = pulumi.ResourceOptions(parent=self)
        # Least privilege: a public Worker, bound to its own database only. The backups and sizes of the other
        # databases reach the reports from the backup Worker (its service binding to BackupReports).
        settings = monitor_settings(cfg, manifest, reported)

        def json_binding(binding: str, value: object) -> cloudflare.WorkersScriptBindingArgs:
            return cloudflare.WorkersScriptBindingArgs(type="json", name=binding, json=json.dumps(value))

        bindings = [
            cloudflare.WorkersScriptBindingArgs(type="d1", name=manifest.database_binding, id=database.uuid),
            # The policy pack counts these targets as monitoring coverage (monitoring-public-hostname-covered).
            json_binding("MONITOR_TARGETS", [t.model_dump() for t in spec.targets]),
            json_binding("MONITOR_SETTINGS", settings),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="STATUS_TITLE", text="Parsify status"),
        ]
        # Config validation guarantees every routed channel has these (stacks/config.py, _channels_configured).
        if channels.email_api_url:
            bindings.append(cloudflare.WorkersScriptBindingArgs(type="plain_text", name="EMAIL_API_URL",
                                                                text=channels.email_api_url))
        for binding, key in (("SLACK_WEBHOOK_URL", channels.slack_webhook_secret),
                             ("PAGERDUTY_ROUTING_KEY", channels.pagerduty_routing_key_secret),
                             ("EMAIL_API_KEY", channels.email_api_key_secret)):
            if key:
                bindings.append(cloudflare.WorkersScriptBindingArgs(type="secret_text", name=binding,
                                                                    text=cfg.secret(key)))
        self.script = cloudflare.WorkersScript(
            f"{name}-script", account_id=cfg.account_id, script_name=spec.script_name,
            content=worker_source(MONITOR_DIR, manifest.main), main_module=manifest.main,
            compatibility_date=manifest.compatibility_date, bindings=bindings, observability=logs_on(), opts=child)
        schedules = list(dict.fromkeys([manifest.probe_cron, spec.reports.morning, spec.reports.evening,
                                        spec.reports.weekly]))
        cloudflare.WorkersCronTrigger(
            f"{name}-cron", account_id=cfg.account_id, script_name=self.script.script_name,
            schedules=[cloudflare.WorkersCronTriggerScheduleArgs(cron=c) for c in schedules], opts=child)
        cloudflare.WorkersCustomDomain(
            f"{name}-domain", account_id=cfg.account_id, zone_id=cfg.zone.id, hostname=spec.hostname,
            service=self.script.script_name, opts=child)
        self.register_outputs({"statusPage": f"https://{spec.hostname}/", "targets": [t.url for t in spec.targets],
                               "budget": f"https://{spec.hostname}/budget.json"})
