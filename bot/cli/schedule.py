"""``calendar`` and ``schedule add|list|cancel|preview|run-now``: campaign pushes."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.cli.common import (
    CommandError,
    Progress,
    Subcommands,
    act,
    add_config_arg,
    command_group,
    load,
    operator,
    print_table,
    run,
)
from bot.kernel.clock import as_utc
from bot.kernel.context import BotContext
from handlers import pushes_ops as ops
from schedules.calendar import format_year, load_calendar
from schedules.outbox import calendar_of, describe, zone_of
from schedules.posts import channels_of, next_occurrences
from schedules.service import PostSpec
from storage.schedules import CampaignPost, active_posts, outbox_for


def register(sub: Subcommands) -> None:
    """Add the calendar and schedule commands."""
    cal = sub.add_parser("calendar", help="the campaign's key dates of a year")
    add_config_arg(cal)
    cal.add_argument("--year", type=int, required=True)
    cal.set_defaults(func=cmd_calendar)

    action = command_group(sub, "schedule", "scheduled campaign posts on WeChat and Weibo")
    add = action("add", "schedule a post (checks the WeChat mass-send quota)", cmd_add)
    add.add_argument("label", help="a name for operators")
    content = add.add_mutually_exclusive_group(required=True)
    content.add_argument("--text", help="text; may use {year} {festival} {date}")
    content.add_argument("--image", metavar="FILE", help="an image post")
    content.add_argument(
        "--article",
        action="append",
        metavar="TITLE|DIGEST|COVER|LINK",
        help="a news article (repeat for several)",
    )
    add.add_argument("--caption", default="", help="Weibo text of an image post")
    add.add_argument("--channels", default="wechat", help="wechat, weibo or wechat,weibo")
    add.add_argument("--tag", type=int, help="WeChat tag id (default: all followers)")
    add.add_argument("--link", default="", help="link Weibo's share API requires")
    add.add_argument("--at", help="once, at 'YYYY-MM-DD HH:MM' (schedules.timezone)")
    add.add_argument("--key-date", help="every year on this key date (see `calendar`)")
    add.add_argument("--time", dest="time_of_day", help="HH:MM on the key date")
    add.add_argument("--preview-to", action="append", default=[], metavar="OPENID")
    add.add_argument("--preview-minutes", type=int, default=0)
    add.add_argument("--dry-run", action="store_true", help="check and print, save nothing")

    ls = action("list", "posts with their next occurrences", cmd_list)
    ls.add_argument("--outbox", action="store_true", help="show deliveries instead")

    cancel = action("cancel", "cancel a post", cmd_cancel)
    cancel.add_argument("id", type=int)

    for name, helptext, func in (
        ("preview", "send the post's preview to its operators now", cmd_preview),
        ("run-now", "send the post to its audience now", cmd_run_now),
    ):
        sp = action(name, helptext, func)
        sp.add_argument("id", type=int)
        sp.add_argument("--dry-run", action="store_true", help="print exactly what would go out")


def cmd_calendar(args: argparse.Namespace) -> int:
    """Print one line per key date."""
    config = load(args)
    from bot.kernel.campaign import key_dates, load_pack, load_texts
    from handlers.registry import FEATURES

    pack = load_pack(config.campaign.pack, config.base_dir, config.campaign.features)
    extra = [path for feature in FEATURES for path in feature.content]
    texts = load_texts(pack, config.content.dir or None, extra)
    dates = key_dates(pack, config.schedules.extra_dates)
    print(format_year(load_calendar(dates, texts), args.year))
    return 0


def _parse_at(value: str | None, bot: BotContext) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--at: expected 'YYYY-MM-DD HH:MM', got {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=zone_of(bot))


def _spec(args: argparse.Namespace, bot: BotContext) -> PostSpec:
    body: dict[str, Any]
    if args.text is not None:
        kind, body = "text", {"text": args.text}
    elif args.image is not None:
        # Absolute: the scheduler may run from another directory.
        kind, body = "image", {"image": str(Path(args.image).resolve()), "text": args.caption}
    else:
        kind, articles = "news", []
        for raw in args.article:
            parts = raw.split("|")
            if len(parts) != 4:
                raise CommandError(f"--article: expected TITLE|DIGEST|COVER|LINK, got {raw!r}")
            title, digest, cover, link = (x.strip() for x in parts)
            cover = str(Path(cover).resolve()) if cover else ""
            articles.append({"title": title, "digest": digest, "cover": cover, "link": link})
        body = {"articles": articles}
    return PostSpec(
        label=args.label,
        kind=kind,
        body=body,
        channels=[c.strip() for c in args.channels.split(",") if c.strip()],
        at=_parse_at(args.at, bot),
        key_date=args.key_date,
        time_of_day=args.time_of_day,
        tag_id=args.tag,
        link=args.link,
        preview_to=args.preview_to,
        preview_minutes=args.preview_minutes,
    )


def cmd_add(args: argparse.Namespace) -> int:
    """Store a post, or with --dry-run print what its next occurrence would send."""

    async def work(bot: BotContext) -> list[str]:
        spec = _spec(args, bot)
        if args.dry_run:
            planned = await ops.plan(bot, spec)
            nxt = planned.upcoming
            out = ["dry run: nothing saved; the next occurrence would send:"]
            return out + (await describe(bot, planned.post, nxt[0], "push") if nxt else [])
        done = await ops.schedule(bot, operator(args), spec)
        tz = zone_of(bot)
        dates = ", ".join(f"{d.astimezone(tz):%Y-%m-%d %H:%M}" for d in done.upcoming)
        return [f"post {done.post.id} scheduled; next: {dates or 'none'}"]

    for line in run(args, work):
        print(line)
    return 0


def _schedule_text(post: CampaignPost) -> str:
    if post.at is not None:
        return "once"  # the date is in the next column
    return f"yearly {post.key_date} {post.time_of_day}"


def cmd_list(args: argparse.Namespace) -> int:
    """Active posts with their next dates, or the outbox."""

    async def work(bot: BotContext) -> None:
        async with bot.sessions() as session:
            tz, cal, now = zone_of(bot), calendar_of(bot), bot.clock.now()
            if args.outbox:
                rows = [
                    [
                        i.id,
                        i.post_id,
                        i.channel,
                        i.purpose,
                        f"{as_utc(i.occurrence).astimezone(tz):%Y-%m-%d %H:%M}",
                        i.status,
                        i.attempts,
                        i.platform_id or "",
                        (i.error or "")[:60],
                    ]
                    for i in await outbox_for(session)
                ]
                print_table(
                    [
                        "id",
                        "post",
                        "channel",
                        "purpose",
                        "occurrence",
                        "status",
                        "tries",
                        "id@platform",
                        "error",
                    ],
                    rows,
                )
                return
            rows = []
            for post in await active_posts(session):
                nxt = next_occurrences(post, cal, tz, now, n=3)
                audience = "all" if post.tag_id is None else f"tag {post.tag_id}"
                rows.append(
                    [
                        post.id,
                        post.label,
                        post.kind,
                        ",".join(channels_of(post)),
                        audience,
                        _schedule_text(post),
                        " ".join(f"{d.astimezone(tz):%Y-%m-%d %H:%M}" for d in nxt) or "-",
                    ]
                )
            print_table(["id", "label", "kind", "channels", "audience", "schedule", "next"], rows)

    run(args, work)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a post."""

    return act(
        args, lambda bot: ops.cancel(bot, operator(args), args.id), f"post {args.id} cancelled"
    )


def _send_now(args: argparse.Namespace, purpose: str) -> int:
    async def work(bot: BotContext) -> list[str]:
        if args.dry_run:
            post = await ops.active_post(bot, args.id, purpose)
            described = await describe(bot, post, bot.clock.now(), purpose)
            return ["dry run: nothing sent", *described]
        progress = Progress(f"post {args.id} {purpose}", 0)
        report = await ops.send_now(bot, operator(args), args.id, purpose, progress)
        progress.finish()
        out = [f"sent {report.sent}, retrying {report.retried}, failed {report.failed}"]
        return out + [f"error: {e}" for e in report.errors]

    for line in run(args, work):
        print(line)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """Preview a post to its operators now (WeChat mass/preview)."""
    return _send_now(args, "preview")


def cmd_run_now(args: argparse.Namespace) -> int:
    """Send a post to its audience now."""
    return _send_now(args, "push")
