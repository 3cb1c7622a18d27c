"""`pbxhub providers validate|test [FILE...]`: check provider specs and run their examples, with no
server, database or Temporal — the loop an integrator lives in while writing a spec."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from providers.examples import SpecRun, format_run, run_examples
from providers.spec import ProviderSpec, SpecError, display_path
from providers.spec_loader import DEFAULT_SPECS_DIR, load_spec

__all__ = ["add_providers_commands", "main"]


def add_providers_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `providers validate` and `providers test`; each sets `run(args) -> int` (the
    convention of pbxhub.cli), also as `func`."""
    providers = subparsers.add_parser(
        "providers", help="validate provider specs and run their examples"
    )
    commands = providers.add_subparsers(dest="providers_command", required=True)

    validate = commands.add_parser(
        "validate", help="check specs against the meta-schema and compile their templates"
    )
    validate.add_argument("files", nargs="*", type=Path, metavar="FILE", help=_FILES_HELP)
    validate.set_defaults(run=validate_command, func=validate_command)

    test = commands.add_parser("test", help="run every example of the specs through the engine")
    test.add_argument("files", nargs="*", type=Path, metavar="FILE", help=_FILES_HELP)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    test.set_defaults(run=test_command, func=test_command)


_FILES_HELP = f"spec files (default: every *.yaml in {DEFAULT_SPECS_DIR})"


def _spec_files(files: Sequence[Path]) -> list[Path]:
    return list(files) if files else sorted(DEFAULT_SPECS_DIR.glob("*.yaml"))


def _load_all(files: Sequence[Path]) -> tuple[list[ProviderSpec], list[SpecError]]:
    specs: list[ProviderSpec] = []
    errors: list[SpecError] = []
    for file in _spec_files(files):
        try:
            specs.append(load_spec(file))
        except SpecError as exc:
            errors.append(exc)
    return specs, errors


def validate_command(args: argparse.Namespace) -> int:
    """Exit 0 when every spec loads, 1 otherwise (each problem printed as file: path: problem)."""
    specs, errors = _load_all(args.files)
    for spec in specs:
        events = sum(len(ep.events) for ep in spec.endpoints.values())
        print(
            f"ok   {spec.id} ({display_path(spec.path)}): {len(spec.endpoints)} endpoint(s), "
            f"{events} event(s), {len(spec.examples)} example(s)"
        )
    for error in errors:
        for problem in error.problems:
            print(f"FAIL {problem}", file=sys.stderr)
    if not specs and not errors:
        print("no provider specs found", file=sys.stderr)
        return 1
    return 1 if errors else 0


def test_command(args: argparse.Namespace) -> int:
    """Exit 0 when every spec loads and all its examples pass, 1 otherwise."""
    started = time.perf_counter()
    specs, errors = _load_all(args.files)
    for error in errors:
        for problem in error.problems:
            print(f"FAIL {problem}", file=sys.stderr)
    runs: list[SpecRun] = [run_examples(spec) for spec in specs]
    if runs:
        print(format_run(runs, verbose=getattr(args, "verbose", False)))
    total = sum(len(run.results) for run in runs)
    failed = sum(1 for run in runs for result in run.results if not result.passed)
    print(
        f"{len(runs)} spec(s), {total} example(s), {failed} failed, "
        f"{len(errors)} spec(s) broken, {time.perf_counter() - started:.2f}s"
    )
    if not runs and not errors:
        return 1
    return 1 if failed or errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point until `pbxhub` wires these commands itself."""
    parser = argparse.ArgumentParser(prog="pbxhub")
    add_providers_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
