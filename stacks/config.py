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

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    AfterValidator,
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


class AlertChannels(Model):
    emails: list[Email] = []
    pagerduty_destination_id: str | None = None
    slack_webhook_secret: SecretKey | None = None
    # For the synthetic monitor, which alerts on its own (Cloudflare has no SLO alert types):
    pagerduty_routing_key_secret: SecretKey | None = None
    email_api_url: Annotated[str, StringConstraints(pattern=r"^https://")] | None = None
    email_api_key_secret: SecretKey | None = None
    email_from: Email = "monitor@parsify.io"


class SyntheticTarget(Model):
    name: str
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^/\s]+")]


class SyntheticSpec(Model):
    """The monitor Worker: probes every minute, SLO windows, alerts, public status page."""

    script_name: ResourceName
    hostname: Hostname
    database: str
    window_minutes: int = Field(default=60, ge=5, le=1440)
    targets: list[SyntheticTarget] = Field(min_length=1)


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
        configured = {
            "slack": self.channels.slack_webhook_secret is not None,
            "email": bool(self.channels.emails),
            "pagerduty": self.channels.pagerduty_destination_id is not None,
        }
        for route in self.routes:
            for channel in route.channels:
                if not configured[channel]:
                    raise ValueError(f"route '{route.severity}' uses channel '{channel}' that is not configured")
        return self


class SloSpec(Model):
    availability_percent: float = Field(default=99.9, gt=0, le=100)
    p95_latency_ms: int = Field(default=500, gt=0)
    error_rate_percent: float = Field(default=1.0, ge=0, le=100)


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
        channels = self.monitoring.channels
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
    path = str(loc[0]) if loc else ""
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


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
