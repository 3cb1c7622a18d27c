"""The `pbxhub` command: dev (everything), api, worker, db, providers, admin."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from pbxhub.logging_setup import configure_logging, forward_temporal_core_logs
from pbxhub.private_files import use_private_umask
from pbxhub.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    # Command-line options win over PBXHUB_* environment settings.
    overrides = {
        name: value
        for name, value in {
            "data_dir": args.data_dir,
            "api_port": args.port,
            "api_host": args.host,
            "temporal_address": args.temporal_address,
            "temporal_ui_port": args.temporal_ui_port,
            "public_base_url": args.public_base_url,
            "admin_key": args.admin_key,
            "database_url": args.database_url,
        }.items()
        if value is not None
    }
    settings = Settings(**overrides)
    configure_logging(
        settings.log_level, settings.log_format, workflow_id_prefix=settings.workflow_id_prefix
    )
    return settings


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="state folder (PBXHUB_DATA_DIR, ./data)")
    parser.add_argument("--host", help="API address to bind (PBXHUB_API_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="API port (PBXHUB_API_PORT, 8000)")
    parser.add_argument("--temporal-address", help="PBXHUB_TEMPORAL_ADDRESS, 127.0.0.1:7233")
    parser.add_argument("--temporal-ui-port", type=int, help="PBXHUB_TEMPORAL_UI_PORT, 8233")
    parser.add_argument("--public-base-url", help="base of webhook URLs (PBXHUB_PUBLIC_BASE_URL)")
    parser.add_argument("--admin-key", help="admin API key (PBXHUB_ADMIN_KEY; default generated)")
    parser.add_argument("--database-url", help="PBXHUB_DATABASE_URL (default SQLite in data dir)")
    # these commands create the data folder's files: channel secrets, keys, recordings
    parser.set_defaults(private_files=True)


def _run_until_stopped(service: Coroutine[Any, Any, None]) -> int:
    """Runs a service until it ends, Ctrl-C or SIGTERM; its `finally`s run either way."""

    async def until_stopped() -> None:
        # SIGTERM cancels the service on the loop: a KeyboardInterrupt raised by a signal
        # handler can land in a gc callback ("Exception ignored in") and be lost.
        main = asyncio.current_task()
        assert main is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        await service

    try:
        asyncio.run(until_stopped())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0


def _run_dev(args: argparse.Namespace) -> int:
    from pbxhub import dev

    return dev.main(_settings(args), embedded_temporal=not args.external_temporal)


def _run_api(args: argparse.Namespace) -> int:
    from pbxhub.services import serve_api

    return _run_until_stopped(serve_api(_settings(args)))


def _run_worker(args: argparse.Namespace) -> int:
    from pbxhub.services import run_worker

    return _run_until_stopped(run_worker(_settings(args)))


def _run_temporal_setup(args: argparse.Namespace) -> int:
    from pbxhub.services import setup_temporal

    added = asyncio.run(setup_temporal(_settings(args)))
    print(f"search attributes added: {', '.join(added)}" if added else "search attributes: all set")
    return 0


def _run_db_upgrade(args: argparse.Namespace) -> int:
    from pbxhub.wiring import open_store

    open_store(_settings(args)).close()
    print("database is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pbxhub.cli_admin import add_admin_commands
    from pbxhub.cli_providers import add_providers_commands

    parser = argparse.ArgumentParser(prog="pbxhub", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run everything here: Temporal dev server, worker, API")
    _add_runtime_options(dev)
    dev.add_argument(
        "--external-temporal",
        action="store_true",
        help="use the Temporal server at --temporal-address instead of starting one",
    )
    dev.set_defaults(run=_run_dev)

    api = commands.add_parser("api", help="run the API only (Temporal and database elsewhere)")
    _add_runtime_options(api)
    api.set_defaults(run=_run_api)

    worker = commands.add_parser("worker", help="run a Temporal worker only")
    _add_runtime_options(worker)
    worker.set_defaults(run=_run_worker)

    temporal = commands.add_parser(
        "temporal-setup", help="register pbxhub's search attributes in the Temporal namespace"
    )
    _add_runtime_options(temporal)
    temporal.set_defaults(run=_run_temporal_setup)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply migrations")
    _add_runtime_options(upgrade)
    upgrade.set_defaults(run=_run_db_upgrade)

    add_providers_commands(commands)
    add_admin_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    configure_logging()
    args = build_parser().parse_args(argv)
    if getattr(args, "private_files", False):
        use_private_umask()
        forward_temporal_core_logs()
        # SIGTERM (docker stop, systemd, kill) stops a service as Ctrl-C does, through its
        # `finally`s: the worker drains, dev's Temporal server stops, the store closes.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        status = args.run(args)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
        if exit_.code is not None and not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM before a command could stop on its own
        status = 130
    # temporalio's runtime can crash the interpreter at exit (sdk-python#300): leave directly,
    # with the real status and flushed output.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
