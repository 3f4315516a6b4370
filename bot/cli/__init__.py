"""The operator command line: ``python -m bot <command>``.

``COMMANDS`` are the commands of the bot itself (serve, database, terminal chat, WeChat menu);
after them come the features' commands, in registry order, each feature naming its
``register`` functions in its declaration (``Feature.cli``). ``--help`` shows them in that order.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.cli import chat, db, keys, menu, serve
from bot.cli.common import CommandError
from bot.kernel.config import ConfigError
from handlers.feature import Feature, resolve
from handlers.operations import OperationError
from handlers.registry import FEATURES

COMMANDS = [serve, db, keys, chat, menu]


def build_parser(features: Sequence[Feature] = FEATURES) -> argparse.ArgumentParser:
    """The parser with every command registered: the bot's own, then the features'."""
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
    for feature in features:
        for ref in feature.cli:
            resolve(ref)(sub)
    # Commands read their config (and so the features' sections) through ``common.load``.
    parser.set_defaults(features=tuple(features))
    return parser


def main(argv: Sequence[str] | None = None, features: Sequence[Feature] = FEATURES) -> int:
    """Run one command; returns the exit status."""
    parser = build_parser(features)
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
