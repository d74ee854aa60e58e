"""Parsify platform: load the stack's validated config, declare the platform, export its outputs.

The config is validated before the providers are imported (importing pulumi_cloudflare takes seconds), so a
mistake in a stack file is reported at once.
"""

from stacks.config import load_stack_config

config = load_stack_config()

from stacks.platform import build_platform, export_all  # noqa: E402 (after the config check, on purpose)

export_all(build_platform(config))
