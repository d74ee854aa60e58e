"""Reading the JSON files the tool depends on, with one-line errors that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from parsify_infra.errors import InputError


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
