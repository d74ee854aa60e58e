"""Running a Pulumi Python program in-process under Pulumi's mocks and capturing every registration."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import os
import runpy
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jsonschema

from parsify_infra.errors import InputError, debug_requested
from parsify_infra.jsonfile import read_json
from parsify_infra.secrets import SECRET_SIG, SECRET_SIG_KEY, ScrubbingStream
from parsify_infra.stackfile import StackFiles


@dataclass
class CapturedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    retain_on_delete: bool
    # inputs as the engine sees them (camelCase, secrets wrapped with Pulumi's signature)
    inputs: dict[str, Any]


@dataclass
class Capture:
    project: str
    stack: str
    resources: list[CapturedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


FIXTURES_SCHEMA = {
    "type": "object", "required": ["invokes"],
    "properties": {"invokes": {"type": "array", "items": {
        "type": "object", "required": ["invoke", "args", "result"],
        "properties": {"invoke": {"type": "string"}, "args": {"type": "object"}, "result": {"type": "object"},
                       "secretOutputs": {"type": "array", "items": {"type": "string"}}}}}},
}


def load_fixtures(program_dir: Path) -> list[dict[str, Any]]:
    """The recorded invoke answers, validated (fixtures/invokes.json); none when the file is absent."""
    path = program_dir / "fixtures" / "invokes.json"
    if not path.is_file():
        return []
    document = read_json(path)
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(FIXTURES_SCHEMA).iter_errors(document))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise InputError(f"{path}: key {where}: {error.message}")
    return list(document["invokes"])


def _mock_id(typ: str, name: str) -> str:
    return hashlib.md5(f"{typ}::{name}".encode()).hexdigest()


@contextlib.contextmanager
def _program_context(program_dir: Path) -> Iterator[None]:
    """cwd and import path of the program, and a clean module table (programs share names like `stacks`)."""
    saved_cwd, saved_path = Path.cwd(), list(sys.path)
    before = set(sys.modules)
    os.chdir(program_dir)
    sys.path.insert(0, str(program_dir))
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if module_file.startswith(str(program_dir)) and "site-packages" not in module_file:
                del sys.modules[name]


DEFAULT_TIMEOUT_SECONDS = 300.0


class _ProgramTimeout(BaseException):
    """The program ran past its deadline (a BaseException, so the program's own `except Exception` cannot
    swallow it)."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the program after `seconds` of wall time (main thread only: elsewhere there is no alarm)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _ProgramTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _ProgramExit(BaseException):
    """The program tried to end or replace the process (os._exit, os.exec*): it must not end the plan with
    its own status."""


@contextlib.contextmanager
def _no_process_exit() -> Iterator[None]:
    """While the program runs, os._exit and the os.exec* family raise instead of ending the process, so a
    program cannot make `parsify-infra plan` exit 0 without a plan."""
    names = ["_exit", *(n for n in dir(os) if n.startswith("exec"))]
    saved = {name: getattr(os, name) for name in names}

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise _ProgramExit(args[0] if args else None)

    for name in names:
        setattr(os, name, refuse)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(os, name, function)


