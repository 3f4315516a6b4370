"""``keywords list|add|remove|seed``: the keyword replies in the database."""

from __future__ import annotations

import argparse

from bot.cli import common
from bot.kernel.context import BotContext
from bot.kernel.message import Reply
from handlers import keywords_ops as ops
from storage.keywords import MATCH_TYPES, list_rules


def register(sub: common.Subcommands) -> None:
    """Add the keywords command."""
    action = common.command_group(sub, "keywords", "keyword replies")
    action("list", "all rules, highest priority first", cmd_list)
    add = action("add", "add or replace a text reply", cmd_add)
    add.add_argument("pattern", help="the keyword")
    add.add_argument("reply", help="the reply text")
    add.add_argument("--match", choices=MATCH_TYPES, default="exact")
    add.add_argument("--priority", type=int, default=20)
    rm = action("remove", "delete a rule by id", cmd_remove)
    rm.add_argument("id", type=int)
    action("seed", "load the shipped (or overridden) keywords content file", cmd_seed)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the rules."""

    async def work(bot: BotContext) -> None:
        async with bot.sessions() as session:
            rules = await list_rules(session)
            rows = []
            for r in rules:
                reply = Reply.from_json(r.reply)
                preview = reply.text or (reply.articles[0].title if reply.articles else "")
                preview = preview.replace("\n", " ")[:24]
                rows.append(
                    [
                        r.id,
                        r.pattern,
                        r.match,
                        r.priority,
                        r.source,
                        "on" if r.enabled else "off",
                        preview,
                    ]
                )
            headers = common.columns(
                bot.texts, "reports.keywords", "keyword match priority source enabled reply"
            )
            common.print_table(["id", *headers], rows)

    common.run(args, work)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Add an operator rule."""

    async def work(bot: BotContext) -> tuple[int, str]:
        rule = await ops.add(
            bot,
            common.operator(args),
            args.pattern,
            args.reply,
            match=args.match,
            priority=args.priority,
        )
        return rule.id, rule.pattern

    rule_id, pattern = common.run(args, work)
    print(f"rule {rule_id} saved: {pattern} ({args.match}); live within 10 seconds")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Delete a rule."""

    return common.act(
        args, lambda bot: ops.remove(bot, common.operator(args), args.id), f"rule {args.id} removed"
    )


def cmd_seed(args: argparse.Namespace) -> int:
    """Re-load the keywords content file."""

    async def work(bot: BotContext) -> tuple[int, int, int]:
        return await ops.seed(bot, common.operator(args))

    added, updated, removed = common.run(args, work)
    print(f"keywords seeded: {added} added, {updated} updated, {removed} removed")
    return 0
