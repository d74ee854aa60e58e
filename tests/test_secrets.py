"""No secret value reaches any output: text plan, verbose plan, JSON plan, or the policy verdicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parsify_infra import secrets
from parsify_infra.stackfile import load_stack_files
from tests.conftest import PLAN_DATE, REPO, run_cli


@pytest.mark.parametrize("stack", ["prod", "staging"])
@pytest.mark.parametrize("fmt", [["--format", "text", "--verbose"], ["--format", "json"]], ids=["text", "json"])
def test_no_secret_value_reaches_the_plan_output(stack: str, fmt: list[str]) -> None:
    files = load_stack_files(REPO, stack)
    assert len(files.secret_placeholders) >= 6, "the stack has secrets to leak"
    status, text = run_cli("plan", "--stack", stack, "--as-of", PLAN_DATE, *fmt)
    assert status == 0, text
    for placeholder in files.secret_placeholders:
        assert placeholder not in text
    assert "[secret]" in text
    assert "v1:" not in text, "not even the ciphertext"


def test_no_path_repeats_a_secret_even_in_another_case(tmp_path: Path) -> None:
    # A program whose error message quotes a secret (upper-cased): the one-line error the user sees masks it.
    program = tmp_path / "program"
    program.mkdir()
    shutil.copy(REPO / "tests/fixtures/generic/Pulumi.yaml", program)
    (program / "Pulumi.case.yaml").write_text("config:\n  policy-fixture:token:\n    secure: v1:c2VjcmV0LXRva2Vu\n")
    (program / "__main__.py").write_text(
        "import pulumi\nvalue = pulumi.Config().get('token')\nraise RuntimeError('bad token ' + value.upper())\n")
    result = subprocess.run([sys.executable, "-m", "parsify_infra", "plan", "--stack", "case", "--program",
                             str(program)], capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 2
    assert "bad token [secret]" in result.stderr and "OFFLINE-SECRET" not in result.stderr.upper()


@pytest.mark.parametrize("secret_outputs, shown", [(["token"], "[secret]"), ([], "tok-123")])
def test_invoke_results_stay_secret_where_the_recording_says_the_provider_marked_them(
        tmp_path: Path, secret_outputs: list[str], shown: str) -> None:
    program = tmp_path / "program"
    (program / "fixtures").mkdir(parents=True)
    shutil.copy(REPO / "tests/fixtures/generic/Pulumi.yaml", program)
    (program / "Pulumi.case.yaml").write_text("config: {}\n")
    (program / "fixtures" / "invokes.json").write_text(json.dumps({"invokes": [{
        "invoke": "test:index/getThing:getThing", "args": {}, "result": {"token": "tok-123"},
        "secretOutputs": secret_outputs}]}))
    (program / "__main__.py").write_text(
        "import pulumi\n"
        "thing = pulumi.runtime.invoke_output('test:index/getThing:getThing', {})\n"
        "pulumi.CustomResource('test:index/user:User', 'u', {'token': thing.apply(lambda r: r['token'])})\n")
    status, text = run_cli("plan", "--stack", "case", "--program", str(program), "--format", "json",
                           "--no-policies")
    user = next(r for r in json.loads(text)["resources"] if r["name"] == "u")
    assert status == 0 and user["inputs"]["token"] == shown


# The last-line scrub, directly: whatever path produced a text, no offline placeholder leaves the process.
def test_the_last_line_scrub_removes_every_known_placeholder_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "KNOWN", set())
    secrets.remember(["OFFLINE-SECRET-abc", "", "OFFLINE-SECRET-abcdef"])
    assert sorted(secrets.KNOWN) == ["OFFLINE-SECRET-abc", "OFFLINE-SECRET-abcdef"], "an empty one is not kept"
    text = "token=OFFLINE-SECRET-abcdef; upper OFFLINE-SECRET-ABC; lower offline-secret-abc. done"
    # The longer placeholder first: no tail of it ("def") is left behind after the shorter one is masked.
    assert secrets.scrub(text) == "token=[secret]; upper [secret]; lower [secret]. done"


def test_the_scrub_also_takes_this_call_s_placeholders_and_leaves_other_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "KNOWN", set())
    assert secrets.scrub("nothing (secret) here .*") == "nothing (secret) here .*"
    assert secrets.scrub("a.b a+b", ["a.b"]) == "[secret] a+b", "placeholders are matched literally"
    assert not secrets.KNOWN, "a call's own placeholders are not remembered"


def test_mask_replaces_secrets_and_unknowns_at_any_depth() -> None:
    wrapped = {secrets.SECRET_SIG_KEY: secrets.SECRET_SIG, "value": "v1:abc"}
    value = {"a": [wrapped, {"b": secrets.UNKNOWN_SENTINEL}], "c": "plain", "d": {secrets.SECRET_SIG_KEY: "other"}}
    assert secrets.mask(value) == {"a": ["[secret]", {"b": "[unknown]"}], "c": "plain",
                                   "d": {secrets.SECRET_SIG_KEY: "other"}}
    shown = secrets.mask(wrapped, fingerprints=True)
    assert shown == f"[secret {secrets.fingerprint('v1:abc')}]" and len(secrets.fingerprint("v1:abc")) == 12
    assert secrets.fingerprint("v1:abc") != secrets.fingerprint("v1:abd"), "a rotation shows"


def test_a_structured_secret_has_one_fingerprint_whatever_its_key_order() -> None:
    # Secret config values may be objects (`pulumi config set --secret --path`); re-reading one must not show as
    # a rotation in the preview.
    assert secrets.fingerprint({"user": "u", "password": "p"}) == secrets.fingerprint({"password": "p", "user": "u"})


# A program that reads a secret with plain config.get() (Pulumi warns, and hands over the value), prints and logs it,
# then fails with it in a message folded over lines: what reaches the terminal must still mask it (found by an
# adversarial review). The ciphertext is a fake; offline, the value is its placeholder.
CIPHERTEXT = "v1:c2VjcmV0LXRva2Vu"  # checkov:skip=CKV_SECRET_6: a fake Pulumi ciphertext for the test
LEAKY_MAIN = """\
import json, sys, pulumi
value = pulumi.Config().get("token")
print("connecting with", value)
sys.stderr.write("stderr has " + value + "\\n")
pulumi.log.warn("token is " + value)
raise RuntimeError("upstream refused " + json.dumps({"auth": {"token": value}})
                   + "\\nretry with " + value[:12] + "\\n" + value[12:])
