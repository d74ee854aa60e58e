"""The text plan reads like `pulumi preview`: what changes against the approved snapshot, with its symbols."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsify_infra.changes import Change, PropertyChange
from parsify_infra.errors import EXIT_CHANGES
from parsify_infra.preview import display, render_preview
from tests.conftest import PLAN_DATE, REPO, copy_program, run_cli

PROD = (REPO / "Pulumi.prod.yaml").read_text()
DOC = {"project": "parsify", "stack": "prod", "outputs": {}, "resources": [
    {"type": "pulumi:pulumi:Stack"}, *[{"type": "cloudflare:index/d1Database:D1Database"}] * 6]}


def test_symbols_counts_and_protected_deletes() -> None:
    changes = [
        Change("create", "u1", "cloudflare:index/accountToken:AccountToken", "token-new", "parsify:tokens:ApiTokens",
               "security-sensitive"),
        Change("update", "u2", "cloudflare:index/zoneSetting:ZoneSetting", "tls", "parsify:edge:ZoneBaseline",
               "security-sensitive", [PropertyChange("value", "1.2", "1.3")]),
        Change("replace", "u3", "cloudflare:index/r2Bucket:R2Bucket", "logs", "parsify:data:RetainedBucket",
               "destructive", [PropertyChange("location", "enam", "weur")], protected=True),
        Change("delete", "u4", "cloudflare:index/d1Database:D1Database", "db-analytics", "parsify:data:Database",
               "destructive", protected=True),
    ]
    text = render_preview(DOC, changes, "stacks/snapshots/prod.json")
    assert " +   cloudflare:AccountToken" in text and " ~   cloudflare:ZoneSetting" in text
    assert " +-  cloudflare:R2Bucket" in text and " -   cloudflare:D1Database" in text
    assert "delete  (protected: the delete fails until protect is removed)" in text
    assert "Warning: 2 protected resource(s) would be deleted or replaced: logs, db-analytics." in text
    assert "    + 1 to create\n    ~ 1 to update\n    +- 1 to replace\n    - 1 to delete\n    3 unchanged" in text
    assert "Legend: + create, ~ update, +- replace, - delete." in text
    assert "\033[" not in text
    assert "\033[31m" in render_preview(DOC, changes, "b", colour=True)


@pytest.mark.parametrize("value, shown", [
    (1.0, "1"),  # protobuf numbers come back as floats: shown as declared
    ("[secret]", "[secret]"),
    ("[secret 77f3012710be]", "[secret]"),  # the snapshot's fingerprint is not shown
    ("[unknown]", '"[unknown]"'),
    (None, "(absent)"),
    ("05784afa30c1afe1440e79d9351c7430", '"Administrator" (05784afa30c1afe1440e79d9351c7430)'),  # reference id
    ("e086da7e2179491d91ee5f35b3ca210a", '"Workers Scripts Write" (e086da7e2179491d91ee5f35b3ca210a)'),
])
def test_values_are_shown_as_a_person_reads_them(value: object, shown: str) -> None:
    assert display(value) == shown


def test_a_real_change_with_diff_and_expect_no_changes(tmp_path: Path) -> None:
    program = copy_program(tmp_path)
    (program / "Pulumi.prod.yaml").write_text(PROD.replace("roles: [Analytics]}", "roles: [Administrator Read Only]}"))
    argv = ["plan", "--stack", "prod", "--program", str(program), "--baseline",
            str(REPO / "stacks/snapshots/prod.json"), "--as-of", PLAN_DATE]
    status, text = run_cli(*argv, "--diff")
    assert status == 0
    assert ('~ roles[0]: "Analytics" (6ddc5f80969d01105b5a0931e0079365) => "Administrator Read Only" '
            "(f2b20eaa1a5d4af42b53ac16238c99c7)") in text
    assert run_cli(*argv, "--expect-no-changes")[0] == EXIT_CHANGES
    unchanged = ["plan", "--stack", "prod", "--as-of", PLAN_DATE, "--expect-no-changes"]
    status, text = run_cli(*unchanged)
    assert status == 0 and "No changes: the program declares the approved state." in text


def test_pulumi_json_has_the_shape_of_pulumi_preview_json(tmp_path: Path) -> None:
    # pulumi/pkg display PreviewDigest: config (secrets blinded), steps {op, urn, oldState, newState,
    # diffReasons}, diagnostics {urn, prefix, message, severity}, changeSummary.
    program = copy_program(tmp_path)
    (program / "Pulumi.prod.yaml").write_text(PROD.replace("roles: [Analytics]}", "roles: [Administrator]}"))
    status, text = run_cli("plan", "--stack", "prod", "--program", str(program), "--format", "pulumi-json",
                           "--baseline", str(REPO / "stacks/snapshots/prod.json"), "--as-of", PLAN_DATE)
    digest = json.loads(text)
    assert status == 1, "a non-break-glass Administrator blocks"
    assert set(digest) == {"config", "steps", "diagnostics", "changeSummary"}
    update = next(s for s in digest["steps"] if s["op"] == "update")
    assert update["diffReasons"] == ["roles"] and update["oldState"]["inputs"]["roles"] != update["newState"][
        "inputs"]["roles"]
    assert digest["changeSummary"] == {"same": len(digest["steps"]) - 1, "update": 1}
    assert any(d["severity"] == "error" and "account-member-admin-break-glass-only" in d["message"]
               for d in digest["diagnostics"])
    assert digest["config"]["cloudflare:apiToken"] == "[secret]"


def test_a_rotated_secret_shows_as_changed_never_its_value(tmp_path: Path) -> None:
    program = copy_program(tmp_path)
    old = "v1:b0Yc3kX9mQ2rT8vN:Jm3qZxv7P8Wc1nL5tR0yHq9sV2bD4fG6kE="
    assert old in PROD
    rotated = "v1:Rotated9mQ2rT8vN:Xm3qZxv7P8Wc1nL5tR0yHq9sV2bD4fG6kE="
    (program / "Pulumi.prod.yaml").write_text(PROD.replace(old, rotated))
    status, text = run_cli("plan", "--stack", "prod", "--program", str(program), "--baseline",
                           str(REPO / "stacks/snapshots/prod.json"), "--as-of", PLAN_DATE, "--diff")
    assert status == 0 and "~ 1 to update" in text
    assert ": [secret] => [secret] (changed)" in text
    assert "Rotated" not in text and "offline-secret" not in text


def test_new_resources_show_their_inputs_and_records_name_roles(tmp_path: Path) -> None:
    program = copy_program(tmp_path)
    added = PROD.replace("    - {email: jon.bell@parsify.io, roles: [Administrator Read Only]}\n",
                         "    - {email: jon.bell@parsify.io, roles: [Administrator Read Only]}\n"
                         "    - {email: new.sre@parsify.io, roles: [Workers Platform Admin]}\n")
    assert added != PROD
    (program / "Pulumi.prod.yaml").write_text(added)
    argv = ["plan", "--stack", "prod", "--program", str(program), "--baseline",
            str(REPO / "stacks/snapshots/prod.json"), "--as-of", PLAN_DATE]
    text = run_cli(*argv, "--diff")[1]
    assert '+ roles[0]: "Workers Platform Admin" (57280df9f1a5806e04f065b07bbdd17a)' in text
    record = run_cli(*argv, "--format", "markdown")[1]
    assert "| `roles[0]` | `(none)` | `Workers Platform Admin (57280df9f1a5806e04f065b07bbdd17a)` |" in record
    digest = json.loads(run_cli(*argv, "--format", "pulumi-json")[1])
    assert any(s["urn"].endswith("::parsify-prod") and s["op"] == "same" for s in digest["steps"]), "the stack step"
