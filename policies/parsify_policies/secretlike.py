"""Does a name or value look like a secret? Shared by the Workers and Vercel secret policies.

The value is judged by a maintained detector, Yelp's detect-secrets (its token formats: AWS, Slack, Stripe,
GitHub, JWT, private keys, credentials in URLs, ...; and its high-entropy checks at its default limits),
plus what it does not cover: tokens in a URL's query (webhook URLs). The name is judged by public
conventions: `NEXT_PUBLIC_*` and other client-side prefixes, site and publishable keys are meant to be
public, while names such as *_TOKEN or *_PASSWORD are secrets whatever their value. A value that a
detector recognises is a secret even under a public-looking name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString

# Words of a name (split at _, -, . and camelCase) that mark a secret; whole words, so MAX_TOKENS or BYPASS_CACHE
# are not secrets while DB_PASS and apiKey are.
SECRET_WORDS = {"KEY", "APIKEY", "TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD", "PASSPHRASE",
                "CREDENTIAL", "CREDENTIALS", "CREDS", "PRIVATE", "AUTH", "AUTHORIZATION", "WEBHOOK", "SALT", "SIGNING"}
# (No DSN: a Sentry DSN is public by design; a database DSN with a password is found by its credentials.)
# Names of identifiers and hashes, which look random but are not secrets (an account id, a git SHA).
IDENTIFIER_NAME = re.compile(r"(_|^)(ID|SHA|HASH|COMMIT|VERSION|REVISION|DIGEST)$", re.IGNORECASE)
# Services whose webhook URLs carry their secret in the path (what detect-secrets does not know).
WEBHOOK_URL = re.compile(r"^https://(discord(app)?\.com/api/webhooks/|[\w.-]+\.webhook\.office\.com/|"
                         r"events\.pagerduty\.com/integration/[0-9a-f]{32}|hooks\.zapier\.com/hooks/|"
                         r"[\w.-]+\.logic\.azure\.com/.*[?&]sig=)", re.IGNORECASE)
# An HTTP Authorization value: the credential itself.
AUTH_HEADER = re.compile(r"^(Basic|Bearer|Token|Digest)\s+\S{8,}", re.IGNORECASE)
WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Values that cannot hold a secret whatever the name says: numbers and booleans (MAX_TOKENS=4096).
NOT_A_SECRET_VALUE = re.compile(r"^(\d+(\.\d+)?|true|false)$", re.IGNORECASE)
# Names that are public by convention: bundled into client code (Next.js, Vite, Create React App, Nuxt,
# Expo, Gatsby) or keys designed to be public (reCAPTCHA / Turnstile site keys, Stripe publishable keys).
PUBLIC_NAME = re.compile(r"^(NEXT_PUBLIC_|VITE_|REACT_APP_|NUXT_PUBLIC_|EXPO_PUBLIC_|GATSBY_|PUBLIC_)"
                         r"|SITE_?KEY|PUBLISHABLE_?KEY", re.IGNORECASE)
URL_SECRET_PARAMS = re.compile(r"^(token|key|api[_-]?key|secret|sig|signature|access[_-]?token|auth|password|"
                               r"code|x-amz-signature)$", re.IGNORECASE)
# detect-secrets plugins that judge a line's shape rather than a bare value.
NOT_FOR_VALUES = {"Secret Keyword", "Public IP (ipv4)", "Base64 High Entropy String", "Hex High Entropy String"}
MIN_ENTROPY_LENGTH = 20


@cache
def _format_detectors() -> tuple[BasePlugin, ...]:
    mapping: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()
    return tuple(cls() for kind, cls in sorted(mapping.items()) if kind not in NOT_FOR_VALUES)


@cache
def _entropy_detectors() -> tuple[BasePlugin, ...]:
    return Base64HighEntropyString(limit=4.5), HexHighEntropyString(limit=3.0)  # detect-secrets' defaults


def detected(value: str, entropy: bool = True) -> str | None:
    """The kind of secret detect-secrets (or a token in a URL's query) finds in `value`, or None. Without
    `entropy`, only recognised token formats count."""
    parts = urlsplit(value) if "://" in value else None
    if WEBHOOK_URL.match(value):
        return "a webhook URL that carries its token"
    if AUTH_HEADER.match(value):
        return "an HTTP Authorization credential"
    if parts and parts.password:  # scheme://:password@host too (an empty user)
        return "a URL with a password"
    if parts and parts.query:
        for key, item in parse_qsl(parts.query):
            if URL_SECRET_PARAMS.match(key) and item:
                return f"a URL carrying a '{key}' parameter"
    # The entropy plugins only look inside quoted strings; a URL without credentials is judged by the format
    # plugins alone (its path is long and varied, not secret).
    line = f'"{value}"'
    by_entropy = entropy and not parts and len(value) >= MIN_ENTROPY_LENGTH
    for plugin in _format_detectors() + (_entropy_detectors() if by_entropy else ()):
        if plugin.analyze_line(filename="value", line=line):  # the file name only labels what it finds
            return f"a {plugin.secret_type}"
    return None


def looks_secret(name: str, value: object) -> str | None:
    """Why `name`/`value` looks like a secret, or None. Under a public-by-convention name, only a recognised
    token format counts (a publishable key is long and random by design)."""
    public = bool(PUBLIC_NAME.search(name))
    identifier = bool(IDENTIFIER_NAME.search(name))
    if isinstance(value, str) and value:
        kind = detected(value, entropy=not (public or identifier))
        if kind:
            return f"its value for '{name}' looks like {kind}"
    if public or (isinstance(value, str | int | float | bool) and NOT_A_SECRET_VALUE.match(str(value))):
        return None
    if {w.upper() for w in WORD.findall(name)} & SECRET_WORDS:
        return f"its name '{name}' suggests a secret"
    return None


def _json_text(value: Any) -> bool:
    """A string that may hold a JSON object or array (a json binding, or JSON pasted into plain text)."""
    return isinstance(value, str) and value.startswith(("{", "["))


def json_pairs(name: str, value: Any) -> list[tuple[str, Any]]:
    """(key, leaf value) pairs of a JSON value, so {"db": {"password": "..."}} inside it is found too. A
    string that holds JSON is walked as well."""
    if _json_text(value):
        try:
            return json_pairs(name, json.loads(value))
        except json.JSONDecodeError:
            return [(name, value)]
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in json_pairs(str(k), v)]
    if isinstance(value, list):
        return [pair for v in value for pair in json_pairs(name, v)]
    return [(name, value)]


def secret_reason(name: str, value: Any) -> str | None:
    """The first reason anything in `name`/`value` (walked when it is JSON) looks like a secret."""
    if reason := looks_secret(name, value):  # a dict or a list counts by its name here
        return reason
    structured = isinstance(value, dict | list) or _json_text(value)
    return next((r for k, v in json_pairs(name, value) if (r := looks_secret(k, v))), None) if structured else None
