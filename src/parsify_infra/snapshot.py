"""The approved desired state of a stack: a deterministic, secret-free snapshot of its plan.

`parsify-infra snapshot --stack prod` writes `stacks/snapshots/prod.json`; the change record diffs the
program against it, and a test fails while it is stale, so every infrastructure change is a reviewed
diff in git history.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from parsify_infra.errors import InputError
from parsify_infra.jsonfile import read_json
from parsify_infra.secrets import mask

SNAPSHOT_DIR = Path("stacks") / "snapshots"
# Long inputs (Worker code) are recorded by digest: the diff says that the code changed, git says how.
DIGEST_OVER = 2000


def _normalise(value: Any) -> Any:
    if isinstance(value, str) and len(value) > DIGEST_OVER:
        return f"sha256:{hashlib.sha256(value.encode()).hexdigest()} ({len(value.encode())} bytes)"
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def snapshot_document(doc: dict[str, Any], as_of: str, raw_inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan document reduced to what is approved: resources by URN, inputs, graph, protect, outputs. With
    the captured `raw_inputs` (by URN), secrets are recorded by fingerprint, so rotating one is a change."""
    resources = [
        {
            "urn": r["urn"], "type": r["type"], "name": r["name"], "parent": r["parent"],
            "custom": r["custom"], "protect": r["protect"],
            "dependencies": sorted(r["dependencies"]),
            "propertyDependencies": {k: sorted(v) for k, v in sorted(r["propertyDependencies"].items()) if v},
            "inputs": _normalise(mask(raw_inputs[r["urn"]], fingerprints=True) if raw_inputs and r["urn"] in raw_inputs
                                 else r["inputs"]),
        }
        for r in sorted(doc["resources"], key=lambda r: r["urn"])
    ]
    return {"project": doc["project"], "stack": doc["stack"], "asOf": as_of, "resources": resources,
            "outputs": _normalise(doc["outputs"])}


def snapshot_text(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True) + "\n"


def snapshot_path(program_dir: Path, stack: str) -> Path:
    return program_dir / SNAPSHOT_DIR / f"{stack}.json"


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The approved snapshot, or None when the stack has none yet (everything is then new)."""
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise InputError(f"{path}: key resources: not a plan snapshot; regenerate it with parsify-infra snapshot")
    return data
