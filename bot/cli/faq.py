"""``faq list|show|add|add-question|remove-question|enable|disable|seed|try|hits``: FAQ topics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.cli import common
from bot.cli.charts import bar_chart
from bot.kernel.context import BotContext
from bot.kernel.message import Reply
from handlers.faq import operations as ops
from storage.faq import entry_by_slug, list_entries, questions_of


def register(sub: common.Subcommands) -> None:
    """Add the faq command."""
    action = common.command_group(sub, "faq", "FAQ topics that answer free-text questions")

    action("list", "every topic", cmd_list)
    show = action("show", "a topic's answer and example questions", cmd_show)
    show.add_argument("slug")
    add = action("add", "a new topic with a text answer", cmd_add)
    add.add_argument("slug")
    add.add_argument("--title", required=True)
    add.add_argument("--answer", required=True)
    add.add_argument("--question", action="append", default=[], required=True)
    add.add_argument("--campaign", default="all", choices=("all", "henan", "hunan"))
    common.add_actor_arg(add)
    addq = action("add-question", "add an example question to a topic", cmd_add_question)
    addq.add_argument("slug")
    addq.add_argument("text")
    common.add_actor_arg(addq)
    rmq = action("remove-question", "delete an example question by id", cmd_remove_question)
    rmq.add_argument("id", type=int)
    common.add_actor_arg(rmq)
    for name, enabled in (("enable", True), ("disable", False)):
        sw = action(name, f"switch a topic {'on' if enabled else 'off'}", cmd_switch)
        sw.add_argument("slug")
        sw.set_defaults(enabled=enabled)
        common.add_actor_arg(sw)
    action("seed", "load the shipped (or overridden) faq content file", cmd_seed)
    try_ = action("try", "what the bot would do with a question", cmd_try)
    try_.add_argument("question")
    hits = action("hits", "how often each topic answered (default: the last 7 days)", cmd_hits)
    hits.add_argument("--days", type=int, default=7)
    hits.add_argument("--chart", default=None, metavar="FILE.png", help="hits per topic")


def cmd_list(args: argparse.Namespace) -> int:
    """Print the topics."""

    async def work(bot: BotContext) -> None:
        async with bot.sessions() as session:
            rows = [
                [e.slug, e.title, e.campaign, n, e.source, "on" if e.enabled else "off"]
                for e, n in await list_entries(session)
            ]
        headers = common.columns(
            bot.texts, "reports.faq", "slug title campaign questions source enabled"
        )
        common.print_table(headers, rows)

    common.run(args, work)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a topic."""

    async def work(bot: BotContext) -> None:
        async with bot.sessions() as session:
            entry = await entry_by_slug(session, args.slug)
            if entry is None:
                raise ops.FaqError(
                    "reports.ops.faq_missing", f"no FAQ topic {args.slug!r}", slug=args.slug
                )
            questions = await questions_of(session, entry.id)
        reply = Reply.from_json(entry.reply)
        print(f"{entry.slug}  {entry.title}  ({entry.campaign}, {entry.source})")
        print(reply.text or "\n".join(a.title for a in reply.articles))
        print(f"keywords: {', '.join(json.loads(entry.keywords))}")
        common.print_table(
            ["id", bot.texts("reports.faq.col_question"), bot.texts("reports.faq.col_source")],
            [[q.id, q.text, q.source] for q in questions],
        )

    common.run(args, work)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Add a topic."""
    entry = common.run(
        args,
        lambda bot: ops.add_entry(
            bot,
            common.operator(args),
            ops.TopicDraft(args.slug, args.title, args.answer, args.campaign),
            args.question,
        ),
    )
    print(f"topic {entry.slug} added; live within the refresh interval")
    return 0


def cmd_add_question(args: argparse.Namespace) -> int:
    """Add an example question."""
    qid = common.run(
        args, lambda bot: ops.add_example(bot, common.operator(args), args.slug, args.text)
    )
    print(f"question {qid} added to {args.slug}")
    return 0


def cmd_remove_question(args: argparse.Namespace) -> int:
    """Delete an example question."""
    return common.act(
        args,
        lambda bot: ops.remove_example(bot, common.operator(args), args.id),
        f"question {args.id} removed",
    )


def cmd_switch(args: argparse.Namespace) -> int:
    """Switch a topic on or off."""
    return common.act(
        args,
        lambda bot: ops.switch(bot, common.operator(args), args.slug, args.enabled),
        f"topic {args.slug} {'enabled' if args.enabled else 'disabled'}",
    )


def cmd_seed(args: argparse.Namespace) -> int:
    """Re-load the faq content file."""
    from handlers.faq import seed

    added, updated, removed = common.run(args, seed)
    print(f"faq seeded: {added} added, {updated} updated, {removed} switched off")
    return 0


def cmd_try(args: argparse.Namespace) -> int:
    """Show the decision for a question."""

    async def work(bot: BotContext) -> None:
        decision = await ops.try_question(bot, args.question)
        verdict = bot.texts(f"reports.faq.verdicts.{decision.verdict.value}")
        print(f"{verdict}  ({decision.confidence:.2f})")
        for entry in decision.entries:
            print(f"  {entry.slug}  {entry.title}")

    common.run(args, work)
    return 0


def cmd_hits(args: argparse.Namespace) -> int:
    """Hits per topic and outcome totals over the last days."""

    async def work(bot: BotContext) -> None:
        rows, totals = await ops.hits(bot, args.days)
        common.print_table(
            common.columns(bot.texts, "reports.faq", "slug title answered picked total"),
            [[slug, title, a, p, a + p] for slug, title, a, p in rows],
        )
        counts = {k: totals.get(k, 0) for k in ("answered", "clarify", "picked", "handoff")}
        print(bot.texts("reports.faq.outcomes", total=sum(totals.values()), **counts))
        if args.chart and rows:
            bar_chart(
                Path(args.chart),
                [title for _, title, _, _ in rows],
                [a + p for _, _, a, p in rows],
                title=bot.texts("reports.faq.hits_title", days=args.days),
                value_label=bot.texts("reports.faq.hits_axis"),
            )
            print(f"chart written to {args.chart}")

    common.run(args, work)
    return 0