@contextlib.contextmanager
def _async_failures() -> Iterator[list[str]]:
    """The failures asyncio reports inside the SDK's callbacks while the program runs (a program that exits inside
    an apply, say), collected instead of printed with a traceback of their own: the program may still finish, and
    the plan must then fail in one line, never pass over them. A failed task or future nobody awaited is reported
    when it is collected as garbage: collected here, before the run ends, so it counts in this run. An unrecorded
    invoke's InputError is left out: the SDK re-raises it in the run that made it, and its future may be freed in a
    later run in the same process."""
    loop = asyncio.get_event_loop()
    previous = loop.get_exception_handler()
    failures: list[str] = []

    def collect(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not isinstance(context.get("exception"), InputError):
            failures.append(repr(context.get("exception") or context["message"]))

    loop.set_exception_handler(collect)
    try:
        yield failures
    finally:
        gc.collect()
        loop.set_exception_handler(previous)


def run_program(files: StackFiles, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Capture:
    """Run `files.program_dir/__main__.py` for one stack under mocks; return what it registered. A program
    that exits, crashes or runs past `timeout` seconds is bad input (exit 2), never an empty plan."""
    import pulumi
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime import mocks, rpc, settings
    from pulumi.runtime.stack import Stack
    from pulumi.runtime.sync_await import _sync_await

    capture = Capture(files.project, files.stack)
    fixtures = load_fixtures(files.program_dir)

    class FixtureMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            state = dict(args.inputs)
            resource_id = _mock_id(args.typ, args.name)
            if args.typ == "cloudflare:index/d1Database:D1Database":
                state["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"d1/{args.name}"))
            return resource_id, state

        # (result, check failures): the SDK iterates the failures, so an empty list, never None.
        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            wanted = {k: v for k, v in args.args.items() if v is not None}
            for fixture in fixtures:
                if fixture.get("invoke") == args.token and fixture.get("args") == wanted:
                    # Outputs the provider marked secret when the answer was recorded stay secret here.
                    secret = set(fixture.get("secretOutputs") or [])
                    return {k: {SECRET_SIG_KEY: SECRET_SIG, "value": v} if k in secret else v
                            for k, v in dict(fixture["result"]).items()}, []
            message = (f"{files.program_dir / 'fixtures' / 'invokes.json'}: no recorded invoke for "
                       f"{args.token} with args {json.dumps(wanted, sort_keys=True)}; record it from the real API")
            raise InputError(message)

    class CapturingMonitor(mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            capture.resources.append(CapturedResource(
                urn=response.urn, type=request.type, name=request.name, custom=bool(request.custom),
                parent=request.parent, dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                protect=bool(request.protect), retain_on_delete=bool(request.retainOnDelete),
                inputs=json_format.MessageToDict(request.object)))
            return response

    program_main = files.main
    if not program_main.is_file():
        raise InputError(f"{program_main}: file not found; --program must name a Pulumi Python project")

    settings.ROOT.set(None)
    pulumi.runtime.set_all_config(dict(files.config), list(files.secret_keys))
    fixture_mocks = FixtureMocks()
    pulumi.runtime.set_mocks(fixture_mocks, project=files.project, stack=files.stack, preview=True,
                             monitor=CapturingMonitor(fixture_mocks))

    def program() -> None:
        runpy.run_path(str(program_main), run_name="__main__")

    try:
        # The program's own output goes to stderr, so `--format json` stays one JSON document, and placeholders
        # in it are masked: a program may print or log a secret it read.
        scrubbed = ScrubbingStream(sys.stderr)
        with _program_context(files.program_dir), contextlib.redirect_stdout(scrubbed), \
                contextlib.redirect_stderr(scrubbed), _deadline(timeout), _no_process_exit(), \
                _async_failures() as async_failures:
            mocks.test(program)()
            # set_mocks made the root resource: a Stack, whose outputs are what the program exported.
            stack = cast(Stack, settings.get_root_resource())
            serialized = _sync_await(rpc.serialize_properties(stack.outputs, {}))
            struct = struct_pb2.Struct()
            for key, value in serialized.items():
                struct[key] = value
            capture.outputs = json_format.MessageToDict(struct)
    except InputError:
        raise
    except _ProgramTimeout:
        raise InputError(f"{program_main}: the program did not finish within {timeout:g} s (--program-timeout); "
                         "no plan was made") from None
    except (SystemExit, _ProgramExit) as exc:
        # A program that exits has not declared what it would have: no plan, never a pass.
        # SystemExit's code is its one argument (None without one); _ProgramExit carries os._exit's status.
        code = exc.args[0] if exc.args else None
        how = f"status {code}" if code is None or isinstance(code, int) else f"message {str(code)!r}"
        raise InputError(f"{program_main}: the program exited ({how}) before it finished; "
                         "no plan was made") from None
    except Exception as exc:
        if debug_requested():
            raise
        if isinstance(exc, ValueError):  # the program's own bad-input errors name their file and key
            raise InputError(str(exc)) from None
        raise InputError(f"{program_main}: the program failed: {type(exc).__name__}: {exc}") from None
    if async_failures:
        raise InputError(f"{program_main}: the program's asynchronous work failed: {async_failures[0]}; no plan was "
                         "made")
    return capture
