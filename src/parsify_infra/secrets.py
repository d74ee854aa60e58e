"""Masking Pulumi secrets (and offline placeholders) out of everything the tool prints or writes."""

from __future__ import annotations

import hashlib
import io
import json
import re
from typing import Any, TextIO

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
MASK = "[secret]"
# What the engine sends for a value only known after apply (pulumi.runtime.rpc.UNKNOWN), as `pulumi preview`
# shows a new resource's computed outputs. Offline, only mock ids and D1 uuids stand in for known state.
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN = "[unknown]"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def fingerprint(value: Any) -> str:
    """A short digest of a secret's offline stand-in (a digest of its ciphertext): it changes when the secret
    is rotated, and says nothing about the value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def mask(value: Any, fingerprints: bool = False) -> Any:
    """A copy of `value` with every secret replaced by `[secret]` (with `fingerprints`, `[secret <digest>]`,
    so a rotation shows as a change) and every unknown by `[unknown]`."""
    if is_secret(value):
        return f"{MASK[:-1]} {fingerprint(value.get('value'))}]" if fingerprints else MASK
    if value == UNKNOWN_SENTINEL:
        return UNKNOWN
    if isinstance(value, dict):
        return {k: mask(v, fingerprints) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, fingerprints) for v in value]
    return value


# Every offline placeholder this process has made: the last line of defence scrubs them from every output,
# error messages included, whatever path produced the text.
KNOWN: set[str] = set()


def remember(placeholders: list[str]) -> None:
    KNOWN.update(p for p in placeholders if p)


def scrub(text: str, placeholders: list[str] | None = None) -> str:
    """Last line of defence: no offline secret placeholder leaves the process, even in a non-secret field, in
    another case (an upper-cased or lower-cased copy of it) or wrapped over lines (a message folded to a width,
    then made one line)."""
    every = sorted(KNOWN | set(placeholders or []), key=len, reverse=True)
    if not every:
        return text
    wrapped = (r"\s*".join(re.escape(c) for c in p) for p in every)
    return re.sub("|".join(wrapped), MASK, text, flags=re.IGNORECASE)


class ScrubbingStream(io.TextIOBase):
    """A text stream that masks the placeholders in what is written to it before passing it on: the program's own
    output (print, pulumi.log) goes to stderr through it."""

    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(scrub(text))
        return len(text)

    def flush(self) -> None:
        self._target.flush()
