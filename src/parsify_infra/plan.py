"""The plan document: what a program declares for a stack, secret-free, in the JSON contract's shape."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from parsify_infra.capture import DEFAULT_TIMEOUT_SECONDS, Capture, CapturedResource, run_program
from parsify_infra.secrets import mask
from parsify_infra.stackfile import StackFiles, load_stack_files

STACK_TYPE = "pulumi:pulumi:Stack"
# The document's version; its JSON Schema is schemas/plan-1.schema.json (tests/test_plan_schema.py checks it).
SCHEMA = "parsify-plan/1"


def resource_record(resource: CapturedResource) -> dict[str, Any]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "parent": resource.parent,
        "dependencies": resource.dependencies,
        "propertyDependencies": resource.property_dependencies,
        "protect": resource.protect,
        "retainOnDelete": resource.retain_on_delete,  # removed from the program, it stays in the provider
        "custom": resource.custom,
        "inputs": mask(resource.inputs),
    }


def plan_document(capture: Capture) -> dict[str, Any]:
    """The JSON plan (a contract: later features add keys, never change these)."""
    return {
        "schema": SCHEMA,
        "project": capture.project,
        "stack": capture.stack,
        "resources": [resource_record(r) for r in capture.resources],
        "outputs": mask(capture.outputs),
    }


def capture_stack(program_dir: Path, stack: str, timeout: float = DEFAULT_TIMEOUT_SECONDS
                  ) -> tuple[StackFiles, Capture]:
    files = load_stack_files(program_dir, stack)
    return files, run_program(files, timeout)



def counts_by_type(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["type"] for r in resources if r["type"] != STACK_TYPE)
