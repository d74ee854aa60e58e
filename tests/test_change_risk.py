"""The change-risk classification, directly: what a reviewer is told about a change to the approved snapshot.

Cloudflare cannot rename or move a D1 database or an R2 bucket in place: the provider replaces it (a new, empty
one), which is the same loss of data as a delete. `protect` is Pulumi's guard against that: `pulumi up` refuses
to delete a protected resource (https://www.pulumi.com/docs/iac/concepts/options/protect/), so dropping it is a
change the reviewer must see.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from parsify_infra.changes import (
    Change,
    diff,
    module_of,
    overall_risk,
    property_changes,
    read_codeowners,
    required_reviewers,
)
from tests.conftest import REPO

APPROVED: dict[str, Any] = json.loads((REPO / "stacks" / "snapshots" / "prod.json").read_text())
D1 = "cloudflare:index/d1Database:D1Database"
R2 = "cloudflare:index/r2Bucket:R2Bucket"
OWNERS = read_codeowners(REPO / ".github" / "CODEOWNERS")


def _first(doc: dict[str, Any], type_token: str) -> dict[str, Any]:
    return next(r for r in doc["resources"] if r["type"] == type_token)


def _edit(type_token: str, edit: Any) -> tuple[list[Change], dict[str, Any]]:
    """The changes after `edit(resource)` on the first resource of `type_token` (None from edit: deleted)."""
    current = copy.deepcopy(APPROVED)
    resource = _first(current, type_token)
    if edit(resource) is None:
        current["resources"].remove(resource)
    return diff(APPROVED, current), resource


def _inputs(**values: Any) -> Any:
    def apply(resource: dict[str, Any]) -> dict[str, Any]:
        resource["inputs"].update(values)
        return resource
    return apply


def test_the_approved_snapshot_against_itself_is_no_change() -> None:
    assert diff(APPROVED, APPROVED) == []


@pytest.mark.parametrize("type_token, edit, action", [
    (D1, lambda r: None, "delete"),
    (D1, _inputs(name="core-renamed"), "replace"),
    (D1, _inputs(primaryLocationHint="apac"), "replace"),
    (R2, lambda r: None, "delete"),
    (R2, _inputs(name="parsify-prod-backups-2"), "replace"),
    (R2, _inputs(location="apac"), "replace"),
], ids=["D1 deleted", "D1 renamed", "D1 moved", "R2 deleted", "R2 renamed", "R2 moved"])
def test_removing_or_replacing_a_database_or_bucket_is_destructive_and_needs_the_database_team(
        type_token: str, edit: Any, action: str) -> None:
    changes, resource = _edit(type_token, edit)
    (change,) = changes
    assert (change.action, change.risk, change.name) == (action, "destructive", resource["name"])
    assert change.component == ("parsify:data:Database" if type_token == D1 else "parsify:data:RetainedBucket")
    assert change.protected, "the approved state protects it: the record says the deploy will refuse"
    assert overall_risk(changes) == "destructive"
    # The database team reviews it even when the resource sits in a component the team does not own.
    elsewhere = Change(change.action, change.urn, change.type, change.name, "parsify:monitoring:Monitoring",
                       change.risk)
    assert "@parsify/database" in required_reviewers([elsewhere], "staging", OWNERS)


def test_a_setting_that_keeps_the_data_is_an_update_not_destructive() -> None:
    changes, _ = _edit(D1, _inputs(readReplication={"mode": "disabled"}))
    (change,) = changes
    assert (change.action, change.risk) == ("update", "routine")
    assert [(p.path, p.old, p.new) for p in change.properties] == [("readReplication.mode", "auto", "disabled")]
    routine = Change("update", change.urn, change.type, change.name, "parsify:monitoring:Monitoring", "routine")
    assert "@parsify/database" not in required_reviewers([routine], "staging", OWNERS)


@pytest.mark.parametrize("type_token", [D1, R2])
def test_dropping_protect_is_shown_as_a_change(type_token: str) -> None:
    def unprotect(resource: dict[str, Any]) -> dict[str, Any]:
        resource["protect"] = False
        return resource
    changes, resource = _edit(type_token, unprotect)
    (change,) = changes
    assert change.name == resource["name"] and change.action == "update"
    assert [(p.path, p.old, p.new) for p in change.properties] == [("(protect)", True, False)]


@pytest.mark.parametrize("type_token, risk", [
    ("cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy", "security-sensitive"),
    ("cloudflare:index/accountToken:AccountToken", "security-sensitive"),
    ("cloudflare:index/zeroTrustGatewayPolicy:ZeroTrustGatewayPolicy", "security-sensitive"),  # any Zero Trust
    ("cloudflare:index/workersScript:WorkersScript", "routine"),
    (D1, "routine"),  # created, not destroyed
])
def test_risk_of_a_new_resource(type_token: str, risk: str) -> None:
    current = copy.deepcopy(APPROVED)
    current["resources"].append({"urn": f"urn:pulumi:prod::parsify::{type_token}::new", "type": type_token,
                                 "name": "new", "parent": "", "custom": True, "protect": False,
                                 "inputs": {"name": "new"}})
    (change,) = diff(APPROVED, current)
    assert (change.action, change.risk) == ("create", risk)
    assert [(p.path, p.old, p.new) for p in change.properties] == [("name", None, "new")]  # what the reviewer reads
    reviewers = required_reviewers([change], "staging", OWNERS)
    assert ("@parsify/security" in reviewers) is (risk == "security-sensitive")


def test_overall_risk_is_the_highest_of_the_changes() -> None:
    def change(risk: str) -> Change:
        return Change("update", f"urn:{risk}", "t", risk, "", risk)
    assert overall_risk([]) == "routine"
    assert overall_risk([change("routine"), change("security-sensitive")]) == "security-sensitive"
    assert overall_risk([change("destructive"), change("security-sensitive"), change("routine")]) == "destructive"


@pytest.mark.parametrize("component, module", [
    ("parsify:access:AccessControl", "stacks/access.py"),
    ("parsify:backups:BackupJob", "stacks/backups.py"),
    ("", None),  # a top-level resource: no component module
    ("parsify::Nameless", None),
    ("parsify:access", None),
    ("parsify:access:AccessControl:Extra", None),
])
def test_the_module_of_a_component_by_the_naming_convention(component: str, module: str | None) -> None:
    assert module_of(component) == module


def test_a_routine_change_still_needs_the_owners_of_its_component_module() -> None:
    # CODEOWNERS: /stacks/backups.py is the database team's, /stacks/access.py the security team's.
    backup = Change("update", "urn:b", "cloudflare:index/workersScript:WorkersScript", "backup",
                    "parsify:backups:BackupJob", "routine")
    assert required_reviewers([backup], "staging", OWNERS) == ["@parsify/database", "@parsify/infrastructure"]
    access = Change("update", "urn:a", "cloudflare:index/workersScript:WorkersScript", "x",
                    "parsify:access:AccessControl", "routine")
    assert required_reviewers([access], "staging", OWNERS) == ["@parsify/infrastructure", "@parsify/security"]


def test_a_change_is_grouped_under_its_outermost_component() -> None:
    current = copy.deepcopy(APPROVED)
    database = next(r for r in current["resources"] if r["type"] == "parsify:data:Database")
    database["inputs"] = {**database.get("inputs", {}), "note": "x"}  # the component resource itself
    current["resources"].append({"urn": "urn:pulumi:prod::parsify::cloudflare:index/dnsRecord:DnsRecord::top",
                                 "type": "cloudflare:index/dnsRecord:DnsRecord", "name": "top",
                                 "parent": "urn:pulumi:prod::parsify::pulumi:pulumi:Stack::parsify-prod",
                                 "custom": True, "protect": False, "inputs": {"name": "top"}})
    # A resource two components deep (a component inside the database's component) is grouped under the outer one.
    inner = {"urn": "urn:pulumi:prod::parsify::parsify:data:Database$parsify:data:Replica::inner",
             "type": "parsify:data:Replica", "name": "inner", "parent": database["urn"], "custom": False,
             "protect": False, "inputs": {}}
    current["resources"] += [inner, {"urn": "urn:pulumi:prod::parsify::cloudflare:index/d1Database:D1Database::deep",
                                     "type": "cloudflare:index/d1Database:D1Database", "name": "deep",
                                     "parent": inner["urn"], "custom": True, "protect": True, "inputs": {"name": "d"}}]
    by_name = {c.name: c for c in diff(APPROVED, current)}
    assert by_name[database["name"]].component == "parsify:data:Database"
    assert by_name["top"].component == "", "a resource of the stack itself has no component"
    assert by_name["deep"].component == "parsify:data:Database"


def test_no_codeowners_file_means_no_owners(tmp_path: Path) -> None:
    assert required_reviewers([Change("update", "urn:x", "t", "x", "parsify:data:Database", "destructive")],
                              "prod", read_codeowners(tmp_path / "CODEOWNERS")) == []


def test_a_binding_added_in_front_is_one_change_not_a_cascade() -> None:
    # Bindings are keyed by name: the reviewer sees the new binding, not every later one shifted by one.
    def prepend(resource: dict[str, Any]) -> dict[str, Any]:
        resource["inputs"]["bindings"].insert(0, {"type": "d1", "name": "DB_NEW", "id": "x"})
        return resource
    changes, _ = _edit("cloudflare:index/workersScript:WorkersScript", prepend)
    (change,) = changes
    assert [(p.path, p.new) for p in change.properties] == [
        ("bindings[DB_NEW].id", "x"), ("bindings[DB_NEW].name", "DB_NEW"), ("bindings[DB_NEW].type", "d1")]


def test_items_named_by_id_are_keyed_by_id_and_duplicates_by_position() -> None:
    old = {"rules": [{"id": "a", "v": 1}], "pair": [{"name": "x", "v": 1}, {"name": "x", "v": 2}]}
    new = {"rules": [{"id": "b", "v": 0}, {"id": "a", "v": 1}], "pair": [{"name": "x", "v": 1}, {"name": "x", "v": 3}]}
    assert [(p.path, p.old, p.new) for p in property_changes(old, new)] == [
        ("pair[1].v", 2, 3), ("rules[b].id", None, "b"), ("rules[b].v", None, 0)]


def test_a_change_to_a_vercel_resource_is_listed() -> None:
    # Vercel URNs sort after the stack's own URN: the stack is skipped, not the end of the diff.
    changes, resource = _edit("vercel:index/project:Project", _inputs(framework="astro"))
    (change,) = changes
    assert (change.name, change.action, change.risk) == (resource["name"], "update", "routine")


def test_a_new_resource_without_inputs_has_no_property_changes() -> None:
    current = copy.deepcopy(APPROVED)
    current["resources"].append({"urn": "urn:pulumi:prod::parsify::x:index/y:Y::bare", "type": "x:index/y:Y",
                                 "name": "bare", "parent": "", "custom": True, "protect": False, "inputs": {}})
    (change,) = diff(APPROVED, current)
    assert (change.action, change.properties) == ("create", [])


@pytest.mark.parametrize("old, new, rows", [
    ({}, {"name": "db"}, [("name", None, "db")]),  # inputs appear: only the inputs, no row for the empty whole
    ({"name": "db"}, {}, [("name", "db", None)]),
    # an empty map is a value of its own
    ({"tags": {}}, {"tags": {"team": "sre"}}, [("tags", {}, None), ("tags.team", None, "sre")]),
    # Odd keys are written as Pulumi writes them in a property path, so no two places share a path
    ({"": 1}, {"": 2}, [('[""]', 1, 2)]),
    ({"a.b": 1}, {"a": {"b": 1}}, [('["a.b"]', 1, None), ("a.b", None, 1)]),
    ({"b[x].name": "x"}, {"b": [{"name": "x"}]}, [('["b[x].name"]', "x", None), ("b[x].name", None, "x")]),
    # JSON's false is not 0, nor true 1 (Python's == says they are)
    ({"x": 0, "y": 1}, {"x": False, "y": True}, [("x", 0, False), ("y", 1, True)]),
    ({"x": 1}, {"x": 1.0}, []),  # one JSON number
    ({"X-Request-Id": "a"}, {"X-Request-Id": "b"}, [("X-Request-Id", "a", "b")]),  # a plain key is written plainly
])
def test_property_changes_are_the_rows_a_reviewer_reads(old: dict[str, Any], new: dict[str, Any],
                                                         rows: list[tuple[str, Any, Any]]) -> None:
    assert [(p.path, p.old, p.new) for p in property_changes(old, new)] == rows


def test_a_component_removed_with_its_resources_still_groups_them() -> None:
    # Removing a whole database (component and all): the deleted D1 database is grouped under the component it had.
    current = copy.deepcopy(APPROVED)
    database = next(r for r in current["resources"] if r["type"] == "parsify:data:Database")
    gone = {r["urn"] for r in current["resources"] if r["urn"] == database["urn"] or r.get("parent") == database["urn"]}
    current["resources"] = [r for r in current["resources"] if r["urn"] not in gone]
    deleted = {c.type: c for c in diff(APPROVED, current) if c.action == "delete"}
    assert deleted[D1].component == "parsify:data:Database" and deleted[D1].risk == "destructive"
