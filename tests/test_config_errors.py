"""Bad stack config stops with one line naming the file and the key, exit status 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from parsify_infra import cli, secrets
from parsify_infra.capture import load_fixtures
from parsify_infra.errors import InputError
from tests.conftest import REPO, copy_program, run_cli

PROD = (REPO / "Pulumi.prod.yaml").read_text()


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_program(tmp_path_factory.mktemp("program"))


CASES = [
    ("missing key", PROD.replace("  parsify:backups:\n", "  parsify:backupz:\n"),
     "key parsify:backups: is required but missing"),
    ("unknown key", PROD.replace("    retentionDays: 35\n", "    retentionDays: 35\n    retentonDays: 3\n"),
     "key parsify:backups.retentonDays: is not a known setting"),
    ("wrong type", PROD.replace("retentionDays: 35", "retentionDays: thirty-five"),
     "key parsify:backups.retentionDays: Input should be a valid integer"),
    ("bad date", PROD.replace("expires: 2026-12-11", "expires: 2026-13-45"),
     "key parsify:access.grants[0].expires: Input should be a valid date"),
    ("bad enum", PROD.replace("locationHint: enam", "locationHint: mars"),
     "key parsify:databases[2].locationHint: Input should be"),
    ("cross reference", PROD.replace("    database: core\n", "    database: nope\n"),
     "key parsify:apiWorker.database: 'nope' is not one of the databases"),
    ("plaintext secret", PROD.replace("  parsify:stripeApiKey:\n    secure:", "  parsify:stripeKeyOld:\n    secure:"),
     "key parsify:stripeApiKey: the secret is not set; run `pulumi config set --secret parsify:stripeApiKey`"),
    ("invalid YAML", PROD.replace("  parsify:zone:\n", "  parsify:zone: [\n"),
     "invalid YAML"),
    ("unknown role", PROD.replace("roles: [Analytics]}", "roles: [Wizard]}"),
     "key parsify:members[5].roles: has unknown roles ['Wizard']"),
    ("unknown role, near miss", PROD.replace("roles: [Analytics]}", "roles: [Analytic]}"),
     "has unknown roles ['Analytic']; did you mean ['Analytics']?"),
    ("duplicate key", PROD + "  parsify:members: []\n",
     "invalid YAML: duplicate key 'parsify:members' (first on line"),
    ("unknown permission group", PROD.replace("D1 Read]", "D1 Godmode]"),
     "key parsify:tokens[2].permissionGroups: unknown account permission groups ['D1 Godmode']"),
    # A routed channel without what it needs to send is an error, not a channel skipped at 3 a.m.
    ("routed channel without its secret", PROD.replace("      slackWebhookSecret: slackWebhookUrl", "      #"),
     "key parsify:monitoring.channels.slackWebhookSecret: route 'critical' sends to slack, which needs it"),
    ("paged by the monitor without a routing key",
     PROD.replace("      pagerdutyRoutingKeySecret: pagerdutyRoutingKey", "      #"),
     "key parsify:monitoring.channels.pagerdutyRoutingKeySecret: route 'critical' sends to pagerduty, which needs it"),
    ("email without its endpoint", PROD.replace("      emailApiUrl: https://api.resend.com/emails\n", ""),
     "key parsify:monitoring.channels.emailApiUrl: route 'critical' sends to email, which needs it"),
    ("email without the provider's DNS records",
     re.sub(r"      emailDns:\n        region: .*\n        dkimPublicKey: .*\n", "", PROD),
     "key parsify:monitoring.channels.emailDns: Resend sends from the zone only with its SPF and DKIM records"),
    ("a status page nobody watches", PROD.replace("      - {hostname: status.parsify.io, path: /status.json}\n", ""),
     "key parsify:monitoring.healthchecks: no health check on status.parsify.io/status.json"),
    ("maintenance for an unknown target", PROD.replace("          targets: [API]\n", "          targets: [Billing]\n"),
     "key parsify:monitoring.synthetic.maintenance[0].targets: ['Billing'] are not targets"),
    ("maintenance ending before it starts", PROD.replace("end: 2026-12-05T04:00:00Z", "end: 2026-12-05T01:00:00Z"),
     "maintenance window 'D1 read replication for the billing database' ends before it starts"),
    # A value written over two lines still gives a one-line message (blanks and line breaks collapse).
    ("a summary over two lines", PROD.replace("end: 2026-12-05T04:00:00Z", "end: 2026-12-05T01:00:00Z").replace(
        "summary: D1 read replication for the billing database",
        'summary: "D1 read replication\\nfor the  billing database"'),
     "maintenance window 'D1 read replication for the billing database' ends before it starts"),
    ("a window without a time zone", PROD.replace("start: 2026-12-05T02:00:00Z", "start: 2026-12-05T02:00:00"),
     "key parsify:monitoring.synthetic.maintenance[0].start: Input should have timezone info"),
    ("no rule pages", PROD.replace("{severity: critical, factor: 14.4", "{severity: warning, factor: 14.4")
     .replace("{severity: critical, factor: 6,", "{severity: warning, factor: 6,"),
     "key parsify:slo.burnAlerts: no rule pages"),
    ("short window longer than the long one",
     PROD.replace("longMinutes: 60, shortMinutes: 5", "longMinutes: 60, shortMinutes: 90"),
     "shortMinutes must be shorter than longMinutes"),
    # Each database becomes resources named after it: Pulumi refuses two resources with one URN ("Duplicate
    # resource URN", https://www.pulumi.com/docs/iac/concepts/resources/names/), and wrangler and the backup
    # manifests address a D1 database by its name (https://developers.cloudflare.com/d1/wrangler-commands/).
    ("duplicate database", PROD.replace("    - name: billing\n", "    - name: core\n"),
     "key parsify:databases: database names must be unique"),
    ("grant for an unknown application", PROD.replace("application: Database console", "application: Data console"),
     "key parsify:access.grants: the grant for jon.bell@parsify.io names unknown application 'Data console'"),
    ("application naming an unknown group", PROD.replace("groups: [support, sre]", "groups: [support, sres]"),
     "key parsify:access.applications: 'Support console' names unknown groups ['sres']"),
    # "Lock rules take precedence over lifecycle rules": a lock longer than the retention keeps every backup past
    # the lifecycle's deletion (https://developers.cloudflare.com/r2/buckets/bucket-locks/, reference D-R2LOCK).
    ("lock longer than retention", PROD.replace("immutableDays: 7", "immutableDays: 36"),
     "key parsify:backups: immutableDays cannot exceed retentionDays"),
    # A D1 database is placed by a location hint or restricted to a jurisdiction, one or the other
    # (https://developers.cloudflare.com/d1/configuration/data-location/).
    ("both placements", PROD.replace("      jurisdiction: eu\n", "      jurisdiction: eu\n      locationHint: weur\n"),
     "key parsify:databases[3]: set exactly one of locationHint or jurisdiction"),
    ("no placement", PROD.replace("      jurisdiction: eu\n", ""),
     "key parsify:databases[3]: set exactly one of locationHint or jurisdiction"),
    ("env value and secret", PROD.replace("secret: webSessionSecret,", "secret: webSessionSecret, value: x,"),
     "key parsify:frontend.env[1]: set exactly one of value or secret"),
    ("secrets key reserved", PROD + "  parsify:secrets: {}\n", "key parsify:secrets: is reserved"),
    ("several problems", PROD.replace("retentionDays: 35", "retentionDays: 0").replace("immutableDays: 7",
                                                                                   "immutableDays: -1"),
     "key parsify:backups.retentionDays: Input should be greater than or equal to 1 (and 1 more problems)"),
    # Cron Triggers take five fields, minute to day of week (https://developers.cloudflare.com/workers/
    # configuration/cron-triggers/, reference D-CRON); a sixth (seconds or year) is refused by the API.
    ("six-field cron", PROD.replace('schedule: "15 2 * * *"', 'schedule: "0 15 2 * * *"'),
     "key parsify:backups.schedule: must be a five-field cron expression such as '0 3 * * *'"),
    ("four-field cron", PROD.replace('schedule: "15 2 * * *"', 'schedule: "15 2 * *"'),
     "key parsify:backups.schedule: must be a five-field cron expression"),
]


# Cases whose expected text is the start of the message only (it goes on with a line number or an example).
OPEN_ENDED = {
    'missing key',
    'wrong type',
    'bad date',
    'bad enum',
    'cross reference',
    'invalid YAML',
    'unknown role',
    'duplicate key',
    'routed channel without its secret',
    'paged by the monitor without a routing key',
    'email without its endpoint',
    "email without the provider's DNS records",
    'a status page nobody watches',
    'maintenance for an unknown target',
    'no rule pages',
    'secrets key reserved',
    'four-field cron',
}


@pytest.mark.parametrize("label, text, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_naming_file_and_key(program: Path, label: str, text: str, expected: str) -> None:
    (program / "Pulumi.prod.yaml").write_text(text)
    status, message = run_cli("plan", "--stack", "prod", "--program", str(program), "--no-policies")
    assert status == 2, message
    assert "Pulumi.prod.yaml" in message and expected in message
    if expected.startswith("key "):  # the key named right after the file, once (a cross-field check names its own)
        assert f"Pulumi.prod.yaml: {expected}" in message and message.count(" key ") == 1, message
    assert "\n" not in message
    assert message.endswith(expected) or label in OPEN_ENDED, f"the whole message ends so: {message}"


@pytest.mark.parametrize("label, text", [
    ("lock as long as the retention", PROD.replace("immutableDays: 7", "immutableDays: 35")),
    ("cron with ranges and steps", PROD.replace('schedule: "15 2 * * *"', 'schedule: "*/30 1-5 * * mon-fri"')),
])
def test_the_edge_of_each_rule_is_accepted(program: Path, label: str, text: str) -> None:
    (program / "Pulumi.prod.yaml").write_text(text)
    status, message = run_cli("plan", "--stack", "prod", "--program", str(program), "--no-policies")
    assert status == 0, message


def test_unrecorded_invoke_names_the_fixture_file(program: Path) -> None:
    (program / "Pulumi.prod.yaml").write_text(PROD.replace("5f1e3c7a9b2d4e6f8a0b1c2d3e4f5a6b",
                                                             "ffffffffffffffffffffffffffffffff"))
    status, message = run_cli("plan", "--stack", "prod", "--program", str(program), "--no-policies")
    assert (status, message) == (2, f"{program}/fixtures/invokes.json: no recorded invoke for cloudflare:index/"
                                    'getAccountRoles:getAccountRoles with args {"accountId": '
                                    '"ffffffffffffffffffffffffffffffff"}; record it from the real API')


def test_missing_stack_file_and_missing_program(tmp_path: Path) -> None:
    assert run_cli("plan", "--stack", "qa")[0] == 2
    status, message = run_cli("plan", "--stack", "prod", "--program", str(tmp_path))
    assert status == 2 and "Pulumi.yaml: file not found" in message


def test_the_command_exits_2_without_a_traceback(program: Path) -> None:
    """The real console script: one line on stderr, nothing half-printed on stdout."""
    (program / "Pulumi.prod.yaml").write_text(PROD.replace("retentionDays: 35", "retentionDays: []"))
    result = subprocess.run(
        ["parsify-infra", "plan", "--stack", "prod", "--program", str(program)],
        capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "Pulumi.prod.yaml: key parsify:backups.retentionDays" in result.stderr


def test_ctrl_c_ends_the_command_in_one_line_with_status_130(tmp_path: Path) -> None:
    # Ctrl-C (KeyboardInterrupt) during any command: what a shell reports for SIGINT, without a traceback.
    interrupted = ("import sys\nfrom parsify_infra import cli\n"
                   "def run(argv):\n    raise KeyboardInterrupt\n"
                   "cli.run = run\ncli.main(['restore'])\n")
    result = subprocess.run([sys.executable, "-c", interrupted], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "parsify-infra: interrupted\n")


@pytest.mark.parametrize("argv, expected", [
    (["plna", "--stack", "prod"], "did you mean 'plan'?"),
    (["plan", "--stack", "../prod"], "not a stack name: '../prod'"),
    (["plan", "--stack", "prdo"], "Pulumi.prdo.yaml: file not found; did you mean 'prod'? stacks here: prod, staging"),
    (["plan", "--stack", "prod", "--formt", "json"], "unrecognized arguments: --formt json; did you mean '--format'?"),
    (["plan", "--stack", "prod", "--format", "jsn"], "did you mean 'json'?"),
])
def test_mistyped_commands_stacks_and_flags_get_a_suggestion(argv: list[str], expected: str) -> None:
    status, message = run_cli(*argv)
    assert status == 2 and expected in message and not message.startswith("parsify-infra: ")


def test_version_names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_cli("--version")
    assert stopped.value.code == 0 and capsys.readouterr().out.startswith("parsify-infra ")


def test_an_internal_error_is_one_masked_line_with_exit_status_2(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # A crash in the tool itself (not the program, not the input) must not pass, print a traceback or a secret.
    def crash(argv: list[str]) -> tuple[int, str]:
        raise RuntimeError("lookup of\noffline-secr\net-0b7c5b91 failed")

    def exit_with(status: int) -> None:
        raise SystemExit(status)

    monkeypatch.setattr(secrets, "KNOWN", {"offline-secret-0b7c5b91"})
    monkeypatch.delenv("PARSIFY_INFRA_DEBUG", raising=False)
    monkeypatch.setattr(cli, "run", crash)
    monkeypatch.setattr(cli.os, "_exit", exit_with)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["plan"])
    assert (stopped.value.code, capsys.readouterr().err) == (2, (
        "parsify-infra: error: RuntimeError: lookup of [secret] failed (an internal error; set "
        "PARSIFY_INFRA_DEBUG=1 to see the traceback)\n"))


def test_a_project_without_its_program_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((REPO / "tests/fixtures/generic/Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.case.yaml").write_text("config: {}\n")
    assert run_cli("plan", "--stack", "case", "--program", str(tmp_path)) == (
        2, f"{tmp_path}/__main__.py: file not found; --program must name a Pulumi Python project")


@pytest.mark.parametrize("document, problem", [
    ([], "key (top level): [] is not of type 'object'"),
    ({"invokes": [{"invoke": "cloudflare:index/getZone:getZone", "args": {}, "result": {}, "secretOutputs": [1]}]},
     "key invokes.0.secretOutputs.0: 1 is not of type 'string'"),
], ids=["not an object", "deep"])
def test_a_bad_fixtures_file_names_its_key(tmp_path: Path, document: object, problem: str) -> None:
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "invokes.json").write_text(json.dumps(document))
    with pytest.raises(InputError) as caught:
        load_fixtures(tmp_path)
    assert str(caught.value) == f"{tmp_path}/fixtures/invokes.json: {problem}"


def test_the_program_itself_reports_a_value_over_two_lines_in_one_line(program: Path) -> None:
    # Under the real CLI the program's own StackConfigError is what the user reads: it must be one line already.
    import pulumi

    from parsify_infra.stackfile import load_stack_files
    from stacks.config import StackConfigError, load_stack_config

    (program / "Pulumi.prod.yaml").write_text(PROD.replace("end: 2026-12-05T04:00:00Z", "end: 2026-12-05T01:00:00Z")
                                              .replace("summary: D1 read replication for the billing database",
                                                       'summary: "D1 read\\nreplication"'))
    files = load_stack_files(program, "prod")
    pulumi.runtime.set_all_config(dict(files.config), list(files.secret_keys))
    try:
        with pytest.raises(StackConfigError) as caught:
            load_stack_config()
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert str(caught.value).endswith("maintenance window 'D1 read replication' ends before it starts")
