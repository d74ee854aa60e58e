"""Monitors: a health check per public hostname, alert routes by severity to Slack, email, PagerDuty."""

from __future__ import annotations

import json

import pulumi
import pulumi_cloudflare as cloudflare

from stacks.access import slug
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
        self.register_outputs({"healthchecks": [c.hostname for c in spec.healthchecks]})


MONITOR_COMPATIBILITY_DATE = "2026-04-01"


class SyntheticMonitor(pulumi.ComponentResource):
    """`workers/monitor`: probes the configured endpoints every minute, computes availability, p95 latency
    and error rate against the SLOs, alerts by severity (PagerDuty, Slack, email) and serves the status page."""

    script: cloudflare.WorkersScript

    def __init__(self, name: str, cfg: StackConfig, database: cloudflare.D1Database,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:monitoring:SyntheticMonitor", name, None, opts)
        spec = cfg.monitoring.synthetic
        assert spec is not None
        channels = cfg.monitoring.channels
        child = pulumi.ResourceOptions(parent=self)
        slo = {"availabilityPercent": cfg.slo.availability_percent, "p95LatencyMs": cfg.slo.p95_latency_ms,
               "errorRatePercent": cfg.slo.error_rate_percent, "windowMinutes": spec.window_minutes}
        routes: dict[str, list[str]] = {}
        for route in cfg.monitoring.routes:
            routes.setdefault(route.severity, [])
            routes[route.severity] += [c for c in route.channels if c not in routes[route.severity]]

        def json_binding(binding: str, value: object) -> cloudflare.WorkersScriptBindingArgs:
            return cloudflare.WorkersScriptBindingArgs(type="json", name=binding, json=json.dumps(value))

        bindings = [
            cloudflare.WorkersScriptBindingArgs(type="d1", name="MONITOR_DB", id=database.uuid),
            # The policy pack counts these targets as monitoring coverage (monitoring-public-hostname-covered).
            json_binding("MONITOR_TARGETS", [t.model_dump() for t in spec.targets]),
            json_binding("SLO", slo),
            json_binding("ALERT_ROUTES", routes),
            json_binding("EMAIL_TO", channels.emails),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="EMAIL_FROM", text=channels.email_from),
            cloudflare.WorkersScriptBindingArgs(type="plain_text", name="STATUS_TITLE", text="Parsify status"),
        ]
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
            content=worker_source("workers/monitor", "index.js"), main_module="index.js",
            compatibility_date=MONITOR_COMPATIBILITY_DATE, bindings=bindings, observability=logs_on(), opts=child)
        cloudflare.WorkersCronTrigger(
            f"{name}-cron", account_id=cfg.account_id, script_name=self.script.script_name,
            schedules=[cloudflare.WorkersCronTriggerScheduleArgs(cron="* * * * *")], opts=child)
        cloudflare.WorkersCustomDomain(
            f"{name}-domain", account_id=cfg.account_id, zone_id=cfg.zone.id, hostname=spec.hostname,
            service=self.script.script_name, opts=child)
        self.register_outputs({"statusPage": f"https://{spec.hostname}/", "targets": [t.url for t in spec.targets]})
