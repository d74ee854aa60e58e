"""Edge: the Parsify API Worker on its custom domain, zone hardening and DNS."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_cloudflare as cloudflare

from stacks.config import DnsRecordSpec, StackConfig, Zone

# Zone settings the handbook's security baseline requires (policy: zone-setting-*).
ZONE_BASELINE: dict[str, object] = {
    "min_tls_version": "1.2",
    "always_use_https": "on",
    "ssl": "strict",
    "security_header": {
        "strict_transport_security": {
            "enabled": True,
            "include_subdomains": True,
            "max_age": 31536000,
            "nosniff": True,
            "preload": True,
        }
    },
}


def logs_on() -> cloudflare.WorkersScriptObservabilityArgs:
    """Observability logs for a Worker (policy: workers-script-observability-logs)."""
    return cloudflare.WorkersScriptObservabilityArgs(
        enabled=True, logs=cloudflare.WorkersScriptObservabilityLogsArgs(enabled=True, invocation_logs=True))


class ZoneBaseline(pulumi.ComponentResource):
    """TLS 1.2+, always HTTPS, strict SSL and HSTS on the zone, plus its DNS records."""

    def __init__(self, name: str, zone: Zone, records: list[DnsRecordSpec],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:edge:ZoneBaseline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for setting_id, value in ZONE_BASELINE.items():
            cloudflare.ZoneSetting(f"{name}-{setting_id.replace('_', '-')}", zone_id=zone.id,
                                   setting_id=setting_id, value=value, opts=child)
        for record in records:
            cloudflare.DnsRecord(
                f"{name}-dns-{record.type.lower()}-{'apex' if record.name == '@' else record.name.replace('.', '-')}",
                zone_id=zone.id, name=record.name, type=record.type, content=record.content,
                proxied=record.proxied, ttl=record.ttl, priority=record.priority, opts=child)
        self.register_outputs({"zoneId": zone.id})


class ApiWorker(pulumi.ComponentResource):
    """The Parsify API Worker: module syntax, D1 binding, secrets, logs on, custom domain."""

    script: cloudflare.WorkersScript
    hostname: str

    def __init__(self, name: str, cfg: StackConfig, database: cloudflare.D1Database,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:edge:ApiWorker", name, None, opts)
        spec = cfg.api_worker
        child = pulumi.ResourceOptions(parent=self)
        bindings: list[cloudflare.WorkersScriptBindingArgs] = [
            cloudflare.WorkersScriptBindingArgs(type="d1", name="DB", id=database.uuid),
        ]
        bindings += [cloudflare.WorkersScriptBindingArgs(type="plain_text", name=key, text=value)
                     for key, value in sorted(spec.vars.items())]
        bindings += [cloudflare.WorkersScriptBindingArgs(type="secret_text", name=binding, text=cfg.secret(key))
                     for binding, key in sorted(spec.secrets.items())]
        self.script = cloudflare.WorkersScript(
            f"{name}-script",
            account_id=cfg.account_id,
            script_name=spec.script_name,
            content=worker_source(spec.source_dir, spec.main_module),
            main_module=spec.main_module,
            compatibility_date=spec.compatibility_date.isoformat(),
            bindings=bindings,
            observability=logs_on(),
            opts=child,
        )
        cloudflare.WorkersCustomDomain(
            f"{name}-domain", account_id=cfg.account_id, zone_id=cfg.zone.id, hostname=spec.hostname,
            service=self.script.script_name, opts=child)
        self.hostname = spec.hostname
        self.register_outputs({"scriptName": self.script.script_name, "hostname": spec.hostname})


def worker_source(source_dir: str, main_module: str) -> str:
    """The Worker's module source, read from the repository (relative to the project root)."""
    return (Path(source_dir) / main_module).read_text(encoding="utf-8")
