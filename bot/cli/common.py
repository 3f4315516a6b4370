"""Helpers every command shares: config loading and a ready context."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeAlias, TypeVar

from bot.config import Config, load_config
from bot.kernel.content import Texts
from bot.kernel.context import BotContext
from handlers.feature import Feature
from handlers.operations import Actor
from handlers.registry import FEATURES

T = TypeVar("T")

# argparse's class is generic only to type checkers.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Action = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]


class CommandError(Exception):
    """A command cannot do what was asked; the message says why (exit status 1)."""


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    """The --config option every command takes."""
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        default=None,
        help="TOML config file (default: built-in local settings: SQLite under ./data, "
        "sandbox WeChat API)",
    )


def subcommands(sub: Subcommands, name: str, help_: str) -> Subcommands:
    """Add command ``name`` (under ``sub``) whose actions are chosen by the next word."""
    group = sub.add_parser(name, help=help_)
    return group.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def actions(group: Subcommands) -> Action:
    """The maker of ``group``'s actions: each takes --config and runs its function."""

    def action(
        name: str, help_: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        parser = group.add_parser(name, help=help_)
        add_config_arg(parser)
        parser.set_defaults(func=func)
        return parser

    return action


def command_group(sub: Subcommands, name: str, help_: str) -> Action:
    """Add command ``name`` with actions under it; the maker of its actions
    (``python -m bot NAME ACTION ...``)."""
    return actions(subcommands(sub, name, help_))


def add_actor_arg(parser: argparse.ArgumentParser) -> None:
    """``--as NAME`` after the action too (``python -m bot --as NAME ...`` works everywhere):
    who does it, as the audit log records it. SUPPRESS keeps a name given before the
    command: a sub-parser's default would overwrite it."""
    parser.add_argument("--as", dest="operator", default=argparse.SUPPRESS, metavar="NAME")


def run(args: argparse.Namespace, work: Callable[[BotContext], Awaitable[T]]) -> T:
    """Run ``work`` with a context ready for the config of ``args``; the command's result.
    Operation errors reach the CLI's main, which prints them (exit status 1)."""

    async def go() -> T:
        async with ready_context(load(args), getattr(args, "features", FEATURES)) as bot:
            return await work(bot)

    return asyncio.run(go())


def act(
    args: argparse.Namespace, work: Callable[[BotContext], Awaitable[object]], done: str
) -> int:
    """Run an action whose outcome ``done`` says in full; print it once the action succeeded
    (exit status 0)."""
    run(args, work)
    print(done)
    return 0


def operator(args: argparse.Namespace) -> Actor:
    """The operator acting: ``--as NAME``, or the OS user running the command."""
    name = getattr(args, "operator", None) or ""
    if not name.strip():
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no user name in the environment or the password file
            name = "unknown"
    return Actor.cli(name)


def load(args: argparse.Namespace) -> Config:
    """The config named by --config, or the local defaults."""
    features = getattr(args, "features", FEATURES)
    return load_config(getattr(args, "config", None), features=features)


@asynccontextmanager
async def ready_context(
    config: Config, features: Sequence[Feature] = FEATURES
) -> AsyncIterator[BotContext]:
    """A context with the schema upgraded (SQLite) and the features' start-up work done
    (keywords seeded); closed afterwards."""
    from bot.app import build_context, close_context, prepare_database
    from storage.db import is_sqlite

    bot = build_context(config, features=features)
    try:
        await prepare_database(bot, migrate=is_sqlite(config.database_url), features=features)
        yield bot
    finally:
        await close_context(bot)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out: Any = None) -> None:
    """A plain aligned table (CJK characters count double, as terminals draw them)."""
    out = out or sys.stdout
    rows = [[("" if v is None else str(v)) for v in row] for row in rows]

    def width(s: str) -> int:
        return sum(2 if ord(c) > 0x2E80 else 1 for c in s)

    widths = [width(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], width(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (widths[i] - width(c)) for i, c in enumerate(cells)).rstrip()

    print(line(list(headers)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print(line(row), file=out)


def shown(bot: BotContext, token: str | None, mask: Callable[[str], str] | None = None) -> str:
    """A personal value as operators see it: decrypted (through ``mask``), '' when there is
    none, the unreadable label when it cannot be decrypted (no traceback in a list)."""
    if not token:
        return ""
    return bot.cipher.reveal(token, bot.texts("common.unreadable"), mask)


def columns(texts: Texts, table: str, names: str) -> list[str]:
    """Column names of a table or sheet from the content: for each of the space-separated
    ``names`` (as ``namedtuple`` takes its fields), the text at ``<table>.col_<name>``."""
    return [texts(f"{table}.col_{name}") for name in names.split()]


def channel_name(bot: BotContext, channel: str) -> str:
    """The channel as operators read it in lists and exports (微信, 微博)."""
    name: str = bot.texts.get(f"common.channel_names.{channel}", channel)
    return name


class Progress:
    """A one-line progress counter on stderr for long operator commands."""

    def __init__(self, label: str, total: int, stream: Any = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self._last = -1

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done and redraw when the percentage changes."""
        self.done += n
        pct = 100 if self.total == 0 else self.done * 100 // self.total
        if pct != self._last:
            self._last = pct
            end = "\n" if self.done >= self.total else ""
            print(
                f"\r{self.label}: {self.done}/{self.total} ({pct}%)",
                end=end,
                file=self.stream,
                flush=True,
            )

    def finish(self) -> None:
        """Make sure the final line is printed."""
        if self.done < self.total or self._last != 100:
            self.done = self.total
            self._last = -1
            self.advance(0)


def parse_decimal(text: str, option: str, *, low: Decimal, high: Decimal) -> Decimal:
    """A number with at most two decimals in [low, high]; refused with a message naming
    ``option``."""
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        raise CommandError(f"{option}: must be a number, got {text!r}") from None
    if not value.is_finite() or not low <= value <= high:
        raise CommandError(f"{option}: must be between {low} and {high}, got {text!r}")
    if value != value.quantize(Decimal("0.01")):
        raise CommandError(f"{option}: at most two decimals, got {text!r}")
    return value
