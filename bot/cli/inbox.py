"""``inbox list|show|reply|assign|close|learn|top|duty``: messages waiting for operators."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli import common
from bot.cli.charts import bar_chart
from bot.kernel.clock import local
from bot.kernel.context import BotContext
from handlers import inbox
from handlers.faq import operations as faq_ops
from handlers.faq.watchlist import Watchlist
from storage.inbox import STATUSES


def mask_user(user_id: str) -> str:
    """An account id as lists show it: enough to tell people apart, not to copy."""
    return user_id if len(user_id) <= 8 else f"{user_id[:3]}…{user_id[-4:]}"


def register(sub: common.Subcommands) -> None:
    """Add the inbox command."""
    action = common.command_group(sub, "inbox", "unanswered and flagged messages, operator replies")

    ls = action("list", "open items grouped by person, most urgent first", cmd_list)
    ls.add_argument("--status", default="new,assigned", help=f"any of {','.join(STATUSES)}")
    show = action("show", "an item with the person's recent messages and replies", cmd_show)
    show.add_argument("id", type=int)
    rep = action(
        "reply", "answer an item (customer-service message or next-message notice)", cmd_reply
    )
    rep.add_argument("id", type=int)
    rep.add_argument("text", nargs="?", default="")
    rep.add_argument("--canned", metavar="KEY", help="a reply from handlers/content/inbox.toml")
    common.add_actor_arg(rep)
    asg = action("assign", "give an item to an operator", cmd_assign)
    asg.add_argument("id", type=int)
    asg.add_argument("assignee")
    common.add_actor_arg(asg)
    cls = action("close", "close an item", cmd_close)
    cls.add_argument("id", type=int)
    common.add_actor_arg(cls)
    learn = action("learn", "make the item's question an FAQ example question", cmd_learn)
    learn.add_argument("id", type=int)
    learn.add_argument("--topic", required=True, metavar="SLUG")
    learn.add_argument("--title", default="", help="with --answer: create the topic")
    learn.add_argument("--answer", default="")
    learn.add_argument("--question", default="", help="the question as edited (default: as asked)")
    common.add_actor_arg(learn)
    top = action("top", "questions most often handed to staff (default: this week)", cmd_top)
    top.add_argument("--days", type=int, default=7)
    top.add_argument("--chart", default=None, metavar="FILE.png")
    duty = action("duty", "on-duty operators told at once about critical flags", cmd_duty)
    duty.add_argument("name", nargs="?", help="the operator to add or change (none: list)")
    duty.add_argument("--openid", default=None, help="their own openid (or Weibo uid)")
    duty.add_argument("--channel", default=None, choices=("wechat", "weibo"))
    onoff = duty.add_mutually_exclusive_group()
    onoff.add_argument("--on", dest="on", action="store_true", default=None)
    onoff.add_argument("--off", dest="on", action="store_false")
    common.add_actor_arg(duty)


def _categories(bot: BotContext) -> dict[str, str]:
    """Watchlist categories as operators read them (their titles in the watchlist content)."""
    return {c.name: c.title for c in Watchlist.from_texts(bot.texts).categories}


def _label(bot: BotContext, group: str, value: str) -> str:
    found: str = bot.texts.get(f"inbox.labels.{group}.{value}", value)
    return found


def cmd_list(args: argparse.Namespace) -> int:
    """Print open items grouped by person."""
    statuses = tuple(s.strip() for s in args.status.split(",") if s.strip())

    async def work(bot: BotContext) -> None:
        groups = await inbox.groups(bot, statuses)
        titles = _categories(bot)
        rows = []
        for group in groups:
            for item in group.items:
                text = inbox.masked(bot, item).replace("\n", " ")
                reason = _label(bot, "reason", item.reason)
                rows.append(
                    [
                        item.id,
                        common.channel_name(bot, item.channel),
                        mask_user(item.user_id),
                        _label(bot, "status", item.status),
                        f"{reason} {titles.get(item.category, item.category)}".strip(),
                        item.severity or "",
                        local(item.created_at).strftime("%m-%d %H:%M"),
                        text[:24] + ("…" if len(text) > 24 else ""),
                    ]
                )
        headers = common.columns(
            bot.texts, "reports.inbox", "id channel person status reason severity time text"
        )
        common.print_table(headers, rows)

    common.run(args, work)
    return 0


def _window_line(bot: BotContext, win: inbox.Window) -> str:
    if win.open and win.closes_at is not None:
        hours = max(0, int((win.closes_at - bot.clock.now()).total_seconds() // 3600))
        return bot.texts("inbox.labels.window_open", hours=hours, left=win.left)
    return bot.texts("inbox.labels.window_closed")


def cmd_show(args: argparse.Namespace) -> int:
    """Print one item."""

    async def work(bot: BotContext) -> None:
        d = await inbox.detail(bot, args.id)
        item = d.item
        print(
            f"#{item.id}  {common.channel_name(bot, item.channel)}  {mask_user(item.user_id)}  "
            f"{_label(bot, 'status', item.status)}  {_label(bot, 'reason', item.reason)} "
            f"{_categories(bot).get(item.category, item.category)}  {item.assignee or ''}".rstrip()
        )
        print(d.text)
        print(_window_line(bot, d.window))
        print(f"\n{bot.texts('reports.inbox.history')}")
        for at, text in d.history:
            print(f"  {local(at).strftime('%m-%d %H:%M')}  {text}")
        print(f"\n{bot.texts('reports.inbox.replies')}")
        for r in d.replies:
            status = _label(bot, "reply_status", r.status)
            print(f"  {local(r.at).strftime('%m-%d %H:%M')}  {r.operator}  {status}  {r.text}")

    common.run(args, work)
    return 0


def cmd_reply(args: argparse.Namespace) -> int:
    """Send a reply."""

    async def work(bot: BotContext) -> inbox.ReplyResult:
        text = args.text
        if args.canned:
            if text:
                raise inbox.InboxError(
                    "reports.ops.inbox_canned_both", "give a text or --canned, not both"
                )
            if not bot.texts.has(f"inbox.canned.{args.canned}"):
                raise inbox.InboxError(
                    "reports.ops.inbox_canned_missing",
                    f"no canned reply {args.canned!r}",
                    name=args.canned,
                )
            text = bot.texts(f"inbox.canned.{args.canned}")
        result = await inbox.reply(bot, args.id, common.operator(args), text)
        print(f"reply {result.reply_id}: {result.status}")
        print(_window_line(bot, result.window))
        return result

    common.run(args, work)
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    """Assign an item."""
    return common.act(
        args,
        lambda bot: inbox.assign(bot, args.id, common.operator(args), args.assignee),
        f"item {args.id} assigned to {args.assignee}",
    )


def cmd_close(args: argparse.Namespace) -> int:
    """Close an item."""
    return common.act(
        args, lambda bot: inbox.close(bot, args.id, common.operator(args)), f"item {args.id} closed"
    )


def cmd_learn(args: argparse.Namespace) -> int:
    """Turn an item's question into an example question."""
    entry = common.run(
        args,
        lambda bot: faq_ops.learn(
            bot,
            args.id,
            common.operator(args),
            faq_ops.TopicDraft(args.topic, args.title, args.answer),
            args.question,
        ),
    )
    print(f"item {args.id} learned as an example question of {entry.slug}")
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    """The questions most often handed to staff."""

    async def work(bot: BotContext) -> None:
        top = await faq_ops.top_unanswered(bot, args.days)
        rows = [[q.text, q.times, local(q.last_at).strftime("%m-%d %H:%M")] for q in top]
        common.print_table(
            common.columns(bot.texts, "reports.inbox", "text times last"),
            rows,
        )
        if args.chart and top:
            bar_chart(
                Path(args.chart),
                [q.text[:16] for q in top],
                [q.times for q in top],
                title=bot.texts("reports.inbox.top_title", days=args.days),
                value_label=bot.texts("reports.inbox.top_axis"),
            )
            print(f"chart written to {args.chart}")

    common.run(args, work)
    return 0


def cmd_duty(args: argparse.Namespace) -> int:
    """List or change the duty roster."""

    async def work(bot: BotContext) -> None:
        if args.name:
            await inbox.duty(
                bot,
                common.operator(args),
                args.name,
                channel=args.channel,
                user_id=args.openid,
                on=args.on,
            )
        rows = [
            [
                o.name,
                common.channel_name(bot, o.channel),
                mask_user(o.user_id),
                "on" if o.on_duty else "off",
            ]
            for o in await inbox.roster(bot)
        ]
        common.print_table(
            common.columns(bot.texts, "reports.inbox", "name channel bound on_duty"), rows
        )

    common.run(args, work)
    return 0
