"""Free text no command, flow or keyword took: the watchlist, then the FAQ.

Sits where the fallback used to be. A number answers a "您是想问" list still waiting (a small
state row, ``faq_choices``); a watched word files the message for operators (and, by its
category, answers it); otherwise the FAQ answers, asks which topic was meant, or passes the
question to staff through the inbox. Everything it writes commits with the message's
dedupe row, so a retried message is filed and counted once.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.message import Reply, normalize
from handlers.context import Ctx
from handlers.faq.service import FAQ, Decision, Verdict, faq_service
from handlers.inbox import file_message, watch
from handlers.router import Handler
from storage.faq import (
    FaqEntry,
    IndexedEntry,
    clear_choice,
    pending_choice,
    record_event,
    save_choice,
)

if TYPE_CHECKING:
    from handlers.keywords import KeywordIndex

_NUMBER = re.compile(r"^\d{1,2}$")


def free_text_handler(keywords: KeywordIndex, fallback: Handler) -> Handler:
    """The handler for text no route took; ``fallback`` answers when the FAQ is off."""

    async def answer_question(ctx: Ctx) -> Reply | None:
        if not keywords.loaded:
            # The process's first text: the keyword route could not tell yet whether a rule
            # answers it (the rules load on first use), so ask here.
            reply = await keywords.lookup(ctx)
            if reply is not None:
                return reply
        return await answer_free_text(ctx, fallback)

    return answer_question


async def answer_free_text(ctx: Ctx, fallback: Handler) -> Reply | None:
    """Answer free text from the FAQ, or file it for operators."""
    msg = ctx.inbound
    text = (msg.text or "").strip()
    if not text:
        return await fallback(ctx)
    word = normalize(text)
    if _NUMBER.match(word):
        picked = await _pick(ctx, int(word))
        if picked is not None:
            return picked
    category = await watch(ctx, text)
    if category is not None and category.action != "flag":
        return Reply.of_text(category.reply)
    if not FAQ.of(ctx.bot.config).enabled:
        return await fallback(ctx)
    matcher = await faq_service(ctx.bot).ready(ctx.bot, ctx.session)
    return await _respond(ctx, matcher.decide(text))


async def _respond(ctx: Ctx, decision: Decision) -> Reply:
    msg = ctx.inbound
    now = ctx.bot.clock.now()
    top = decision.entries[0].id if decision.entries else None
    outcome = {
        Verdict.ANSWER: "answered",
        Verdict.CLARIFY: "clarify",
        Verdict.HANDOFF: "handoff",
    }[decision.verdict]
    await record_event(
        ctx.session,
        channel=msg.channel.value,
        account=msg.account,
        msg_key=msg.key,
        outcome=outcome,
        entry_id=top,
        confidence=round(decision.confidence, 4),
        now=now,
    )
    if decision.verdict is Verdict.ANSWER:
        return Reply.from_json(decision.entries[0].reply_json)
    if decision.verdict is Verdict.CLARIFY:
        return await _offer(ctx, decision.entries)
    await file_message(ctx, "unanswered")
    return ctx.reply("faq.texts.handed_to_staff")


async def _offer(ctx: Ctx, entries: tuple[IndexedEntry, ...]) -> Reply:
    msg = ctx.inbound
    minutes = FAQ.of(ctx.bot.config).pick_minutes
    await save_choice(
        ctx.session,
        msg.channel.value,
        msg.account,
        msg.user,
        [e.id for e in entries],
        ctx.bot.clock.now() + timedelta(minutes=minutes),
    )
    options = "\n".join(
        ctx.t("faq.texts.clarify_option", n=i, title=e.title) for i, e in enumerate(entries, 1)
    )
    return ctx.reply("faq.texts.clarify", options=options)


async def _pick(ctx: Ctx, number: int) -> Reply | None:
    """The answer a number picks from the person's waiting list; None when none waits."""
    msg = ctx.inbound
    now = ctx.bot.clock.now()
    key = (msg.channel.value, msg.account, msg.user)
    options = await pending_choice(ctx.session, *key, now)
    if options is None:
        return None
    if not 1 <= number <= len(options):
        return ctx.reply("faq.texts.picked_none")
    entry = await ctx.session.get(FaqEntry, options[number - 1])
    await clear_choice(ctx.session, *key)
    if entry is None or not entry.enabled:  # switched off since it was offered
        return None
    await record_event(
        ctx.session,
        channel=msg.channel.value,
        account=msg.account,
        msg_key=msg.key,
        outcome="picked",
        entry_id=entry.id,
        confidence=1.0,
        now=now,
    )
    return Reply.from_json(entry.reply)
