"""Keyword rules: seeding is idempotent and never touches operator rules."""

from __future__ import annotations

from sqlalchemy import select

from bot.kernel.context import BotContext
from bot.kernel.message import Reply
from handlers.keywords import seed_specs
from storage.keywords import RuleSpec, add_rule, list_rules, seed_rules
from storage.models import KeywordRule


async def test_seed_is_idempotent_and_spares_operator_rules(bot_context: BotContext) -> None:
    specs = seed_specs(bot_context.texts)
    now = bot_context.clock.now()
    async with bot_context.sessions() as session, session.begin():
        # The context seeded at start-up: a second seed changes nothing.
        assert await seed_rules(session, specs, now) == (0, 0, 0)
        seeded = len(await list_rules(session))
        assert seeded == len(specs)
        own = RuleSpec(specs[0].pattern, specs[0].match, 99, Reply.of_text("运营方").to_json())
        await add_rule(session, own, now)
    async with bot_context.sessions() as session, session.begin():
        assert await seed_rules(session, specs, now) == (0, 0, 0)
        row = (
            await session.execute(
                select(KeywordRule).where(
                    KeywordRule.pattern == specs[0].pattern, KeywordRule.match == specs[0].match
                )
            )
        ).scalar_one()
    assert row.source == "operator" and Reply.from_json(row.reply).text == "运营方"
    assert row.priority == 99


async def test_seed_removes_rules_the_content_dropped(bot_context: BotContext) -> None:
    specs = seed_specs(bot_context.texts)
    now = bot_context.clock.now()
    dropped, kept = specs[1], specs[2:]
    own = RuleSpec("运营方关键词", "exact", 5, Reply.of_text("运营方").to_json())
    async with bot_context.sessions() as session, session.begin():
        await add_rule(session, own, now)
        # The content file loses one rule and renames another (specs[0] gets a new pattern).
        renamed = RuleSpec("改名后的关键词", specs[0].match, specs[0].priority, specs[0].reply_json)
        assert await seed_rules(session, [renamed, *kept], now) == (1, 0, 2)
    async with bot_context.sessions() as session:
        keys = {(r.pattern, r.source) for r in await list_rules(session)}
    assert (dropped.pattern, "seed") not in keys and (specs[0].pattern, "seed") not in keys
    assert ("改名后的关键词", "seed") in keys and ("运营方关键词", "operator") in keys
