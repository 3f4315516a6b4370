"""``operators add|list|disable|enable|reset-password|role``: console accounts."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Awaitable, Callable

from bot.cli.common import (
    CommandError,
    Subcommands,
    command_group,
    print_table,
    run,
)
from bot.kernel.context import BotContext
from handlers.operators import AccountError, Role, change_operator, create_operator
from storage import operators as store

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
ROLES = [r.label for r in Role]
# Audit rows of CLI account changes name this actor (the shell user is not known reliably).
ACTOR = "cli"


def register(sub: Subcommands) -> None:
    """Add the operators command."""
    action = command_group(sub, "operators", "operator accounts of the web console (/console)")
    add = action("add", "create an operator (asks for the password)", cmd_add)
    add.add_argument("name", help="login name: letters, digits, _ . -")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    action("list", "every operator with role and state", cmd_list)
    for what, text in (
        ("disable", "disable an operator (ends their sessions)"),
        ("enable", "enable an operator again"),
    ):
        q = action(what, text, cmd_change)
        q.add_argument("name")
        q.set_defaults(what=what)
    reset = action("reset-password", "set a new password (ends their sessions)", cmd_change)
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true")
    reset.set_defaults(what="password")
    role = action("role", "change an operator's role", cmd_change)
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(what="role")


def read_password(from_stdin: bool) -> str:
    """The new password: one line of stdin, or asked twice on the terminal."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise CommandError("the passwords differ")
    return first


def _account_change(
    args: argparse.Namespace, work: Callable[[BotContext], Awaitable[None]]
) -> None:
    """Run ``work``; a refused account change is the command's error."""
    try:
        run(args, work)
    except AccountError as exc:
        raise CommandError(str(exc)) from None


def cmd_add(args: argparse.Namespace) -> int:
    """Create an operator."""
    if not NAME.match(args.name):
        raise CommandError("name: letters, digits, '_', '.', '-' only, at most 64")
    password = read_password(args.password_stdin)

    async def work(bot: BotContext) -> None:
        await create_operator(bot, args.name, Role.parse(args.role), password, actor=ACTOR)

    _account_change(args, work)
    print(f"operator {args.name} added ({args.role})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print the operators."""

    async def work(bot: BotContext) -> list[store.Operator]:
        async with bot.sessions() as session:
            return await store.list_operators(session)

    rows = run(args, work)
    print_table(
        ["name", "role", "enabled", "created"],
        [
            [op.name, op.role, "yes" if op.enabled else "no", f"{op.created_at:%Y-%m-%d %H:%M}"]
            for op in rows
        ],
    )
    return 0


def cmd_change(args: argparse.Namespace) -> int:
    """disable | enable | reset-password | role."""
    password = read_password(args.password_stdin) if args.what == "password" else None

    async def work(bot: BotContext) -> None:
        async with bot.sessions() as session:
            op = await store.get_operator(session, args.name)
        if op is None:
            raise CommandError(f"no operator {args.name!r}")
        await change_operator(
            bot,
            op.id,
            args.what,
            role=Role.parse(args.role) if args.what == "role" else None,
            password=password,
            actor=ACTOR,
        )

    _account_change(args, work)
    print(f"operator {args.name}: {args.what} done")
    return 0
