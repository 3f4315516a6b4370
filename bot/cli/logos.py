"""``logos list|approve|reject|phase``: reviewing logo contest entries, setting its phases."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import (
    CommandError,
    add_config_arg,
    channel_name,
    columns,
    load,
    print_table,
    ready_context,
)
from bot.clock import as_utc, local
from bot.config import LogoConfig
from bot.context import BotContext
from bot.privacy import mask_name, mask_phone
from handlers.logo_phases import (
    PHASES,
    ContestState,
    PhaseError,
    Window,
    check_order,
    config_windows,
    contest_state,
    database_windows,
    format_admin,
    merge,
    parse_time,
    phase_line,
)
from handlers.logo_review import tell_author
from storage import logo as store
from storage.db import transaction
from storage.models import AuditEvent


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the logos command."""
    p = sub.add_parser("logos", help="logo contest entries: list and review")
    lsub = p.add_subparsers(dest="logos_command", metavar="ACTION", required=True)
    ls = lsub.add_parser("list", help="entries by number")
    add_config_arg(ls)
    ls.add_argument("--status", choices=store.STATUSES, default=None)
    ls.set_defaults(func=cmd_list)
    ok = lsub.add_parser("approve", help="approve entry N and tell its author")
    add_config_arg(ok)
    ok.add_argument("number", type=int)
    ok.set_defaults(func=cmd_review, status="approved", reason=None)
    no = lsub.add_parser("reject", help="reject entry N with a reason the author is told")
    add_config_arg(no)
    no.add_argument("number", type=int)
    no.add_argument("--reason", required=True)
    no.set_defaults(func=cmd_review, status="rejected")

    ph = lsub.add_parser("phase", help="contest phases: show, set or clear (database wins)")
    psub = ph.add_subparsers(dest="phase_command", metavar="ACTION", required=True)
    show = psub.add_parser("show", help="the effective phases and what is open now")
    add_config_arg(show)
    show.set_defaults(func=cmd_phase, action="show")
    put = psub.add_parser("set", help="set one phase's dates (Asia/Shanghai), for every process")
    add_config_arg(put)
    put.add_argument("phase", choices=PHASES)
    put.add_argument(
        "--from", dest="start", required=True, metavar="TIME", help='"YYYY-MM-DD HH:MM" or a date'
    )
    put.add_argument(
        "--to", dest="end", default="", metavar="TIME", help="end (exclusive; a date: its end)"
    )
    put.set_defaults(func=cmd_phase, action="set")
    clear = psub.add_parser("clear", help="drop the database setting (the config's applies)")
    add_config_arg(clear)
    clear.add_argument("phase", choices=PHASES)
    clear.set_defaults(func=cmd_phase, action="clear")


def cmd_list(args: argparse.Namespace) -> int:
    """Print the entries."""

    async def go() -> None:
        async with ready_context(load(args)) as bot, bot.sessions() as session:
            rows = [
                [
                    e.id,
                    channel_name(bot, e.channel),
                    e.title,
                    _masked(bot, e.author_name_enc, mask_name),
                    _masked(bot, e.author_phone_enc, mask_phone),
                    _label(bot, f"status_{e.status}"),
                    local(as_utc(e.created_at)).strftime("%Y-%m-%d %H:%M"),
                    e.reason or "",
                ]
                for e in await store.list_entries(session, args.status)
            ]
            headers = columns(
                bot.texts,
                "reports.logos.col_number",
                "reports.logos.col_channel",
                "reports.logos.col_title",
                "reports.logos.col_author",
                "reports.logos.col_phone",
                "reports.logos.col_status",
                "reports.logos.col_submitted",
                "reports.logos.col_reason",
            )
        print_table(headers, rows)

    asyncio.run(go())
    return 0


def _label(bot: BotContext, key: str) -> str:
    return bot.texts(f"reports.logos.{key}")


def _masked(bot: BotContext, encrypted: str | None, mask: Callable[[str], str]) -> str:
    return mask(bot.cipher.decrypt(encrypted)) if encrypted else ""


async def review(config_args: argparse.Namespace) -> str:
    """Set the status, record who did it, tell the author; returns how they were told."""
    config = load(config_args)
    async with ready_context(config) as bot, transaction(bot.sessions) as session:
        now = bot.clock.now()
        entry = await store.review_entry(
            session, config_args.number, config_args.status, now, config_args.reason
        )
        if entry is None:
            raise CommandError(f"no entry number {config_args.number}")
        if entry.status == "withdrawn":
            # Final: approving it would put a design back that its author took away.
            raise CommandError(f"entry {entry.id} was withdrawn by its author")
        session.add(
            AuditEvent(
                at=now,
                actor="cli",
                action=f"logo_{config_args.status}",
                detail=f"entry={entry.id} reason={config_args.reason or ''}",
            )
        )
        return await tell_author(bot, session, entry)


def cmd_review(args: argparse.Namespace) -> int:
    """Approve or reject one entry."""
    how = asyncio.run(review(args))
    told = "by message" if how == "sent" else "at their next message"
    print(f"entry {args.number} {args.status}; the author is told {told}")
    return 0


def _parse(text: str, option: str, *, end: bool) -> Any:
    if end and not text:
        return None
    try:
        return parse_time(text, end=end)
    except ValueError as exc:
        raise CommandError(f"{option}: {exc}") from None


async def change_phase(
    session: AsyncSession, args: argparse.Namespace, cfg: LogoConfig, now: datetime
) -> str:
    """Set or clear one phase (a new window is checked against the whole schedule first);
    returns the audit detail."""
    if args.action == "clear":
        if not await store.clear_phase(session, args.phase):
            raise CommandError(f"{args.phase} has no database setting to clear")
        return f"phase={args.phase}"
    new = Window(
        args.phase,
        _parse(args.start, "--from", end=False),
        _parse(args.end, "--to", end=True),
        "database",
    )
    others = [w for w in await database_windows(session) if w.phase != args.phase]
    try:
        check_order(merge(config_windows(cfg), [*others, new]))
    except PhaseError as exc:
        option = "--to" if exc.bound == "to" and exc.phase == args.phase else "--from"
        raise CommandError(f"{option}: {exc}") from None
    await store.set_phase(session, args.phase, starts=new.starts, ends=new.ends, now=now)
    end = format_admin(new.ends, end=True) if new.ends else ""
    return f"phase={args.phase} from={format_admin(new.starts)} to={end}"


def phase_rows(bot: BotContext, state: ContestState) -> list[list[str]]:
    """One row per phase: name, dates, where the setting comes from, whether it runs now."""
    configured = {w.phase for w in config_windows(bot.config.logo)}
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


async def phase(args: argparse.Namespace) -> None:
    """Show, set or clear phases (a change is audited), then print the schedule."""
    async with ready_context(load(args)) as bot, transaction(bot.sessions) as session:
        now, cfg = bot.clock.now(), bot.config.logo
        if args.action != "show":
            detail = await change_phase(session, args, cfg, now)
            session.add(
                AuditEvent(at=now, actor="cli", action=f"logo_phase_{args.action}", detail=detail)
            )
            await session.flush()
        state = await contest_state(session, cfg, now)
        headers = ["phase", bot.texts("reports.logos.col_phase"), "from", "to", "source", "now"]
        print_table(headers, phase_rows(bot, state))
        print()
        print(f"now ({format_admin(now)}): {phase_line(bot.texts, state)}")


def cmd_phase(args: argparse.Namespace) -> int:
    """logos phase show|set|clear."""
    asyncio.run(phase(args))
    return 0
