"""Parsify platform: load the stack's validated config, declare the platform, export its outputs."""

from stacks.config import load_stack_config
from stacks.platform import build_platform, export_all

export_all(build_platform(load_stack_config()))
