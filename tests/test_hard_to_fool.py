"""A program cannot fool the gate: exiting, hanging or printing never yields a passing plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

GENERIC = REPO / "tests" / "fixtures" / "generic"


def program(tmp_path: Path, main: str) -> Path:
    folder = tmp_path / "program"
    folder.mkdir()
    shutil.copy(GENERIC / "Pulumi.yaml", folder)
    (folder / "Pulumi.case.yaml").write_text("config:\n  policy-fixture:resources: []\n")
    (folder / "__main__.py").write_text(main)
    return folder


@pytest.mark.parametrize("main, expected", [
    ("import sys\nsys.exit(0)\n", "the program exited (status 0) before it finished; no plan was made"),
    ("raise SystemExit(3)\n", "the program exited (status 3) before it finished"),
    ("raise RuntimeError('boom')\n",
     "the program failed: RuntimeError: boom"),
])
def test_a_program_that_exits_or_crashes_is_bad_input_not_a_pass(tmp_path: Path, main: str, expected: str) -> None:
    status, message = run_cli("plan", "--stack", "case", "--program", str(program(tmp_path, main)))
    assert status == 2 and expected in message


def test_a_program_that_never_ends_is_stopped(tmp_path: Path) -> None:
    # The deadline is the program's wall time; a loop that never ends exceeds any deadline.
    main = "try:\n    while True:\n        pass\nexcept Exception:\n    pass\n"  # it cannot swallow the stop
    status, message = run_cli("plan", "--stack", "case", "--program", str(program(tmp_path, main)),
                              "--program-timeout", "0.5")
    assert status == 2 and "did not finish within 0.5 s (--program-timeout)" in message


def test_program_output_goes_to_stderr_so_json_stays_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main = "print('hello from the program')\n"
    status, text = run_cli("plan", "--stack", "case", "--program", str(program(tmp_path, main)), "--format", "json")
    assert status == 0 and json.loads(text)["stack"] == "case"
    captured = capsys.readouterr()
    assert "hello from the program" in captured.err and "hello from the program" not in captured.out
