"""Free text no command, flow or keyword took: the watchlist, then the FAQ.

Sits where the fallback used to be. A number answers a "您是想问" list still waiting (a small
state row, ``faq_choices``); a watched word files the message for operators (and, by its
category, answers it); otherwise the FAQ answers, asks which topic was meant, or passes the
question to staff through the inbox. Everything it writes commits with the message's
dedupe row, so a retried message is filed and counted once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from bot.kernel.context import BotContext
from bot.kernel.message import Reply, normalize
from handlers.context import Ctx
from handlers.faq.service import FAQ, Decision, Verdict, faq_service
from handlers.faq.watchlist import Category
from handlers.inbox import INBOX, alert_on_duty, file_message
from handlers.keywords import KeywordIndex, fallback
from handlers.keywords import build_router as keyword_router
from handlers.router import TEXTUAL, Handler, IsKind, Router
from storage.faq import (
    FaqEntry,
    FaqEvent,
    IndexedEntry,
    clear_choice,
    pending_choice,
    record_event,
    save_choice,
)

_NUMBER = re.compile(r"^\d{1,2}$")


def build_router() -> Router:
    """Keyword answers, then free text: one router, so that the free-text route shares the
    keyword rules' snapshot (a fresh one per app)."""
    index = KeywordIndex()
    router = keyword_router(index)
    router.add(IsKind(*TEXTUAL), free_text_handler(index, fallback), "faq.answer")
    router.on_start.append(build_index)
    return router


async def build_index(bot: BotContext) -> None:
    """Build the index before the app serves: a question answered inside its message's
    transaction must never wait for jieba's dictionary (about a second of CPU, once per
    process, in a thread so the event loop stays free; bench/faq.py measures it)."""
    if FAQ.of(bot.config).enabled:
        service = faq_service(bot)
        service.start()
        await asyncio.to_thread(service.matcher.tokenizer.wait_ready)
        await service.reload(bot.sessions)


async def watch(ctx: Ctx, text: str, label: str = "") -> Category | None:
    """Run the watchlist over ``text`` (the message, or what the person submitted with it);
    on a match file it for operators, telling those on duty at once when it is severe enough.
    ``label`` goes in front of the filed text (which submission it was)."""
    settings = INBOX.of(ctx.bot.config)
    if not settings.watchlist:
        return None
    category = faq_service(ctx.bot).watchlist.check(text)
    if category is None:
        return None
    filed = f"{label}{text}" if label else None
    item = await file_message(ctx, "flagged", category.name, category.severity, filed)
    if item is not None and category.severity >= settings.alert_severity:
        await ctx.session.flush()
        alert_on_duty(ctx.bot, item.id, category.title, ctx.inbound.account)
    return category


def free_text_handler(keywords: KeywordIndex, fallback: Handler) -> Handler:
    """The handler for text no route took; ``fallback`` answers when the FAQ is off."""

    async def answer_question(ctx: Ctx) -> Reply | None:
        # The keyword route may have judged by rules older than the refresh interval (or by
        # none yet), or a refresh landed since: a rule an operator just added must still win
        # over the FAQ, so ask again here (from memory while the rules are fresh).
        fresh = keywords.fresh
        reply = await (keywords.lookup(ctx) if fresh else keywords.lookup_fresh(ctx))
        if reply is not None:
            return reply
        return await answer_free_text(ctx, fallback)

    return answer_question


async def answer_free_text(ctx: Ctx, fallback: Handler) -> Reply | None:
    """Answer free text from the FAQ, or file it for operators."""
    msg = ctx.inbound
    text = (msg.text or "").strip()
    if not text or ctx.private:
        # Private: an answer to a flow that just expired (a name, a phone), not a question;
        # the fallback's masked echo says so without filing it for anyone.
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


async def _record(
    ctx: Ctx, now: datetime, outcome: str, entry_id: int | None, confidence: float
) -> None:
    """What the FAQ did with this message, for the report (counted once per message key)."""
    msg = ctx.inbound
    event = FaqEvent(
        channel=msg.channel.value,
        account=msg.account,
        msg_key=msg.key,
        outcome=outcome,
        entry_id=entry_id,
        confidence=confidence,
        at=now,
    )
    await record_event(ctx.session, event)


async def _respond(ctx: Ctx, decision: Decision) -> Reply:
    now = ctx.bot.clock.now()
    top = decision.entries[0].id if decision.entries else None
    outcome = {
        Verdict.ANSWER: "answered",
        Verdict.CLARIFY: "clarify",
        Verdict.HANDOFF: "handoff",
    }[decision.verdict]
    await _record(ctx, now, outcome, top, round(decision.confidence, 4))
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
        msg.user_key,
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
    options = await pending_choice(ctx.session, msg.user_key, now)
    if options is None:
        return None
    if not 1 <= number <= len(options):
        return ctx.reply("faq.texts.picked_none")
    entry = await ctx.session.get(FaqEntry, options[number - 1])
    await clear_choice(ctx.session, msg.user_key)
    if entry is None or not entry.enabled:  # switched off since it was offered
        return None
    await _record(ctx, now, "picked", entry.id, 1.0)
    return Reply.from_json(entry.reply)
