"""Resource families: every type token of the pinned providers (pulumi-cloudflare 6.23.1, pulumiverse-vercel
5.21.1) that expresses what a policy judges. A deprecated class registers under its own old token (not its
new one), so a family lists both (shared/reference/pulumi-cloudflare-6-types.md, rules 1 and 2). Policies
match families, never single tokens; tests/test_policy_families.py walks the installed SDKs and fails on a
type that carries a judged property but is neither here nor in OUT_OF_SCOPE.
"""

from __future__ import annotations

Family = tuple[str, ...]


# pragma: no mutate start
# (mutation testing: runs only when this module is imported, before any test; the families it builds are checked
# against the provider SDKs by tests/test_policy_families.py. README, "Mutation testing")
def _cf(*names: str) -> Family:
    """cloudflare:index/<lowerCamel>:<Class> for each class name."""
    return tuple(f"cloudflare:index/{n[0].lower()}{n[1:]}:{n}" for n in names)


# pragma: no mutate end


ACCESS_POLICY = _cf("ZeroTrustAccessPolicy", "AccessPolicy")
ACCESS_APPLICATION = _cf("ZeroTrustAccessApplication", "AccessApplication")
ACCESS_GROUP = _cf("ZeroTrustAccessGroup", "AccessGroup")
ACCESS_ORGANIZATION = _cf("ZeroTrustOrganization", "AccessOrganization")
ACCESS_IDENTITY_PROVIDER = _cf("ZeroTrustAccessIdentityProvider", "AccessIdentityProvider")
ACCOUNT = _cf("Account")
ACCOUNT_MEMBER = _cf("AccountMember")
USER_GROUP = _cf("UserGroup")  # member policies given to every member of the group
ACCOUNT_TOKEN = _cf("AccountToken")
API_TOKEN = _cf("ApiToken")
TOKENS = ACCOUNT_TOKEN + API_TOKEN
D1_DATABASE = _cf("D1Database")
R2_BUCKET = _cf("R2Bucket")
R2_LIFECYCLE = _cf("R2BucketLifecycle")
# Code with bindings: the one-step script (and its deprecated name), and a version of the new Worker model.
WORKERS_SCRIPT = _cf("WorkersScript", "WorkerScript", "WorkerVersion")
WORKER = _cf("Worker")  # the new model's service shell: observability, no code or bindings
WORKERS_CRON = _cf("WorkersCronTrigger", "WorkerCronTrigger")
WORKERS_DOMAIN = _cf("WorkersCustomDomain", "WorkerDomain")
WORKERS_ROUTE = _cf("WorkersRoute")
ZONE = _cf("Zone")
ZONE_SETTING = _cf("ZoneSetting")
HOSTNAME_TLS_SETTING = _cf("HostnameTlsSetting")
CUSTOM_HOSTNAME = _cf("CustomHostname")  # Cloudflare for SaaS: its own minimum TLS version
RULESET = _cf("Ruleset")  # configuration rules (set_config) can lower SSL per request
PAGE_RULE = _cf("PageRule")  # the older per-URL settings, ssl among them
HEALTHCHECK = _cf("Healthcheck")
NOTIFICATION_POLICY = _cf("NotificationPolicy")
VERCEL_PROJECT = ("vercel:index/project:Project",)
VERCEL_DOMAIN = ("vercel:index/projectDomain:ProjectDomain",)
# Environment values in every form: one variable, a batch of variables, a team-wide shared variable, and
# the inline `environment` list of a project.
VERCEL_ENV = ("vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable",
              "vercel:index/projectEnvironmentVariables:ProjectEnvironmentVariables",
              "vercel:index/sharedEnvironmentVariable:SharedEnvironmentVariable", *VERCEL_PROJECT)
VERCEL_MEMBER = ("vercel:index/teamMember:TeamMember",)
VERCEL_TEAM_CONFIG = ("vercel:index/teamConfig:TeamConfig",)  # SAML directory groups mapped to roles


# Types that carry a property the SDK walk recognises (tests/test_policy_families.py) but that no policy
# judges, with the reason.
OUT_OF_SCOPE: dict[str, str] = {
    "cloudflare:index/loadBalancerPool:LoadBalancerPool":
        "Pool health checks steer load-balancer traffic; monitoring coverage and alerting are judged on "
        "Healthcheck resources and the synthetic monitor.",
}
