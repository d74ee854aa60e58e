"""No secret value reaches any output: text plan, verbose plan, JSON plan, or the policy verdicts."""

from __future__ import annotations

import pytest

from parsify_infra.stackfile import load_stack_files
from tests.conftest import PLAN_DATE, REPO, run_cli


@pytest.mark.parametrize("stack", ["prod", "staging"])
@pytest.mark.parametrize("fmt", [["--format", "text", "--verbose"], ["--format", "json"]], ids=["text", "json"])
def test_no_secret_value_reaches_the_plan_output(stack: str, fmt: list[str]) -> None:
    files = load_stack_files(REPO, stack)
    assert len(files.secret_placeholders) >= 6, "the stack has secrets to leak"
    status, text = run_cli("plan", "--stack", stack, "--as-of", PLAN_DATE, *fmt)
    assert status == 0
    for placeholder in files.secret_placeholders:
        assert placeholder not in text
    assert "[secret]" in text
    assert "v1:" not in text, "not even the ciphertext"
