"""Does a name or value look like a secret? Shared by the Workers and Vercel secret policies."""

from __future__ import annotations

import math
import re
from collections import Counter

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|AUTH|DSN)", re.IGNORECASE)
MIN_SECRET_LENGTH = 20
ENTROPY_BITS_PER_CHAR = 3.5


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_secret(name: str, value: object) -> str | None:
    """Why `name`/`value` looks like a secret, or None."""
    if SECRET_NAME.search(name):
        return f"its name '{name}' suggests a secret"
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and " " not in value \
            and not value.startswith(("http://", "https://")) and entropy(value) >= ENTROPY_BITS_PER_CHAR:
        return f"its value for '{name}' is a long high-entropy string"
    return None
