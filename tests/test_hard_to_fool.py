"""A program cannot fool the gate: exiting, hanging or printing never yields a passing plan."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, run_cli

GENERIC = REPO / "tests" / "fixtures" / "generic"


def fuzz_program(tmp_path: Path, stack: str | None = None, main: str | None = None) -> Path:
    """The generic fixture program, laid out once per test (hypothesis reuses tmp_path across examples)."""
    folder = tmp_path / "fuzz"
    if not folder.exists():
        shutil.copytree(GENERIC, folder)
        if stack is not None:
            (folder / "Pulumi.case.yaml").write_text(stack)
        if main is not None:
            (folder / "__main__.py").write_text(main)
    return folder


def assert_verdict_or_one_line(status: int, message: str, names: str) -> None:
    """Exit 0, 1 or 2; on 2 a single line that names the file; never a traceback."""
    assert status in (0, 1, 2)
    if status == 2:
        assert "\n" not in message.strip() and "Traceback" not in message and names in message


def fuzz(examples: int) -> settings:
    """Deterministic fuzzing (derandomized): a plan per example, so no deadline."""
    return settings(max_examples=examples, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def program(tmp_path: Path, main: str) -> Path:
    folder = tmp_path / "program"
    folder.mkdir()
    shutil.copy(GENERIC / "Pulumi.yaml", folder)
    (folder / "Pulumi.case.yaml").write_text("config:\n  policy-fixture:resources: []\n")
    (folder / "__main__.py").write_text(main)
    return folder


@pytest.mark.parametrize("main, expected", [
    ("import sys\nsys.exit(0)\n", "the program exited (status 0) before it finished; no plan was made"),
    ("import sys\nsys.exit()\n", "the program exited (status None) before it finished; no plan was made"),
    ("raise SystemExit(3)\n", "the program exited (status 3) before it finished"),
    ("raise SystemExit('bye')\n", "the program exited (message 'bye') before it finished"),
    ("import os\nos._exit(0)\n", "the program exited (status 0) before it finished"),  # would end the process
    ("import os\nos.execv('/bin/true', ['true'])\n", "the program exited"),  # would replace the process
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
    main_file = tmp_path / "program" / "__main__.py"
    assert (status, message) == (2, f"{main_file}: the program did not finish within 0.5 s "
                                    "(--program-timeout); no plan was made")


def test_program_output_goes_to_stderr_so_json_stays_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main = "print('hello from the program')\n"
    status, text = run_cli("plan", "--stack", "case", "--program", str(program(tmp_path, main)), "--format", "json")
    assert status == 0 and json.loads(text)["stack"] == "case"
    captured = capsys.readouterr()
    assert "hello from the program" in captured.err and "hello from the program" not in captured.out


def _bomb() -> str:
    lines = ["config:", "  a: &a [x, x, x, x, x, x, x, x, x]"]
    for name, previous in zip("bcdefgh", "abcdefg", strict=True):
        lines.append(f"  {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("content, expected", [
    (_bomb().encode(), "more than 200000 values once its aliases are expanded"),  # a ~500-byte alias bomb
    (("config:\n  x: " + "[" * 100 + "]" * 100 + "\n").encode(), "nested deeper than 64 levels"),
    ("config:\n  x: 1\n".encode("utf-16"), "not UTF-8 text"),
    (b"\x00\x01\x02binary\xff", "not UTF-8 text"),
    (b"config:\n  x: 1\n  x: 2\n", "duplicate key 'x'"),
])
def test_stack_files_are_read_with_limits(tmp_path: Path, content: bytes, expected: str) -> None:
    folder = program(tmp_path, "")
    (folder / "Pulumi.case.yaml").write_bytes(content)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; it only ever grows
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder))
    assert status == 2 and expected in message and "\n" not in message.strip()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 256 * 1024, "memory stayed bounded"


@pytest.mark.parametrize("make, expected", [
    (lambda d: d, "is a directory, not a file"),
    (lambda d: (d / "c.json").write_text('{"a": {}, "a": {}}') and d / "c.json", "duplicate key 'a'"),
    (lambda d: (d / "c.json").write_text("[" * 5000 + "]" * 5000) and d / "c.json", "nested deeper"),
    (lambda d: (d / "c.json").write_bytes(b"\xff\xfe{") and d / "c.json", "not UTF-8 text"),
], ids=["directory", "duplicate key", "deep", "binary"])
def test_pack_config_is_read_with_limits(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    folder = program(tmp_path, "import pulumi\n")
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder), "--policy-config",
                              str(make(tmp_path)))
    assert status == 2 and expected in message


STACK_TEXT = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                 max_leaves=20).map(lambda v: yaml.safe_dump({"config": {"policy-fixture:resources": v}})),
)


@fuzz(40)
@given(STACK_TEXT)
def test_any_stack_file_gives_a_verdict_or_one_line(tmp_path: Path, text: str) -> None:
    folder = fuzz_program(tmp_path)
    (folder / "Pulumi.case.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_verdict_or_one_line(*run_cli("plan", "--stack", "case", "--program", str(folder), "--format", "json",
                                        "--no-policies"), str(folder))


def test_pulumi_yaml_main_and_runtime_are_honoured(tmp_path: Path) -> None:
    folder = program(tmp_path, "raise RuntimeError('the root __main__.py must not run')\n")
    (folder / "app").mkdir()
    (folder / "app" / "__main__.py").write_text("import pulumi\npulumi.export('from', 'app')\n")
    yaml_text = (GENERIC / "Pulumi.yaml").read_text()
    (folder / "Pulumi.yaml").write_text(yaml_text + "main: app/\n")
    status, text = run_cli("plan", "--stack", "case", "--program", str(folder), "--format", "json", "--no-policies")
    assert status == 0 and json.loads(text)["outputs"] == {"from": "app"}
    (folder / "Pulumi.yaml").write_text(yaml_text.replace("runtime: python", "runtime: nodejs"))
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder))
    assert status == 2 and "key runtime: 'nodejs'; this tool runs Python programs only" in message
    (folder / "Pulumi.yaml").write_text(yaml_text + "main: ../elsewhere\n")
    assert "is outside the project" in run_cli("plan", "--stack", "case", "--program", str(folder))[1]


JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                    st.text(max_size=12)),
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                      max_size=4),
                          max_leaves=25)
PACK_CONFIG = st.one_of(JSON_VALUE, st.dictionaries(
    st.sampled_from(["api-token-expires", "access-session-duration-bounded", "account-member-admin-break-glass-only",
                     "monitoring-public-hostname-covered", "nope"]), JSON_VALUE, max_size=3))


@fuzz(40)
@given(PACK_CONFIG)
def test_any_pack_config_gives_a_verdict_or_one_line(tmp_path: Path, config: object) -> None:
    folder = fuzz_program(tmp_path, stack="config:\n  policy-fixture:resources: []\n")
    (tmp_path / "pack.json").write_text(json.dumps(config))
    assert_verdict_or_one_line(*run_cli("plan", "--stack", "case", "--program", str(folder), "--policy-config",
                                        str(tmp_path / "pack.json"), "--format", "json"), "pack.json")


INVOKING = ("import pulumi\n"
            "thing = pulumi.runtime.invoke_output('test:index/getThing:getThing', {})\n"
            "pulumi.CustomResource('test:index/user:User', 'u', {'token': thing.apply(lambda r: str(r))})\n")


@fuzz(30)
@given(st.one_of(JSON_VALUE, st.fixed_dictionaries({"invokes": st.lists(st.fixed_dictionaries({
    "invoke": st.sampled_from(["test:index/getThing:getThing", "x"]), "args": JSON_VALUE, "result": JSON_VALUE,
}), max_size=2)})))
def test_any_fixtures_file_gives_a_plan_or_one_line(tmp_path: Path, fixtures: object) -> None:
    folder = fuzz_program(tmp_path, stack="config: {}\n", main=INVOKING)
    (folder / "fixtures").mkdir(exist_ok=True)
    (folder / "fixtures" / "invokes.json").write_text(json.dumps(fixtures))
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder), "--format", "json",
                              "--no-policies")
    assert status != 1, "no policies ran"
    assert_verdict_or_one_line(status, message, str(folder))


def test_a_program_guarded_by_its_name_runs_as_pulumi_runs_it(tmp_path: Path) -> None:
    # Pulumi's Python language host runs the program as __main__, so a guarded program declares its resources.
    main = "import pulumi\n\nif __name__ == '__main__':\n    pulumi.export('ran', True)\n"
    status, text = run_cli("plan", "--stack", "case", "--program", str(program(tmp_path, main)), "--format", "json")
    assert (status, json.loads(text)["outputs"]) == (0, {"ran": True})


def test_an_unrecorded_invoke_names_its_arguments_in_a_stable_order(tmp_path: Path) -> None:
    # The arguments are written with sorted keys, so the message (and the fixture to record) does not depend on
    # the order the program passed them in.
    # Protobuf's Struct, which carries them, keeps no order: with two keys they happened to arrive sorted.
    main = ("import pulumi\npulumi.runtime.invoke('test:index/getThing:getThing', "
            "{'zone': 'z', 'b': 'x', 'yy': 'y', 'account': 'a', 'm': 'm', 'Q': 'q'})\n")
    folder = program(tmp_path, main)
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder))
    assert (status, message) == (2, f"{folder}/fixtures/invokes.json: no recorded invoke for "
                                    'test:index/getThing:getThing with args {"Q": "q", "account": "a", "b": "x", '
                                    '"m": "m", "yy": "y", "zone": "z"}; record it from the real API')


# The SDK re-raises the first failed call when the program ends, whatever the program made of it: the message says
# which answer to record, not the program's own wording.
@pytest.mark.parametrize("handler", ["pass  # carries on without the answer",
                                     "raise RuntimeError('zone lookup failed') from exc"],
                         ids=["swallowed", "turned-into-its-own-error"])
def test_a_program_that_catches_an_unrecorded_invoke_still_gets_its_error(tmp_path: Path, handler: str) -> None:
    main = ("import pulumi\ntry:\n    pulumi.runtime.invoke('test:index/getThing:getThing', {'zone': 'z'})\n"
            f"except Exception as exc:\n    {handler}\n")
    folder = program(tmp_path, main)
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder))
    assert (status, message) == (2, f"{folder}/fixtures/invokes.json: no recorded invoke for "
                                    'test:index/getThing:getThing with args {"zone": "z"}; record it from the real API')


def test_a_program_that_exits_inside_an_apply_is_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The exit ends a task of the SDK's: asyncio would report it with a traceback of its own before the error.
    main = "import pulumi, sys\npulumi.export('v', pulumi.Output.from_input(1).apply(lambda _: sys.exit(3)))\n"
    folder = program(tmp_path, main)
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder))
    assert (status, message) == (2, f"{folder}/__main__.py: the program exited (status 3) before it finished; no plan "
                                    "was made")
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    console = subprocess.run(["parsify-infra", "plan", "--stack", "case", "--program", str(folder)],
                             capture_output=True, text=True, check=False)
    assert (console.returncode, console.stderr) == (2, f"parsify-infra: error: {message}\n")


def test_a_failure_in_the_programs_asynchronous_work_fails_the_plan(tmp_path: Path) -> None:
    # A callback that fails while the program itself finishes: asyncio only logs it, the plan must not pass over it.
    main = "import asyncio, pulumi\nasyncio.get_event_loop().call_soon(lambda: 1 / 0)\npulumi.export('v', 1)\n"
    folder = program(tmp_path, main)
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder))
    assert (status, message) == (2, f"{folder}/__main__.py: the program's asynchronous work failed: "
                                    "ZeroDivisionError('division by zero'); no plan was made")


@pytest.mark.parametrize("failing, failure", [
    ("f = asyncio.get_event_loop().create_future()\nf.set_exception(RuntimeError('dropped'))\ndel f\n",
     "RuntimeError('dropped')"),
    ("async def work():\n    raise RuntimeError('task')\nasyncio.ensure_future(work())\n", "RuntimeError('task')"),
], ids=["future", "task"])
def test_a_failed_future_or_task_nobody_awaits_fails_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              failing: str, failure: str) -> None:
    # asyncio reports it only when it is collected as garbage, with a traceback ("... exception was never retrieved"),
    # and the program goes on: the plan fails in one line instead, in this run.
    main = f"import asyncio, pulumi\n{failing}pulumi.export('v', 1)\n"
    folder = program(tmp_path, main)
    status, message = run_cli("plan", "--stack", "case", "--program", str(folder))
    assert (status, message) == (2, f"{folder}/__main__.py: the program's asynchronous work failed: {failure}; no "
                                    "plan was made")
    assert "never retrieved" not in capsys.readouterr().err
