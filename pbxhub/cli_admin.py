"""`pbxhub admin create LOGIN`: the first admin who signs in to the pages (and later ones), or a
new password for one (`--reset`). The password is asked twice on a terminal, or read as one
line from standard input (`--password-stdin`), never taken as an argument (it would show in
the process list and the shell's history)."""

from __future__ import annotations

import argparse
import getpass
import sys

from crm.accounts import LoginTaken
from crm.passwords import check_password_rules, hash_password

__all__ = ["add_admin_commands"]


def add_admin_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from pbxhub.cli import _add_runtime_options

    admin = subparsers.add_parser("admin", help="the admins who sign in to the pages")
    commands = admin.add_subparsers(dest="admin_command", required=True)
    create = commands.add_parser("create", help="create an admin (or --reset their password)")
    _add_runtime_options(create)
    create.add_argument("login", help="what the admin signs in with (case does not matter)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.add_argument(
        "--reset", action="store_true", help="give an existing admin a new password instead"
    )
    create.set_defaults(run=create_admin)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise SystemExit("no terminal to ask the password on: use --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise SystemExit("the two passwords differ")
    return password


def create_admin(args: argparse.Namespace) -> int:
    from pbxhub.cli import _settings
    from pbxhub.wiring import open_store

    password = _read_password(args.password_stdin)
    try:
        check_password_rules(password)
    except ValueError as error:
        raise SystemExit(f"password: {error}") from None
    settings = _settings(args)
    store = open_store(settings)
    try:
        password_hash = hash_password(password)
        if args.reset:
            account = store.set_admin_password(args.login, password_hash)
            if account is None:
                raise SystemExit(f"no admin signs in with {args.login!r}")
            print(f"admin {account.login!r} has a new password (signed out everywhere)")
        else:
            account = store.create_admin(args.login, password_hash)
            print(f"admin {account.login!r} created")
    except (LoginTaken, ValueError) as error:
        raise SystemExit(f"login: {error}") from None
    finally:
        store.close()
    print(f"sign in at {settings.resolved_public_base_url}/signin")
    return 0
