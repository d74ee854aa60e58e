"""Frontend: the Vercel project, its domains, environment variables and team members."""

from __future__ import annotations

import pulumi
import pulumiverse_vercel as vercel

from stacks.access import slug
from stacks.config import StackConfig


class VercelFrontend(pulumi.ComponentResource):
    """The Parsify web app on Vercel, with deployment protection on."""

    project: vercel.Project

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("parsify:frontend:VercelFrontend", name, None, opts)
        spec = cfg.frontend
        child = pulumi.ResourceOptions(parent=self)
        self.project = vercel.Project(
            f"{name}-project", name=spec.project_name, team_id=spec.team_id, framework=spec.framework,
            git_repository=vercel.ProjectGitRepositoryArgs(type="github", repo=spec.git_repository),
            vercel_authentication=vercel.ProjectVercelAuthenticationArgs(deployment_type=spec.deployment_protection),
            git_fork_protection=True, opts=child)
        for domain in spec.domains:
            vercel.ProjectDomain(f"{name}-domain-{slug(domain)}", project_id=self.project.id, team_id=spec.team_id,
                                 domain=domain, opts=child)
        for var in spec.env:
            value = cfg.secret(var.secret) if var.secret else var.value
            vercel.ProjectEnvironmentVariable(
                f"{name}-env-{slug(var.key)}", project_id=self.project.id, team_id=spec.team_id, key=var.key,
                value=value, targets=var.targets, sensitive=var.secret is not None, opts=child)
        for member in spec.members:
            vercel.TeamMember(f"{name}-member-{slug(member.email)}", team_id=spec.team_id, email=member.email,
                              role=member.role, opts=child)
        self.register_outputs({"projectName": spec.project_name, "domains": spec.domains})
