"""Typed, validated stack configuration (`Pulumi.<stack>.yaml`, namespace `parsify:`).

Every value the operations team edits lives here as a pydantic model. Bad config raises
`StackConfigError` with one line naming the file and the key; the program never starts
declaring resources with half-valid config.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

NAMESPACE = "parsify"

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
Hostname = Annotated[str, StringConstraints(pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")]
CloudflareId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
ResourceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
# Cloudflare Access durations, e.g. "30m", "8h", "24h".
Duration = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(m|h)$")]
SecretKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]*$")]


def _check_cron(expr: str) -> str:
    if len(expr.split()) != 5:
        raise ValueError("must be a five-field cron expression such as '0 3 * * *'")
    return expr


Cron = Annotated[str, AfterValidator(_check_cron)]


class StackConfigError(ValueError):
    """Bad stack configuration: the message is one line naming the file and the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"Pulumi.{pulumi.get_stack()}.yaml: key {NAMESPACE}:{key}: {message}")


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class Zone(Model):
    id: CloudflareId
    name: Hostname


class WorkerSpec(Model):
    script_name: ResourceName
    hostname: Hostname
    source_dir: str = "workers/api"
    main_module: str = "index.js"
    compatibility_date: date
    database: str = Field(description="Name of the D1 database bound as DB.")
    vars: dict[str, str] = {}
    # binding name -> config key of a Pulumi secret
    secrets: dict[str, SecretKey] = {}


class DatabaseSpec(Model):
    name: ResourceName
    location_hint: Literal["wnam", "enam", "weur", "eeur", "apac", "oc"] | None = None
    jurisdiction: Literal["eu", "fedramp"] | None = None
    read_replication: Literal["auto", "disabled"] = "auto"
    owner: str = "dba"

    @model_validator(mode="after")
    def _one_placement(self) -> DatabaseSpec:
        if (self.location_hint is None) == (self.jurisdiction is None):
            raise ValueError("set exactly one of locationHint or jurisdiction")
        return self


class BackupSpec(Model):
    bucket: ResourceName
    schedule: Cron = "0 3 * * *"
    retention_days: int = Field(ge=1, le=3650)
    immutable_days: int = Field(ge=0, le=365)
    location: Literal["wnam", "enam", "weur", "eeur", "apac", "oc"] = "weur"

    @model_validator(mode="after")
    def _lock_within_retention(self) -> BackupSpec:
        if self.immutable_days > self.retention_days:
            raise ValueError("immutableDays cannot exceed retentionDays")
        return self


class LogsSpec(Model):
    bucket: ResourceName
    retention_days: int = Field(ge=1, le=3650)
    datasets: list[Literal["workers_trace_events", "http_requests"]] = Field(min_length=1)
    access_key_id_secret: SecretKey
    secret_access_key_secret: SecretKey


class DnsRecordSpec(Model):
    name: str
    type: Literal["A", "AAAA", "CNAME", "TXT", "MX"]
    content: str
    proxied: bool = False
    ttl: int = 1
    priority: int | None = None


class AccessGroupSpec(Model):
    name: str
    emails: list[Email] = Field(min_length=1)


class AccessAppSpec(Model):
    name: str
    domain: Hostname
    groups: list[str] = Field(min_length=1)
    session_duration: Duration = "8h"
    auth_method: Literal["mfa", "hwk", "swk"] = "mfa"


class GrantSpec(Model):
    person: Email
    application: str
    reason: str = Field(min_length=10)
    ticket: str | None = None
    expires: date


class AccessSpec(Model):
    groups: list[AccessGroupSpec] = []
    applications: list[AccessAppSpec] = []
    grants: list[GrantSpec] = []


class MemberSpec(Model):
    email: Email
    roles: list[str] = Field(min_length=1)


class TokenSpec(Model):
    name: str
    purpose: str
    permission_groups: list[str] = Field(min_length=1)
    scope: Literal["account", "zone"]
    expires: date
    allowed_ips: list[IPv4Network | IPv6Network] = []


class HealthcheckSpec(Model):
    hostname: Hostname
    path: str = "/healthz"
    interval: int = Field(default=60, ge=15, le=3600)
    expected_codes: list[str] = ["200"]


