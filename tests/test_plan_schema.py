"""The plan document is a versioned contract with a JSON Schema: tools that read it can check it."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

SCHEMA = json.loads(resources.files("parsify_infra").joinpath("schemas/plan-1.schema.json").read_text())


def test_the_prod_plan_matches_its_schema(prod_plan: dict[str, Any]) -> None:
    assert prod_plan["schema"] == "parsify-plan/1"
    jsonschema.Draft202012Validator(SCHEMA).validate(prod_plan)


@pytest.mark.parametrize("break_it", [
    lambda d: d.pop("resources"),
    lambda d: d["resources"][0].pop("propertyDependencies"),
    lambda d: d.update(schema="parsify-plan/2"),
    lambda d: d["violations"].append({"policy": "p", "level": "fatal", "urn": "", "message": "m"}),
], ids=["no resources", "no property dependencies", "another version", "unknown level"])
def test_the_schema_rejects_a_document_that_breaks_the_contract(prod_plan: dict[str, Any], break_it: Any) -> None:
    document = json.loads(json.dumps(prod_plan))
    break_it(document)
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document))
