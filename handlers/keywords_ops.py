"""Operator operations on keyword replies: add (or replace) and remove a rule, re-seed.

Workers pick an edit up within ``handlers.keywords.REFRESH_SECONDS``; the CLI
(``bot/cli/keywords.py``) and the console call these.
"""

from __future__ import annotations

from bot.kernel.context import BotContext
from bot.kernel.message import Reply, fold
from handlers.keywords import seed_specs
from handlers.operations import Actor, OperationError, audit
from storage.db import transaction
from storage.keywords import (
    MATCH_TYPES,
    RuleSpec,
    add_rule,
    edit_rule,
    list_rules,
    remove_rule,
    seed_rules,
    switch_rule,
)
from storage.models import KeywordRule


async def add(
    bot: BotContext,
    actor: Actor,
    pattern: str,
    reply: str,
    *,
    match: str = "exact",
    priority: int = 20,
) -> KeywordRule:
    """Add an operator rule answering ``pattern`` with the text ``reply`` (replacing the rule
    of the same pattern and match)."""
    if match not in MATCH_TYPES:
        raise OperationError(
            "reports.ops.bad_choice", f"--match: one of {', '.join(MATCH_TYPES)}", value=match
        )
    reply_json = _reply_json(reply)
    # Menu keys are matched as sent; words as the matcher folds messages.
    key = pattern if match == "click" else fold(pattern)
    if not key:
        raise OperationError("reports.ops.keyword_empty", "the keyword is empty")
    spec = RuleSpec(key, match, priority, reply_json)
    async with transaction(bot.sessions) as session:
        row = await add_rule(session, spec, bot.clock.now())
        audit(bot, session, actor, "keywords.add", rule=row.id, match=match, priority=priority)
    return row


def _missing(rule_id: int) -> OperationError:
    return OperationError(
        "reports.ops.keyword_missing", f"no rule with id {rule_id}", number=rule_id
    )


def _reply_json(reply: str) -> str:
    if not reply.strip():
        raise OperationError("reports.ops.keyword_reply", "the reply text is empty")
    return Reply.of_text(reply).to_json()


async def remove(bot: BotContext, actor: Actor, rule_id: int, *, seeded: bool = True) -> None:
    """Delete rule ``rule_id`` (seeded rules come back with the next seeding; ``seeded``
    False refuses them: the console only switches them off)."""
    async with transaction(bot.sessions) as session:
        if not seeded and any(
            r.id == rule_id and r.source == "seed" for r in await list_rules(session)
        ):
            raise OperationError("reports.ops.keyword_seeded", f"rule {rule_id} is seeded")
        if not await remove_rule(session, rule_id):
            raise _missing(rule_id)
        audit(bot, session, actor, "keywords.remove", rule=rule_id)


async def edit(bot: BotContext, actor: Actor, rule_id: int, reply: str, priority: int) -> None:
    """Change an operator rule's reply text and priority (seeded rules follow their file)."""
    reply_json = _reply_json(reply)
    async with transaction(bot.sessions) as session:
        rule = await edit_rule(session, rule_id, bot.clock.now(), priority, reply_json)
        if rule is None:
            raise _missing(rule_id)
        if rule.source == "seed":
            raise OperationError("reports.ops.keyword_seeded", f"rule {rule_id} is seeded")
        audit(bot, session, actor, "keywords.edit", rule=rule_id, priority=priority)


async def switch(bot: BotContext, actor: Actor, rule_id: int, enabled: bool) -> None:
    """Switch a rule (seeded ones too) on or off."""
    async with transaction(bot.sessions) as session:
        if await switch_rule(session, rule_id, bot.clock.now(), enabled) is None:
            raise _missing(rule_id)
        action = "keywords.enable" if enabled else "keywords.disable"
        audit(bot, session, actor, action, rule=rule_id)


async def seed(bot: BotContext, actor: Actor) -> tuple[int, int, int]:
    """Make the seeded rules match the keywords content file (operators' rules untouched);
    returns how many were added, updated and removed."""
    async with transaction(bot.sessions) as session:
        added, updated, removed = await seed_rules(session, seed_specs(bot.texts), bot.clock.now())
        audit(bot, session, actor, "keywords.seed", added=added, updated=updated, removed=removed)
    return added, updated, removed