"""


def _leaky_program(tmp_path: Path) -> tuple[Path, str]:
    """A program that prints, writes to stderr, logs and fails with its secret; and the secret's placeholder."""
    program = tmp_path / "program"
    program.mkdir()
    shutil.copy(REPO / "tests" / "fixtures" / "generic" / "Pulumi.yaml", program)
    (program / "Pulumi.case.yaml").write_text(f"config:\n  policy-fixture:token:\n    secure: {CIPHERTEXT}\n")
    (program / "__main__.py").write_text(LEAKY_MAIN)
    (placeholder,) = load_stack_files(program, "case").secret_placeholders
    return program, placeholder


def _run_leaky(tmp_path: Path, debug: str | None) -> tuple[subprocess.CompletedProcess[str], str]:
    program, placeholder = _leaky_program(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PARSIFY_INFRA_DEBUG"}
    result = subprocess.run([sys.executable, "-m", "parsify_infra", "plan", "--stack", "case", "--program",
                             str(program)], capture_output=True, text=True, cwd=REPO, check=False,
                            env=env | ({"PARSIFY_INFRA_DEBUG": debug} if debug is not None else {}))
    return result, placeholder


def test_what_a_program_prints_logs_or_fails_with_masks_its_secrets(tmp_path: Path) -> None:
    result, placeholder = _run_leaky(tmp_path, None)
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith(("connecting with", "stderr has", "token is"))] == [
        "connecting with [secret]", "stderr has [secret]", "token is [secret]"]
    assert lines[-1] == ('parsify-infra: error: <program>/__main__.py: the program failed: RuntimeError: upstream '
                         'refused {"auth": {"token": "[secret]"}} retry with [secret]'
                         ).replace("<program>", str(tmp_path / "program"))
    assert result.returncode == 2 and placeholder[:12] not in result.stderr and result.stdout == ""


def test_a_program_run_in_this_process_writes_to_stderr_masked(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # As the Python suite runs a plan, in this process: the program's own stdout and stderr reach stderr, masked.
    program, placeholder = _leaky_program(tmp_path)
    status, _ = run_cli("plan", "--stack", "case", "--program", str(program))
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith(("connecting with", "stderr has"))] == [
        "connecting with [secret]", "stderr has [secret]"]
    assert status == 2 and placeholder[:12] not in err


@pytest.mark.parametrize(("debug", "traceback"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_the_debug_traceback_is_masked_and_still_exit_status_2(tmp_path: Path, debug: str, traceback: bool) -> None:
    # README: PARSIFY_INFRA_DEBUG=1 shows the traceback of a failing program; "0" or empty asks for none.
    result, placeholder = _run_leaky(tmp_path, debug)
    assert ("Traceback (most recent call last)" in result.stderr) is traceback, result.stderr[-400:]
    assert result.returncode == 2 and placeholder[:12] not in result.stderr + result.stdout


def test_the_scrub_masks_a_placeholder_folded_over_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "KNOWN", {"offline-secret-0b7c5b91"})
    assert secrets.scrub("key offline-secr\n  et-0b7C5B91 end, offline-secret-0b7c5b9 kept") == (
        "key [secret] end, offline-secret-0b7c5b9 kept")
