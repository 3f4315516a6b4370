"""The operator command line: ``python -m bot <command>``.

Each module in this package registers its sub-commands; ``COMMANDS`` lists them in the order
``--help`` shows them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.cli import (
    activities,
    chat,
    db,
    followers,
    keywords,
    logos,
    menu,
    schedule,
    serve,
    stories,
    volunteers,
    votes,
)
from bot.cli.common import CommandError
from bot.config import ConfigError
from handlers.operations import OperationError

COMMANDS = [
    serve,
    db,
    chat,
    menu,
    keywords,
    followers,
    volunteers,
    activities,
    logos,
    votes,
    stories,
    schedule,
]


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Campaign bot for public-welfare (网络公益) WeChat and Weibo accounts.",
    )
    parser.add_argument(
        "--as",
        dest="operator",
        metavar="NAME",
        default=None,
        help="who is acting, as the audit log records it (default: your OS user name)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result: int | None = args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (CommandError, OperationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result or 0
