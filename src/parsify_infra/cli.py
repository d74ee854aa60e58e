"""`parsify-infra`: the offline plan, policy gate and change record of the Parsify platform."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from parsify_infra.catalogue import catalogue_table
from parsify_infra.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_VIOLATIONS, InputError
from parsify_infra.gate import evaluate, load_pack
from parsify_infra.plan import capture_stack, plan_document
from parsify_infra.render import render_text
from parsify_infra.secrets import scrub

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PACK = REPO_ROOT / "policies"


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit status 2, as for any bad input
        raise InputError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="parsify-infra", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    plan = commands.add_parser("plan", help="run the program offline, evaluate the policy gate, print the plan")
    plan.add_argument("--stack", required=True, help="stack name, e.g. prod or staging")
    plan.add_argument("--program", type=Path, default=REPO_ROOT,
                      help="Pulumi Python project directory (default: this repository)")
    plan.add_argument("--format", choices=["text", "json"], default="text")
    plan.add_argument("--verbose", action="store_true", help="text format: show every input")
    plan.add_argument("--as-of", type=_iso_date, help="plan date for expiry rules (default: today)")
    plan.add_argument("--policy-pack", type=Path, default=DEFAULT_PACK, help="CrossGuard pack folder")
    plan.add_argument("--policy-config", type=Path,
                      help="pack config JSON (default: <pack>/config/<stack>.json when it exists)")
    plan.add_argument("--no-policies", action="store_true", help="skip the policy gate")
    policies = commands.add_parser("policies", help="print the policy catalogue as a Markdown table")
    policies.add_argument("--policy-pack", type=Path, default=DEFAULT_PACK)
    return parser


def _display_path(path: Path) -> str:
    """Paths in records are relative to the repository when they are inside it (stable across clones)."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)


def _plan(args: argparse.Namespace) -> tuple[int, str]:
    if args.as_of:
        os.environ["PARSIFY_PLAN_DATE"] = args.as_of
    today = date.fromisoformat(os.environ.get("PARSIFY_PLAN_DATE") or date.today().isoformat())
    files, capture = capture_stack(args.program.resolve(), args.stack)
    doc: dict[str, Any] = plan_document(capture)
    status = EXIT_OK
    if not args.no_policies:
        pack = load_pack(args.policy_pack.resolve())
        config = args.policy_config
        if config is None and (pack.directory / "config" / f"{args.stack}.json").is_file():
            config = pack.directory / "config" / f"{args.stack}.json"
        verdicts = evaluate(pack, capture.resources, config, today)
        doc.update({"policyPack": {"name": pack.name, "version": pack.version,
                                   "config": _display_path(config) if config else None},
                    "violations": verdicts.violations, "waived": verdicts.waived,
                    "expiredWaivers": verdicts.expired_waivers, "compliance": verdicts.compliance})
        if verdicts.mandatory:
            status = EXIT_VIOLATIONS
    text = json.dumps(doc, indent=2) + "\n" if args.format == "json" else render_text(doc, args.verbose)
    return status, scrub(text, files.secret_placeholders)


def run(argv: list[str]) -> tuple[int, str]:
    """Run the command; return (exit status, text for stdout). Raises InputError on bad input."""
    args = build_parser().parse_args(argv)
    if args.command == "policies":
        return EXIT_OK, catalogue_table(load_pack(args.policy_pack.resolve()))
    return _plan(args)


def main(argv: list[str] | None = None) -> None:
    try:
        status, text = run(sys.argv[1:] if argv is None else argv)
        sys.stdout.write(text)
    except InputError as exc:
        sys.stderr.write(f"parsify-infra: error: {exc}\n")
        status = EXIT_BAD_INPUT
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: asyncio's loop finaliser sometimes prints a spurious
    # "Invalid file descriptor" traceback after a mocked Pulumi run.
    os._exit(status)
