"""Keyword rules: seeding is idempotent and never touches operator rules."""

from __future__ import annotations

from sqlalchemy import select

from bot.context import BotContext
from bot.message import Reply
from handlers.keywords import seed_specs
from storage.keywords import RuleSpec, add_rule, list_rules, seed_rules
from storage.models import KeywordRule


async def test_seed_is_idempotent_and_spares_operator_rules(bot_context: BotContext) -> None:
    specs = seed_specs(bot_context.texts)
    now = bot_context.clock.now()
    async with bot_context.sessions() as session, session.begin():
        # The context seeded at start-up: a second seed changes nothing.
        assert await seed_rules(session, specs, now) == (0, 0)
        seeded = len(await list_rules(session))
        assert seeded == len(specs)
        own = RuleSpec(specs[0].pattern, specs[0].match, 99, Reply.of_text("运营方").to_json())
        await add_rule(session, own, now)
    async with bot_context.sessions() as session, session.begin():
        assert await seed_rules(session, specs, now) == (0, 0)
        row = (
            await session.execute(
                select(KeywordRule).where(
                    KeywordRule.pattern == specs[0].pattern, KeywordRule.match == specs[0].match
                )
            )
        ).scalar_one()
    assert row.source == "operator" and Reply.from_json(row.reply).text == "运营方"
    assert row.priority == 99
