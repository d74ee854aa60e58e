"""Reading a Pulumi project's `Pulumi.yaml` and `Pulumi.<stack>.yaml` the way the CLI would.

Secure values cannot be decrypted offline: each becomes a deterministic placeholder and its key
is marked secret, so the program sees a secret exactly where the real engine would give one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from parsify_infra.errors import InputError
from parsify_infra.jsonfile import MAX_DEPTH, read_text
from parsify_infra.secrets import remember


@dataclass(frozen=True)
class StackFiles:
    program_dir: Path
    project: str
    stack: str
    config: dict[str, str]
    secret_keys: list[str]
    # placeholder strings standing in for secure values: they must never reach any output
    secret_placeholders: list[str]
    # the program's entry: Pulumi.yaml `main` (a folder's __main__.py, or a file), else <project>/__main__.py
    main: Path


# libyaml's C loader when present: stack files with thousands of entries parse several times faster.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StringDates(_BaseLoader):  # type: ignore[misc, valid-type]
    """Like the Pulumi CLI, keep dates as strings: the program's schema judges them (PyYAML would
    raise on an impossible date such as 2026-13-45 before the schema could name the key)."""


def _unique_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """A mapping whose keys are unique: the Pulumi CLI refuses a duplicate key, where PyYAML would keep the
    last one silently (a second `parsify:members: []` would drop every member)."""
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first on line {seen[key].line + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark
    return dict(loader.construct_mapping(node, deep=deep))


_StringDates.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)

_StringDates.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


MAX_NODES = 200_000  # values after expanding aliases: a 440-byte alias bomb expands to billions


def _check_shape(text: str) -> None:
    """Size after alias expansion and nesting depth, from the parser's events, before anything is built."""
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = [[None, 0]]  # [anchor, values inside]

    def add(count: int) -> None:
        open_nodes[-1][1] += count
        if sum(node[1] for node in open_nodes) > MAX_NODES:
            raise yaml.YAMLError(f"more than {MAX_NODES} values once its aliases are expanded")

    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            add(1)
        elif isinstance(event, yaml.AliasEvent):
            add(sizes.get(event.anchor or "", 1))
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            open_nodes.append([event.anchor, 0])
            if len(open_nodes) > MAX_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            anchor, count = open_nodes.pop()
            if anchor:
                sizes[anchor] = count + 1
            add(count + 1)


def _read_yaml(path: Path) -> Any:
    text = read_text(path)
    try:
        _check_shape(text)
        return yaml.load(text, Loader=_StringDates)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc) or "invalid YAML"
        raise InputError(f"{path}{':' + where if where else ''}: invalid YAML: {problem}") from None


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def placeholder_for(ciphertext: str) -> str:
    return "offline-secret-" + hashlib.sha256(str(ciphertext).encode()).hexdigest()[:20]


def _unwrap(value: Any, found: list[str]) -> Any:
    """Replace secure values (at any depth) with placeholders, collecting them in `found`."""
    if _is_secure(value):
        found.append(placeholder_for(value["secure"]))
        return found[-1]
    if isinstance(value, dict):
        return {k: _unwrap(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, found) for v in value]
    return value


def load_stack_files(program_dir: Path, stack: str) -> StackFiles:
    project_file = program_dir / "Pulumi.yaml"
    project_doc = _read_yaml(project_file)
    if not isinstance(project_doc, dict) or not isinstance(project_doc.get("name"), str):
        raise InputError(f"{project_file}: key name: a project name is required")
    project = project_doc["name"]
    runtime = project_doc.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise InputError(f"{project_file}: key runtime: '{runtime_name}'; this tool runs Python programs only")
    main = project_doc.get("main")
    if main is not None and not isinstance(main, str):
        raise InputError(f"{project_file}: key main: must be a path inside the project")
    entry = (program_dir / (main or ".")).resolve()
    entry = entry / "__main__.py" if entry.is_dir() or not main else entry
    if not entry.is_relative_to(program_dir.resolve()):
        raise InputError(f"{project_file}: key main: '{main}' is outside the project")
    stack_file = program_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file() and program_dir.is_dir():
        stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in program_dir.glob("Pulumi.*.yaml"))
        near = difflib.get_close_matches(stack, stacks, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise InputError(f"{stack_file}: file not found; {hint}stacks here: {', '.join(stacks) or 'none'}")
    doc = _read_yaml(stack_file) or {}
    if not isinstance(doc, dict):
        raise InputError(f"{stack_file}: the file must be a mapping with a 'config' key")
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise InputError(f"{stack_file}: key config: must be a mapping of settings")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    placeholders: list[str] = []
    for key, value in raw.items():
        full_key = key if ":" in str(key) else f"{project}:{key}"
        found: list[str] = []
        plain = _unwrap(value, found)
        if found:
            secret_keys.append(full_key)
            placeholders += found
        # The engine hands the program strings; structured values as JSON.
        config[full_key] = plain if isinstance(plain, str) else json.dumps(plain, default=str)
    remember(placeholders)
    return StackFiles(program_dir, project, stack, config, secret_keys, placeholders, entry)
