"""Monitors: a health check per public hostname, alert routes by severity to Slack, email, PagerDuty."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from stacks.access import slug
from stacks.config import StackConfig

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