class EmailDnsSpec(Model):
    """The records the email provider (Resend) needs to send from the zone: an MX and an SPF TXT record on
    the bounce subdomain, and the DKIM key (https://resend.com/docs/add-a-domain; the records of Resend's
    Domain Connect template, github.com/Domain-Connect/Templates resend.com.mail.json)."""

    region: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}-[a-z]+-[0-9]$")] = "eu-west-1"
    bounce_subdomain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$")] = "send"
    dkim_public_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{100,}={0,2}$")]


class AlertChannels(Model):
    emails: list[Email] = []
    pagerduty_destination_id: str | None = None
    slack_webhook_secret: SecretKey | None = None
    # For the synthetic monitor, which alerts on its own (Cloudflare has no SLO alert types):
    pagerduty_routing_key_secret: SecretKey | None = None
    email_api_url: Annotated[str, StringConstraints(pattern=r"^https://")] | None = None
    email_api_key_secret: SecretKey | None = None
    email_from: Email = "monitor@parsify.io"
    email_dns: EmailDnsSpec | None = None


class SyntheticTarget(Model):
    name: str
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^/\s]+")]


class MaintenanceWindow(Model):
    """A declared maintenance window: announced on the status page, no paging for its targets while it
    runs, reported in the SLO figures; prod deploys of destructive or security-sensitive changes need one."""

    start: AwareDatetime
    end: AwareDatetime
    targets: list[str] = []  # empty: every target
    summary: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.end <= self.start:
            raise ValueError(f"maintenance window '{self.summary}' ends before it starts")
        return self


class ReportSchedule(Model):
    """The handbook's routines (UTC): morning report, evening summary, Friday performance report."""

    morning: Cron = "0 9 * * *"
    evening: Cron = "0 19 * * *"
    weekly: Cron = "0 16 * * 5"
    channels: list[Literal["slack", "email"]] = Field(default=["slack"], min_length=1)


class SyntheticSpec(Model):
    """The monitor Worker: probes every minute, burn-rate alerts, maintenance windows, reports, status page."""

    script_name: ResourceName
    hostname: Hostname
    database: str
    targets: list[SyntheticTarget] = Field(min_length=1)
    maintenance: list[MaintenanceWindow] = []
    reports: ReportSchedule = ReportSchedule()

    @model_validator(mode="after")
    def _windows_name_targets(self) -> SyntheticSpec:
        names = {t.name for t in self.targets}
        for i, window in enumerate(self.maintenance):
            unknown = sorted(set(window.targets) - names)
            if unknown:
                raise ValueError(f"key parsify:monitoring.synthetic.maintenance[{i}].targets: {unknown} are not "
                                 f"targets {sorted(names)}")
        return self


class AlertRoute(Model):
    severity: Literal["critical", "warning", "info"]
    alert_types: list[str] = Field(min_length=1)
    channels: list[Literal["slack", "email", "pagerduty"]] = Field(min_length=1)


class MonitoringSpec(Model):
    healthchecks: list[HealthcheckSpec] = []
    channels: AlertChannels
    routes: list[AlertRoute] = []
    synthetic: SyntheticSpec | None = None

    @model_validator(mode="after")
    def _channels_configured(self) -> MonitoringSpec:
        """A routed channel must have what it needs to send: a channel skipped at 3 a.m. is a lost page."""
        c = self.channels
        needs: dict[str, list[tuple[str, object]]] = {
            "slack": [("slackWebhookSecret", c.slack_webhook_secret)],
            "email": [("emails", c.emails)],
            "pagerduty": [("pagerdutyDestinationId", c.pagerduty_destination_id)],
        }
        if self.synthetic:  # the monitor Worker sends on its own: the Events API key, the email API and key
            needs["pagerduty"].append(("pagerdutyRoutingKeySecret", c.pagerduty_routing_key_secret))
            needs["email"] += [("emailApiUrl", c.email_api_url), ("emailApiKeySecret", c.email_api_key_secret)]
        routed = [(f"route '{r.severity}'", ch) for r in self.routes for ch in r.channels]
        if self.synthetic:
            routed += [("reports", ch) for ch in self.synthetic.reports.channels]
        for where, channel in routed:
            missing = [key for key, value in needs[channel] if not value]
            if missing:
                raise ValueError(f"key parsify:monitoring.channels.{missing[0]}: {where} sends to {channel}, which "
                                 f"needs it; set it, or take {channel} out of the route")
        if self.synthetic and c.email_api_url and urlsplit(c.email_api_url).hostname == "api.resend.com" \
                and c.email_dns is None and any(ch == "email" for _, ch in routed):
            raise ValueError("key parsify:monitoring.channels.emailDns: Resend sends from the zone only with its SPF "
                             "and DKIM records; set emailDns (dkimPublicKey from the Resend dashboard)")
        if self.synthetic and not any(h.hostname == self.synthetic.hostname and h.path == "/status.json"
                                      for h in self.healthchecks):
            raise ValueError(f"key parsify:monitoring.healthchecks: no health check on "
                             f"{self.synthetic.hostname}/status.json: nothing outside the monitor would page when it "
                             "stops; add {hostname: " + self.synthetic.hostname + ", path: /status.json}")
        if self.synthetic and not any(r.severity == "critical" and "pagerduty" in r.channels and
                                      "health_check_status_notification" in r.alert_types for r in self.routes):
            raise ValueError("key parsify:monitoring.routes: no critical route pages (pagerduty) on "
                             "health_check_status_notification: the monitor's own health check would page nobody")
        return self


