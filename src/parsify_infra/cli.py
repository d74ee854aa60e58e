"""`parsify-infra`: the offline plan, policy gate, change record and access review of the Parsify platform."""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import sys
import traceback
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from parsify_infra import deploy_gate
from parsify_infra.access_review import build_review, expiring, render_review
from parsify_infra.capture import DEFAULT_TIMEOUT_SECONDS
from parsify_infra.catalogue import catalogue_table
from parsify_infra.changerecord import DEFAULT_MAX_CHARS, change_summary, render_change_record
from parsify_infra.changes import diff, read_codeowners, required_reviewers
from parsify_infra.errors import EXIT_BAD_INPUT, EXIT_CHANGES, EXIT_OK, EXIT_VIOLATIONS, InputError, debug_requested
from parsify_infra.gate import Verdicts, evaluate, load_pack
from parsify_infra.plan import capture_stack, plan_document
from parsify_infra.preview import render_preview
from parsify_infra.pulumijson import preview_digest
from parsify_infra.render import render_listing
from parsify_infra.secrets import scrub
from parsify_infra.snapshot import read_snapshot, snapshot_document, snapshot_path, snapshot_text
from parsify_infra.stackfile import StackFiles


def project_root(start: Path | None = None) -> Path:
    """The Pulumi project the command runs in: the nearest folder up from the working directory with a
    Pulumi.yaml (as the Pulumi CLI finds it), else the working directory. Installed as a package, the command
    works from any directory of a project."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in [here, *here.parents] if (d / "Pulumi.yaml").is_file()), here)


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _stack_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text) or ".." in text:
        raise argparse.ArgumentTypeError(f"not a stack name: {text!r} (letters, digits, '.', '_' and '-')")
    return text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit status 2, as for any bad input
        where = "" if self.prog == "parsify-infra" else f"{self.prog}: "  # main already says parsify-infra
        raise InputError(f"{where}{message}{self._suggestion(message)}")

    def _suggestion(self, message: str) -> str:
        """"; did you mean ...?" for a mistyped subcommand, choice or flag."""
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2)) or [o.strip() for o in choice.group(2).split(",")]
            near = difflib.get_close_matches(choice.group(1), options, n=1)
            return f"; did you mean '{near[0]}'?" if near else ""
        unknown = re.search(r"unrecognized arguments: (\S+)", message)
        if unknown:
            parsers = [self, *(sub for action in self._actions if isinstance(action, argparse._SubParsersAction)
                               for sub in action.choices.values())]
            flags = sorted({f for parser in parsers for action in parser._actions for f in action.option_strings})
            near = difflib.get_close_matches(unknown.group(1).split("=")[0], flags, n=1)
            return f"; did you mean '{near[0]}'?" if near else ""
        return ""


def _stack_options(command: argparse.ArgumentParser, formats: list[str]) -> None:
    command.add_argument("--stack", required=True, type=_stack_name, help="stack name, e.g. prod or staging")
    command.add_argument("--program", type=Path, default=None,
                         help="Pulumi Python project directory (default: this repository)")
    command.add_argument("--format", choices=formats, default=formats[0])
    command.add_argument("--as-of", type=_iso_date, help="plan date for expiry rules (default: today)")
    command.add_argument("--policy-pack", type=Path, default=None,
                         help="CrossGuard pack folder (default: <program>/policies)")
    command.add_argument("--policy-config", type=Path,
                         help="pack config JSON (default: <pack>/config/<stack>.json when it exists)")
    command.add_argument("--program-timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
                         help=f"stop a program that runs longer (default {DEFAULT_TIMEOUT_SECONDS:g}; 0: no limit)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="parsify-infra", description=__doc__)
    parser.add_argument("--version", action="version", version=f"parsify-infra {metadata.version('parsify-infra')}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    plan = commands.add_parser("plan", help="run the program offline, evaluate the policy gate, print the plan")
    _stack_options(plan, ["text", "json", "markdown", "pulumi-json"])
    plan.add_argument("--verbose", action="store_true", help="text format: also list every resource and input")
    plan.add_argument("--diff", action="store_true", help="text format: show each changed property")
    plan.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, metavar="N",
                      help=f"markdown format: cut details past N characters (default {DEFAULT_MAX_CHARS}; 0: all)")
    plan.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                      help="colour the text plan (auto: on a terminal, unless NO_COLOR is set)")
    plan.add_argument("--expect-no-changes", action="store_true",
                      help=f"exit {EXIT_CHANGES} if anything would change (drift jobs)")
    plan.add_argument("--no-policies", action="store_true", help="skip the policy gate")
    plan.add_argument("--baseline", type=Path,
                      help="approved snapshot to diff against (default: <program>/stacks/snapshots/<stack>.json)")
    snapshot = commands.add_parser("snapshot", help="write the approved snapshot of a stack")
    snapshot.add_argument("--stack", required=True, type=_stack_name)
    snapshot.add_argument("--program", type=Path, default=None)
    snapshot.add_argument("--as-of", type=_iso_date)
    snapshot.add_argument("--check", action="store_true", help="exit 1 if the committed snapshot is stale")
    snapshot.add_argument("--program-timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS")
    review = commands.add_parser("access-review", help="who and what can reach what, with findings")
    _stack_options(review, ["markdown", "json"])
    expiry = commands.add_parser("expiry", help="tokens, grants and waivers expiring within 14 days")
    _stack_options(expiry, ["markdown", "json"])
    restore = commands.add_parser("restore", help="verify a D1 backup from a bucket mirror and rebuild it as SQL")
    restore.add_argument("--source", type=Path, required=True, help="local mirror of the backup bucket")
    restore.add_argument("--database", required=True, help="database name, e.g. core")
    which = restore.add_mutually_exclusive_group()
    which.add_argument("--date", type=_iso_date, help="the latest complete backup of that day")
    which.add_argument("--backup-id", help="one backup, e.g. 2026-11-27T02-15-00-000Z")
    restore.add_argument("--output", type=Path, help="write the SQL for `wrangler d1 execute --file`")
    restore.add_argument("--into-sqlite", type=Path, help="restore straight into a new local database file")
    restore.add_argument("--format", choices=["text", "json"], default="text")
    drill = commands.add_parser("drill", help="back up a database on workerd, restore, compare, time it")
    drill.add_argument("--rows", type=int, default=50_000, help="rows of the seeded database")
    drill.add_argument("--from-sqlite", type=Path, help="back up a copy of this SQLite database instead "
                       "(e.g. from `wrangler d1 export`)")
    drill.add_argument("--restored", type=Path, help="write the restored database to this new file")
    drill.add_argument("--keep-backup", type=Path, help="keep the backup (a bucket mirror) in this new folder, "
                       "to rehearse `restore --source DIR --database core` on it")
    drill.add_argument("--format", choices=["text", "json"], default="text")
    gate = commands.add_parser("deploy-gate", help="may this change deploy to prod now (maintenance window, "
                               "error budget)? exit 1 if not")
    gate.add_argument("--plan", type=Path, required=True,
                      help="plan --format json of the stack, against the snapshot of the last deploy (--baseline)")
    gate.add_argument("--budget", type=Path, help="the monitor's /budget.json (unreadable: counts as spent)")
    gate.add_argument("--labels", default="", help="labels of the pull request, comma-separated")
    gate.add_argument("--fix-label", default="fix", help="the label that lets a change out on a spent budget")
    gate.add_argument("--now", help="ISO time to judge at (default: now)")
    gate.add_argument("--override-actor", help="who overrides a blocking gate (recorded)")
    gate.add_argument("--override-reason", help="why (recorded in the job summary and an annotation)")
    gate.add_argument("--summary", type=Path, help="append the verdict as Markdown (e.g. $GITHUB_STEP_SUMMARY)")
    policies = commands.add_parser("policies", help="print the policy catalogue as a Markdown table")
    policies.add_argument("--policy-pack", type=Path, default=None)
    return parser


def _display_path(path: Path) -> str:
    """Paths in records are relative to the repository when they are inside it (stable across clones)."""
    resolved = path.resolve()
    root = project_root()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def _today(args: argparse.Namespace) -> date:
    if args.as_of:
        os.environ["PARSIFY_PLAN_DATE"] = args.as_of
    return date.fromisoformat(os.environ.get("PARSIFY_PLAN_DATE") or date.today().isoformat())


@dataclass
class Evaluated:
    files: StackFiles
    doc: dict[str, Any]
    verdicts: Verdicts | None
    raw_inputs: dict[str, Any]  # captured inputs by URN, secrets still wrapped (for snapshot fingerprints)


def _evaluate(args: argparse.Namespace, today: date, policies: bool = True) -> Evaluated:
    files, capture = capture_stack(args.program.resolve(), args.stack, args.program_timeout)
    doc: dict[str, Any] = plan_document(capture)
    if not policies:
        return Evaluated(files, doc, None, {r.urn: r.inputs for r in capture.resources})
    pack = load_pack(args.policy_pack.resolve())
    config = args.policy_config
    if config is None and (pack.directory / "config" / f"{args.stack}.json").is_file():
        config = pack.directory / "config" / f"{args.stack}.json"
    verdicts = evaluate(pack, capture.resources, config, today)
    doc.update({"policyPack": {"name": pack.name, "version": pack.version,
                               "config": _display_path(config) if config else None},
                "violations": verdicts.violations, "waived": verdicts.waived,
                "expiredWaivers": verdicts.expired_waivers, "compliance": verdicts.compliance})
    return Evaluated(files, doc, verdicts, {r.urn: r.inputs for r in capture.resources})


def _plan(args: argparse.Namespace) -> tuple[int, str]:
    today = _today(args)
    result = _evaluate(args, today, policies=not args.no_policies)
    doc = result.doc
    baseline = args.baseline or snapshot_path(args.program.resolve(), args.stack)
    approved, current = read_snapshot(baseline), snapshot_document(doc, today.isoformat(), result.raw_inputs)
    changes = diff(approved, current)
    doc["changes"] = {"baseline": _display_path(baseline), **change_summary(changes)}
    status = EXIT_VIOLATIONS if result.verdicts and result.verdicts.mandatory else EXIT_OK
    if args.format == "json":
        text = json.dumps(doc, indent=2) + "\n"
    elif args.format == "pulumi-json":
        text = json.dumps(preview_digest(approved, current, changes, doc, result.files.config,
                                         result.files.secret_keys), indent=4) + "\n"
    elif args.format == "markdown":
        reviewers = required_reviewers(changes, args.stack, read_codeowners(_codeowners(args.program)))
        text = render_change_record(doc, changes, reviewers, _display_path(baseline), args.max_chars)
    else:
        colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty()
                                            and not os.environ.get("NO_COLOR"))
        text = render_preview(doc, changes, _display_path(baseline), diff=args.diff, colour=colour)
        if args.verbose:
            text = render_listing(doc, verbose=True) + "\n" + text
    if args.expect_no_changes and changes and status == EXIT_OK:
        status = EXIT_CHANGES  # drift jobs: any change is a failure
    return status, scrub(text, result.files.secret_placeholders)


def _snapshot(args: argparse.Namespace) -> tuple[int, str]:
    path = snapshot_path(args.program.resolve(), args.stack)
    approved = read_snapshot(path)
    # A check re-plans as of the snapshot's own date, so only a change of the program makes it stale.
    as_of = args.as_of or (approved["asOf"] if args.check and approved else None)
    today = _today(argparse.Namespace(as_of=as_of))
    result = _evaluate(args, today, policies=False)
    current = snapshot_document(result.doc, today.isoformat(), result.raw_inputs)
    text = scrub(snapshot_text(current), result.files.secret_placeholders)
    if args.check:
        if approved is not None and snapshot_text(approved) == text:
            return EXIT_OK, f"{_display_path(path)} is current.\n"
        return EXIT_VIOLATIONS, (f"{_display_path(path)} is stale: run `make snapshot STACK={args.stack}` and "
                                 "commit it with the change.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return EXIT_OK, f"wrote {_display_path(path)} ({len(result.doc['resources'])} resources, as of {today}).\n"


def _review(args: argparse.Namespace) -> tuple[int, str]:
    today = _today(args)
    result = _evaluate(args, today)
    assert result.verdicts is not None
    review = build_review(result.doc, today, result.verdicts.waivers)
    # Exit status 1 when there is something to act on, so scheduled jobs need not read the Markdown.
    if args.command == "expiry":
        items = expiring(review)
        if args.format == "json":
            text = json.dumps({"stack": args.stack, "asOf": review["asOf"], "expiring": items}, indent=2) + "\n"
        else:
            text = "\n".join([f"# Expiring within 14 days: {args.stack} ({review['asOf']})", "",
                              *([f"- {i['subject']}: {i['detail']}" for i in items] or ["- nothing"])]) + "\n"
        found = bool(items)
    else:
        text = json.dumps(review, indent=2) + "\n" if args.format == "json" else render_review(review)
        found = bool(review["findings"])
    return (EXIT_VIOLATIONS if found else EXIT_OK), scrub(text, result.files.secret_placeholders)


def _restore(args: argparse.Namespace) -> tuple[int, str]:
    # Imported here: restore loads its own SQLite (sqlean), which no other command needs at start-up.
    from parsify_infra.restore import RestoreRefused, restore
    if args.output is None and args.into_sqlite is None:
        raise InputError("restore: give --output FILE.sql and/or --into-sqlite FILE")
    try:
        report = restore(args.source, args.database, args.date, args.backup_id, args.output, args.into_sqlite)
    except RestoreRefused as exc:
        if args.format == "json":  # a script reading the JSON gets the refusal as JSON too
            return EXIT_VIOLATIONS, json.dumps({"verified": False, "refused": str(exc)}, indent=2) + "\n"
        return EXIT_VIOLATIONS, f"restore refused: {exc}\n"
    data = report.as_dict()
    if args.format == "json":
        return EXIT_OK, json.dumps(data, indent=2) + "\n"
    target = " and ".join(x for x in (data["output"], data["sqlite"]) if x)
    return EXIT_OK, (f"Restored {data['database']} backup {data['backupId']}: {data['rows']:,} rows in "
                     f"{len(data['tables'])} tables, verified against its manifest (sizes, SHA-256 per chunk, "
                     f"row counts), written to {target} in {data['seconds']:.2f} s.\n") + "".join(
        f"warning: {count:,} INSERT statements of table {table} are longer than D1's 100 KB statement limit; "
        "`wrangler d1 execute` refuses them, so load those rows with bound parameters.\n"
        for table, count in data["statementsTooLongForD1"].items())


def _drill(args: argparse.Namespace) -> tuple[int, str]:
    from parsify_infra.drill import run_drill  # see _restore
    report = run_drill(project_root() / "workers", args.rows, from_sqlite=args.from_sqlite, restored=args.restored,
                       keep_backup=args.keep_backup)
    text = json.dumps(report.as_dict(), indent=2) + "\n" if args.format == "json" else report.text()
    return (EXIT_OK if report.passed else EXIT_VIOLATIONS), text


def _codeowners(program: Path) -> Path:
    """The program's CODEOWNERS, else the project's (a copied or fixture program is reviewed by this repo's)."""
    own = program / ".github" / "CODEOWNERS"
    return own if own.is_file() else project_root() / ".github" / "CODEOWNERS"


def run(argv: list[str]) -> tuple[int, str]:
    """Run the command; return (exit status, text for stdout). Raises InputError on bad input."""
    args = build_parser().parse_args(argv)
    if getattr(args, "program", "unset") is None:
        args.program = project_root()
    if getattr(args, "policy_pack", "unset") is None:
        # The program's own pack folder, else the project's (a fixture program borrows the project's pack).
        own = getattr(args, "program", project_root()) / "policies"
        args.policy_pack = own if own.is_dir() else project_root() / "policies"
    if args.command == "policies":
        return EXIT_OK, catalogue_table(load_pack(args.policy_pack.resolve()))
    if args.command == "snapshot":
        return _snapshot(args)
    if args.command in ("access-review", "expiry"):
        return _review(args)
    if args.command == "restore":
        return _restore(args)
    if args.command == "drill":
        return _drill(args)
    if args.command == "deploy-gate":
        return deploy_gate.run(args.plan, args.budget, args.labels, args.now, args.fix_label, args.override_actor,
                               args.override_reason, args.summary)
    return _plan(args)


EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C (128 + SIGINT)


def main(argv: list[str] | None = None) -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # the C locale's ASCII cannot write a name like "Grüße": escape it
            stream.reconfigure(errors="backslashreplace")
    try:
        status, text = run(sys.argv[1:] if argv is None else argv)
        sys.stdout.write(scrub(text))
    except KeyboardInterrupt:
        sys.stderr.write("parsify-infra: interrupted\n")
        status = EXIT_INTERRUPTED
    except InputError as exc:
        sys.stderr.write(scrub(f"parsify-infra: error: {exc}\n"))
        status = EXIT_BAD_INPUT
    except Exception as exc:  # a crash: never a bare traceback, never a secret, never a pass
        one_line = " ".join(str(exc).split())
        sys.stderr.write(scrub(traceback.format_exc() if debug_requested() else
                               f"parsify-infra: error: {type(exc).__name__}: {one_line} (an internal error; set "
                               "PARSIFY_INFRA_DEBUG=1 to see the traceback)\n"))
        status = EXIT_BAD_INPUT
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: asyncio's loop finaliser sometimes prints a spurious
    # "Invalid file descriptor" traceback after a mocked Pulumi run.
    os._exit(status)
