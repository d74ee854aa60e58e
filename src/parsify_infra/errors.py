"""Errors the command reports as one line, with their exit status."""

from __future__ import annotations

import os

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2
EXIT_CHANGES = 3  # plan --expect-no-changes found changes


class InputError(Exception):
    """Bad input (program, config, fixture, waiver): reported as one line, exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def debug_requested() -> bool:
    """`PARSIFY_INFRA_DEBUG=1` (or true, yes, on): show a failing program's traceback, masked, still exit status 2."""
    return os.environ.get("PARSIFY_INFRA_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