class BurnAlert(Model):
    """A multi-window burn-rate rule (Google SRE workbook, "Alerting on SLOs"): it fires when the error
    budget burns at `factor` or faster over both windows; the short window makes it reset quickly."""

    severity: Literal["critical", "warning"]
    factor: float = Field(gt=0)
    # Raw probes are kept 4 days (workers/monitor/worker.json probeRetentionDays): no longer window.
    long_minutes: int = Field(ge=5, le=5760)
    short_minutes: int = Field(ge=1)

    @model_validator(mode="after")
    def _short_inside_long(self) -> BurnAlert:
        if self.short_minutes >= self.long_minutes:
            raise ValueError("shortMinutes must be shorter than longMinutes")
        return self


# The workbook's recommended rules for a 99.9% SLO over 30 days: page at 2% of the budget in 1 h and 5% in
# 6 h, ticket at 10% in 3 days.
WORKBOOK_BURN_ALERTS = [
    BurnAlert(severity="critical", factor=14.4, long_minutes=60, short_minutes=5),
    BurnAlert(severity="critical", factor=6, long_minutes=360, short_minutes=30),
    BurnAlert(severity="warning", factor=1, long_minutes=4320, short_minutes=360),
]


class SloSpec(Model):
    availability_percent: float = Field(default=99.9, gt=0, lt=100)
    p95_latency_ms: int = Field(default=500, gt=0)
    error_rate_percent: float = Field(default=1.0, gt=0, le=100)
    budget_days: int = Field(default=30, ge=1, le=90)
    burn_alerts: list[BurnAlert] = Field(default=WORKBOOK_BURN_ALERTS, min_length=1)

    @model_validator(mode="after")
    def _one_rule_pages(self) -> SloSpec:
        if not any(rule.severity == "critical" for rule in self.burn_alerts):
            raise ValueError("key parsify:slo.burnAlerts: no rule pages (severity critical): a fast burn would "
                             "spend the budget unnoticed")
        return self


class VercelEnvVar(Model):
    key: str
    value: str | None = None
    secret: SecretKey | None = None
    targets: list[Literal["production", "preview", "development"]] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> VercelEnvVar:
        if (self.value is None) == (self.secret is None):
            raise ValueError("set exactly one of value or secret")
        return self


class VercelMember(Model):
    email: Email
    role: Literal["OWNER", "MEMBER", "DEVELOPER", "VIEWER", "BILLING"]


class FrontendSpec(Model):
    project_name: ResourceName
    team_id: str
    framework: str = "nextjs"
    git_repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    deployment_protection: Literal["standard_protection_new", "standard_protection", "all_deployments",
                                   "only_preview_deployments"] = (
        "standard_protection"
    )
    domains: list[Hostname] = []
    env: list[VercelEnvVar] = []
    members: list[VercelMember] = []


