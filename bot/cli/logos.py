"""``logos list|approve|reject|phase``: reviewing logo contest entries, setting its phases."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bot.cli import common
from bot.kernel.clock import as_utc, local
from bot.kernel.context import BotContext
from bot.kernel.privacy import mask_name, mask_phone
from handlers import logo_ops as ops
from handlers.logo_phases import (
    LOGO,
    PHASES,
    ContestState,
    config_windows,
    contest_state,
    format_admin,
    parse_time,
    phase_line,
)
from handlers.operations import OperationError
from storage import logo as store


def register(sub: common.Subcommands) -> None:
    """Add the logos command."""
    logos = common.subcommands(sub, "logos", "logo contest entries: list and review")
    action = common.actions(logos)
    ls = action("list", "entries by number", cmd_list)
    ls.add_argument("--status", choices=store.STATUSES, default=None)
    ok = action("approve", "approve entry N and tell its author", cmd_review)
    ok.add_argument("number", type=int)
    ok.set_defaults(status="approved", reason=None)
    no = action("reject", "reject entry N with a reason the author is told", cmd_review)
    no.add_argument("number", type=int)
    no.add_argument("--reason", required=True)
    no.set_defaults(status="rejected")

    phase = common.actions(
        common.subcommands(logos, "phase", "contest phases: show, set or clear (database wins)")
    )
    show = phase("show", "the effective phases and what is open now", cmd_phase)
    show.set_defaults(action="show")
    put = phase("set", "set one phase's dates (Asia/Shanghai), for every process", cmd_phase)
    put.add_argument("phase", choices=PHASES)
    put.add_argument(
        "--from", dest="start", required=True, metavar="TIME", help='"YYYY-MM-DD HH:MM" or a date'
    )
    put.add_argument(
        "--to", dest="end", default="", metavar="TIME", help="end (exclusive; a date: its end)"
    )
    put.set_defaults(action="set")
    clear = phase("clear", "drop the database setting (the config's applies)", cmd_phase)
    clear.add_argument("phase", choices=PHASES)
    clear.set_defaults(action="clear")


def cmd_list(args: argparse.Namespace) -> int:
    """Print the entries."""

    async def work(bot: BotContext) -> None:
        async with bot.sessions() as session:
            rows = [
                [
                    e.id,
                    common.channel_name(bot, e.channel),
                    e.title,
                    _masked(bot, e.author_name_enc, mask_name),
                    _masked(bot, e.author_phone_enc, mask_phone),
                    _label(bot, f"status_{e.status}"),
                    local(as_utc(e.created_at)).strftime("%Y-%m-%d %H:%M"),
                    e.reason or "",
                ]
                for e in await store.list_entries(session, args.status)
            ]
            headers = common.columns(
                bot.texts,
                "reports.logos",
                "number channel title author phone status submitted reason",
            )
        common.print_table(headers, rows)

    common.run(args, work)
    return 0


def _label(bot: BotContext, key: str) -> str:
    return bot.texts(f"reports.logos.{key}")


def _masked(bot: BotContext, encrypted: str | None, mask: Callable[[str], str]) -> str:
    return common.shown(bot, encrypted, mask)


async def review(bot: BotContext, args: argparse.Namespace) -> str:
    """Approve or reject; returns how the author was told."""
    if args.status == "approved":
        return await ops.approve(bot, common.operator(args), args.number)
    return await ops.reject(bot, common.operator(args), args.number, args.reason)


def cmd_review(args: argparse.Namespace) -> int:
    """Approve or reject one entry."""
    how = common.run(args, lambda bot: review(bot, args))
    told = "by message" if how == "sent" else "at their next message"
    print(f"entry {args.number} {args.status}; the author is told {told}")
    return 0


def _parse(text: str, option: str, *, end: bool) -> Any:
    if end and not text:
        return None
    try:
        return parse_time(text, end=end)
    except ValueError as exc:
        raise common.CommandError(f"{option}: {exc}") from None


async def change_phase(bot: BotContext, args: argparse.Namespace) -> None:
    """Set or clear one phase; an order conflict names the option to change."""
    if args.action == "clear":
        await ops.clear_phase(bot, common.operator(args), args.phase)
        return
    starts = _parse(args.start, "--from", end=False)
    ends = _parse(args.end, "--to", end=True)
    try:
        await ops.set_phase(bot, common.operator(args), args.phase, starts, ends)
    except OperationError as exc:
        if exc.key != "reports.ops.phase_order":
            raise
        mine = exc.params["bound"] == "to" and exc.params["phase"] == args.phase
        raise common.CommandError(f"{'--to' if mine else '--from'}: {exc}") from None


def phase_rows(bot: BotContext, state: ContestState) -> list[list[str]]:
    """One row per phase: name, dates, where the setting comes from, whether it runs now."""
    configured = {w.phase for w in config_windows(LOGO.of(bot.config))}
    rows = []
    for name in PHASES:
        w = state.window(name)
        if w is None:
            rows.append([name, bot.texts(f"logo.phase_name_{name}"), "", "", "-", ""])
            continue
        source = w.source
        if w.source == "database" and name in configured:
            source += " (overrides config)"
        rows.append(
            [
                name,
                bot.texts(f"logo.phase_name_{name}"),
                format_admin(w.starts),
                format_admin(w.ends, end=True) if w.ends else "(open)",
                source,
                "*" if w.contains(state.now) else "",
            ]
        )
    return rows


async def phase(bot: BotContext, args: argparse.Namespace) -> None:
    """Show, set or clear phases (a change is audited), then print the schedule."""
    if args.action != "show":
        await change_phase(bot, args)
    now = bot.clock.now()
    async with bot.sessions() as session:
        state = await contest_state(session, LOGO.of(bot.config), now)
    headers = ["phase", bot.texts("reports.logos.col_phase"), "from", "to", "source", "now"]
    common.print_table(headers, phase_rows(bot, state))
    print()
    print(f"now ({format_admin(now)}): {phase_line(bot.texts, state)}")


def cmd_phase(args: argparse.Namespace) -> int:
    """logos phase show|set|clear."""
    common.run(args, lambda bot: phase(bot, args))
    return 0
