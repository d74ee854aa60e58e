"""Reading the JSON files the tool depends on, with one-line errors that name the file and the line.

Inputs are read with limits, so a hostile or broken file is an error, never a traceback or a hang: at most
MAX_BYTES, UTF-8 text, no duplicate keys (the last would silently win), nesting no deeper than MAX_DEPTH.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from parsify_infra.errors import InputError

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """A UTF-8 text file of at most `limit` bytes, or a one-line error naming it."""
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a file")
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{path}: {size} bytes, more than the {limit} this tool reads")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None


def _depth(value: Any) -> int:
    """Nesting depth, without recursion (a hostile file cannot exhaust the stack)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            pending += [(v, level + 1) for v in item.values()]
        elif isinstance(item, list):
            pending += [(v, level + 1) for v in item]
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key '{key}'")
        found[key] = value
    return found


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # a duplicate key
        raise InputError(f"{path}: invalid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: invalid JSON: nested deeper than this tool reads") from None
    if _depth(value) > MAX_DEPTH:
        raise InputError(f"{path}: nested {_depth(value)} levels deep, more than the {MAX_DEPTH} this tool reads")
    return value