class StackConfig(Model):
    environment: Literal["prod", "staging"]
    account_id: CloudflareId
    account_name: str
    zone: Zone
    api_worker: WorkerSpec
    databases: list[DatabaseSpec] = Field(min_length=1)
    backups: BackupSpec
    logs: LogsSpec
    dns: list[DnsRecordSpec] = []
    access: AccessSpec = AccessSpec()
    members: list[MemberSpec] = []
    tokens: list[TokenSpec] = []
    monitoring: MonitoringSpec
    slo: SloSpec = SloSpec()
    frontend: FrontendSpec
    # Every `parsify:` key stored with `pulumi config set --secret`, by key.
    secrets: dict[str, SecretStr] = {}

    @model_validator(mode="after")
    def _references_resolve(self) -> StackConfig:
        names = [db.name for db in self.databases]
        if len(set(names)) != len(names):
            raise ValueError("key parsify:databases: database names must be unique")
        if self.api_worker.database not in names:
            raise ValueError(f"key parsify:apiWorker.database: '{self.api_worker.database}' is not one of the "
                             f"databases {names}")
        synthetic = self.monitoring.synthetic
        if synthetic and synthetic.database not in names:
            raise ValueError(f"key parsify:monitoring.synthetic.database: '{synthetic.database}' is not one of the "
                             f"databases {names}")
        channels = self.monitoring.channels
        sender = channels.email_from.split("@")[1]
        if channels.email_dns and not (sender == self.zone.name or sender.endswith("." + self.zone.name)):
            raise ValueError(f"key parsify:monitoring.channels.emailFrom: {channels.email_from} is not in the zone "
                             f"{self.zone.name}, where emailDns declares the sending records")
        groups = {g.name for g in self.access.groups}
        apps = {a.name for a in self.access.applications}
        for app in self.access.applications:
            missing = set(app.groups) - groups
            if missing:
                raise ValueError(f"key parsify:access.applications: '{app.name}' names unknown groups "
                                 f"{sorted(missing)}")
        for grant in self.access.grants:
            if grant.application not in apps:
                raise ValueError(f"key parsify:access.grants: the grant for {grant.person} names unknown application "
                                 f"'{grant.application}'")
        referenced = [*self.api_worker.secrets.values(), self.logs.access_key_id_secret,
                      self.logs.secret_access_key_secret]
        referenced += [v.secret for v in self.frontend.env if v.secret]
        referenced += [key for key in (channels.slack_webhook_secret, channels.pagerduty_routing_key_secret,
                                       channels.email_api_key_secret) if key]
        for key in referenced:
            if key not in self.secrets:
                raise ValueError(f"key {NAMESPACE}:{key}: the secret is not set; run "
                                 f"`pulumi config set --secret {NAMESPACE}:{key}`")
        return self

    def secret(self, key: str) -> pulumi.Output[str]:
        """The secret config value `key`, wrapped so Pulumi keeps it encrypted everywhere."""
        return pulumi.Output.secret(self.secrets[key].get_secret_value())


def plan_date() -> date:
    """The date the plan is made for: `PARSIFY_PLAN_DATE` (ISO) when set, else today.

    Expired grants are left out relative to this date, so the next deploy revokes them.
    """
    override = os.environ.get("PARSIFY_PLAN_DATE")
    return date.fromisoformat(override) if override else date.today()


def _raw_config() -> tuple[dict[str, Any], dict[str, str]]:
    """All `parsify:` values, split into plain values (JSON-decoded) and secrets."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    plain: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    prefix = f"{NAMESPACE}:"
    for full_key, value in merged.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if runtime_config.is_config_secret(full_key) or full_key in secret_keys:
            secrets[key] = str(value)
            continue
        try:
            plain[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            plain[key] = value
    return plain, secrets


def _key_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's ("monitoring", "channels", 0) -> "monitoring.channels[0]", as the stack file would name it."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).removeprefix(".")


def load_stack_config() -> StackConfig:
    """Load and validate this stack's config, or raise a one-line `StackConfigError`."""
    plain, secrets = _raw_config()
    if "secrets" in plain:
        raise StackConfigError("secrets", "is reserved; set each secret as its own key")
    try:
        return StackConfig.model_validate({**plain, "secrets": secrets})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        message = re.sub(r"\s+", " ", error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required but missing"
        elif error["type"] == "extra_forbidden":
            message = "is not a known setting"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        if message.startswith("key "):  # a cross-field check that names its own key
            key, _, message = message[len(f"key {NAMESPACE}:"):].partition(": ")
        else:
            key = _key_path(loc)
        raise StackConfigError(key, f"{message}{more}") from None
