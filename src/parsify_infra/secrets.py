"""Masking Pulumi secrets (and offline placeholders) out of everything the tool prints or writes."""

from __future__ import annotations

from typing import Any

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
MASK = "[secret]"
# What the engine sends for a value only known after apply (pulumi.runtime.rpc.UNKNOWN), as `pulumi preview`
# shows a new resource's computed outputs. Offline, only mock ids and D1 uuids stand in for known state.
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN = "[unknown]"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def mask(value: Any) -> Any:
    """A copy of `value` with every secret replaced by `[secret]` (and every unknown by `[unknown]`)."""
    if is_secret(value):
        return MASK
    if value == UNKNOWN_SENTINEL:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def scrub(text: str, placeholders: list[str]) -> str:
    """Last line of defence: no offline secret placeholder leaves the process, even in a non-secret field."""
    for placeholder in placeholders:
        text = text.replace(placeholder, MASK)
    return text
