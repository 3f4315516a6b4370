"""``stories list|show|approve|reject|export``: reviewing and exporting story submissions.

Operators see the contact (name and phone) masked; ``show --reveal`` prints it whole and is
recorded in the audit log. Column names and messages come from the ``reports.stories`` texts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.common import (
    CommandError,
    Progress,
    Subcommands,
    channel_name,
    command_group,
    operator,
    print_table,
    run,
)
from bot.cli.sheets import FORMATS, Sheet, output_path, write_sheets
from bot.kernel.context import BotContext
from bot.kernel.message import Channel
from handlers import stories_ops as ops
from handlers.sheets import contact
from handlers.sheets import pictures_of as _pictures
from handlers.sheets import report_text as _t
from handlers.sheets import status_text as _status
from handlers.sheets import videos_of as _videos
from handlers.sheets import when_text as _when
from handlers.stories import preview, stories_media_path
from storage import stories as store
from storage.stories import Story, StoryMedia

TIME_FORMAT = "%Y-%m-%d %H:%M"
SNIPPET_CHARS = 30


def register(sub: Subcommands) -> None:
    """Add the stories command."""
    action = command_group(sub, "stories", "story submissions: review and export")
    ls = action("list", "stories by number, contacts masked", cmd_list)
    ls.add_argument("--status", choices=store.STATUSES, default=None)
    ls.add_argument("--channel", choices=[c.value for c in Channel], default=None)
    show = action("show", "one story in full: text, picture files, contact", cmd_show)
    show.add_argument("number", type=int)
    show.add_argument(
        "--reveal",
        action="store_true",
        help="the contact's full name and phone (recorded in the audit log)",
    )
    ok = action("approve", "approve story N (the author is told)", cmd_review)
    ok.add_argument("number", type=int)
    ok.add_argument("--note", default=None, help="review note, for operators")
    ok.set_defaults(status="approved")
    no = action("reject", "reject story N with a note (kept for operators)", cmd_review)
    no.add_argument("number", type=int)
    no.add_argument("--note", required=True, help="why (for operators; the author is not told)")
    no.set_defaults(status="rejected")
    feat = action(
        "feature", "choose approved story N as a typical case of the office report", cmd_feature
    )
    feat.add_argument("number", type=int)
    feat.add_argument("--off", action="store_true", help="no longer feature it")
    ex = action("export", "every story of the selection in full, csv or xlsx", cmd_export)
    ex.add_argument("--format", choices=FORMATS, default="csv")
    ex.add_argument("--out", "--output", dest="output", required=True, metavar="FILE")
    ex.add_argument("--status", choices=store.STATUSES, default=None)
    ex.add_argument("--channel", choices=[c.value for c in Channel], default=None)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the stories."""

    async def work(bot: BotContext) -> None:
        async with bot.sessions() as session:
            stories = await store.list_stories(session, args.status, args.channel)
            media = await store.media_of(session, [s.id for s in stories])
            rows = [
                [
                    s.id,
                    channel_name(bot, s.channel),
                    _when(s.created_at),
                    _status(bot, s.status),
                    preview(s.text, SNIPPET_CHARS),
                    len(_pictures(media[s.id])),
                    contact(bot, s),
                ]
                for s in stories
            ]
            keys = ["number", "channel", "date", "status", "text", "pictures", "contact"]
            print_table([_t(bot, f"col_{k}") for k in keys], rows)

    run(args, work)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print one story in full; the contact whole with --reveal (audited)."""
    number: int = args.number

    async def work(bot: BotContext) -> list[str]:
        whole = await ops.reveal_contact(bot, operator(args), number) if args.reveal else None
        async with bot.sessions() as session:
            story = await store.get_story(session, number)
            if story is None or number < 1:
                raise CommandError(_t(bot, "no_such", number=number))
            media = (await store.media_of(session, [number]))[number]
        return _show_lines(bot, story, media, whole)

    print("\n".join(run(args, work)))
    return 0


def _show_lines(
    bot: BotContext, story: Story, media: list[StoryMedia], whole: ops.Contact | None
) -> list[str]:
    directory = stories_media_path(bot.config)
    yes_no = _t(bot, "yes") if story.consent else _t(bot, "no")
    fields = [
        ("number", str(story.id)),
        ("channel", channel_name(bot, story.channel)),
        ("date", _when(story.created_at)),
        ("status", _status(bot, story.status)),
        ("consent", f"{yes_no} {_when(story.consent_at)}"),
        ("contact", _contact_line(bot, story, whole)),
        ("reviewed", _when(story.reviewed_at)),
        ("note", story.review_note or ""),
    ]
    lines = [f"{_t(bot, f'col_{key}')}：{value}" for key, value in fields]
    lines.append(_t(bot, "show_pictures"))
    pictures = _pictures(media)
    lines += [f"  {directory / (m.path or '')}" for m in pictures] or [_t(bot, "show_none")]
    lines.append(_t(bot, "show_videos"))
    lines += [f"  {m.media_id}" for m in _videos(media)] or [_t(bot, "show_none")]
    lines += [_t(bot, "show_text"), story.text]
    if whole is not None:
        lines += ["", _t(bot, "revealed")]
    return lines


def _contact_line(bot: BotContext, story: Story, whole: ops.Contact | None) -> str:
    if whole is not None:
        return f"{whole.name} {whole.phone}"
    return contact(bot, story) or _t(bot, "no_contact")


async def review(bot: BotContext, args: argparse.Namespace) -> str:
    """Approve or reject; returns the message printed."""
    number, status, note = args.number, args.status, args.note
    done = _t(bot, "reviewed", number=number, status=_status(bot, status))
    if status != "approved":
        await ops.reject(bot, operator(args), number, note)
        return done
    how = await ops.approve(bot, operator(args), number, note)
    return done + _t(bot, "told_sent" if how == "sent" else "told_notice")


def cmd_feature(args: argparse.Namespace) -> int:
    """Feature (or stop featuring) an approved story: a typical case of the office report."""
    number, on = args.number, not args.off

    async def work(bot: BotContext) -> str:
        await ops.set_featured(bot, operator(args), number, on)
        return _t(bot, "featured" if on else "unfeatured", number=number)

    print(run(args, work))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    """Approve or reject one story."""
    print(run(args, lambda bot: review(bot, args)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the stories of the selection to a CSV or XLSX file."""
    path: Path = output_path(args.output, "--out")

    async def work(bot: BotContext) -> tuple[list[str], list[list[Any]], str, str]:
        progress = Progress("stories", 0)
        who = operator(args)
        headers, rows = await ops.export(
            bot, who, status=args.status, channel=args.channel, progress=progress
        )
        progress.finish()
        done = _t(bot, "exported", count=len(rows), path=path)
        return headers, rows, _t(bot, "sheet"), done

    headers, rows, title, done = run(args, work)
    write_sheets(path, args.format, [Sheet(title, headers, rows)])
    print(done)
    return 0
