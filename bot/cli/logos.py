"""``logos list|approve|reject``: reviewing logo contest entries."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import CommandError, add_config_arg, load, print_table, ready_context
from bot.clock import as_utc, local
from handlers.logo_review import tell_author
from storage import logo as store
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


def cmd_list(args: argparse.Namespace) -> int:
    """Print the entries."""

    async def go() -> None:
        async with ready_context(load(args)) as bot, bot.sessions() as session:
            rows = [
                [
                    e.id,
                    e.title,
                    e.status,
                    local(as_utc(e.created_at)).strftime("%Y-%m-%d %H:%M"),
                    e.reason or "",
                ]
                for e in await store.list_entries(session, args.status)
            ]
        print_table(["编号", "作品名称", "状态", "投稿时间", "原因"], rows)

    asyncio.run(go())
    return 0


async def review(config_args: argparse.Namespace) -> str:
    """Set the status, record who did it, tell the author; returns how they were told."""
    config = load(config_args)
    async with ready_context(config) as bot, bot.sessions() as session, session.begin():
        now = bot.clock.now()
        entry = await store.review_entry(
            session, config_args.number, config_args.status, now, config_args.reason
        )
        if entry is None:
            raise CommandError(f"no entry number {config_args.number}")
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
