"""Operator actions on FAQ topics (validate, write, audit), called by the CLI and the console.

Every process serving messages sees an edit within ``[faq] refresh_seconds`` (the index
fingerprint changes); this process's index is rebuilt at its next question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from bot.kernel.context import BotContext
from bot.kernel.message import Reply
from handlers.faq.service import Decision, faq_service
from handlers.inbox import masked
from handlers.operations import Actor, OperationError, audit, checked_text
from storage.db import Session, transaction
from storage.faq import (
    FaqEntry,
    add_operator_entry,
    add_question,
    entry_by_slug,
    hit_counts,
    outcome_counts,
    remove_question,
    set_enabled,
)
from storage.inbox import get_item, unanswered_since

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_QUESTION_CHARS = 200


class FaqError(OperationError, ValueError):
    """An FAQ action that cannot be done: its Chinese text in ``reports.ops``, its English line
    for the CLI (still a ValueError for callers that catch that)."""


async def _entry(session: Session, slug: str) -> FaqEntry:
    entry = await entry_by_slug(session, slug)
    if entry is None:
        raise FaqError("reports.ops.faq_missing", f"no FAQ topic {slug!r}", slug=slug)
    return entry


def _question_taken(slug: str) -> FaqError:
    return FaqError(
        "reports.ops.faq_question_exists",
        f"FAQ topic {slug!r} has this question already",
        slug=slug,
    )


def _question(text: str) -> str:
    text = " ".join(text.split())
    return checked_text(text, MAX_QUESTION_CHARS, "reports.ops.faq_question", "question", FaqError)


class TopicDraft(NamedTuple):
    """A topic as an operator names it: its slug; for a new topic, its title and text answer."""

    slug: str
    title: str = ""
    answer: str = ""
    campaign: str = "all"


async def _create(session: Session, topic: TopicDraft, now: datetime) -> FaqEntry:
    return await add_operator_entry(
        session,
        slug=topic.slug,
        title=topic.title.strip(),
        reply_json=Reply.of_text(topic.answer.strip()).to_json(),
        campaign=topic.campaign,
        now=now,
    )


async def add_entry(
    bot: BotContext, actor: Actor, topic: TopicDraft, questions: list[str]
) -> FaqEntry:
    """A new operator topic with a text answer and at least one example question."""
    slug = topic.slug
    if not SLUG.match(slug):
        raise FaqError(
            "reports.ops.faq_slug",
            "the slug must be lower-case letters, digits, - or _ (at most 64)",
        )
    if not topic.title.strip() or not topic.answer.strip():
        raise FaqError("reports.ops.faq_title", "a topic needs a title and an answer")
    if topic.campaign not in ("all", "henan", "hunan"):
        raise FaqError(
            "reports.ops.bad_choice",
            "the campaign must be all, henan or hunan",
            value=topic.campaign,
        )
    cleaned = [_question(q) for q in questions]
    if not cleaned:
        raise FaqError("reports.ops.faq_no_question", "a topic needs at least one example question")
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        if await entry_by_slug(session, slug) is not None:
            raise FaqError(
                "reports.ops.faq_exists", f"FAQ topic {slug!r} exists already", slug=slug
            )
        entry = await _create(session, topic, now)
        for text in dict.fromkeys(cleaned):
            await add_question(session, entry, text, now)
        audit(bot, session, actor, "faq.add", topic=slug)
    faq_service(bot).invalidate()
    return entry


async def add_example(bot: BotContext, actor: Actor, slug: str, text: str) -> int:
    """Add an example question to a topic; returns its id."""
    text = _question(text)
    async with transaction(bot.sessions) as session:
        entry = await _entry(session, slug)
        row = await add_question(session, entry, text, bot.clock.now())
        if row is None:
            raise _question_taken(slug)
        audit(bot, session, actor, "faq.add_question", topic=slug, question=row.id)
        question_id = row.id
    faq_service(bot).invalidate()
    return question_id


async def remove_example(bot: BotContext, actor: Actor, question_id: int) -> None:
    """Delete an example question by id."""
    async with transaction(bot.sessions) as session:
        if not await remove_question(session, question_id, bot.clock.now()):
            raise FaqError(
                "reports.ops.faq_question_missing",
                f"no example question {question_id}",
                number=question_id,
            )
        audit(bot, session, actor, "faq.remove_question", question=question_id)
    faq_service(bot).invalidate()


async def switch(bot: BotContext, actor: Actor, slug: str, enabled: bool) -> None:
    """Switch a topic on or off."""
    async with transaction(bot.sessions) as session:
        entry = await _entry(session, slug)
        await set_enabled(session, entry, enabled, bot.clock.now())
        audit(bot, session, actor, "faq.enable" if enabled else "faq.disable", topic=slug)
    faq_service(bot).invalidate()


async def try_question(bot: BotContext, text: str) -> Decision:
    """What the bot would do with ``text`` now (reads only)."""
    service = faq_service(bot)
    await service.reload(bot.sessions)
    return service.matcher.decide(text)


async def learn(
    bot: BotContext,
    item_id: int,
    actor: Actor,
    topic: TopicDraft,
    question: str = "",
) -> FaqEntry:
    """Make the item's question (masked, or ``question`` as edited by the operator) an example
    question of the topic; with its title and answer, a new topic of that slug."""
    slug, title, answer = topic.slug, topic.title, topic.answer
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        item = await get_item(session, item_id)
        if item is None:
            raise FaqError("reports.ops.inbox_missing", f"no inbox item {item_id}", number=item_id)
        text = (question or masked(bot, item)).strip()[:200]
        if not text:
            raise FaqError(
                "reports.ops.faq_learn_empty",
                f"inbox item {item_id} has no text to learn from",
                number=item_id,
            )
        entry = await entry_by_slug(session, slug)
        if entry is None:
            if not (title.strip() and answer.strip()):
                raise FaqError(
                    "reports.ops.faq_learn_new",
                    f"no FAQ topic {slug!r}; give a title and an answer to create it",
                    slug=slug,
                )
            entry = await _create(session, topic, now)
        elif title or answer:
            raise FaqError(
                "reports.ops.faq_learn_exists",
                f"FAQ topic {slug!r} exists; leave out the title and answer",
                slug=slug,
            )
        added = await add_question(session, entry, text, now)
        if added is None:
            raise _question_taken(slug)
        audit(bot, session, actor, "faq.learn", item=item.id, topic=entry.slug)
    faq_service(bot).invalidate()
    return entry


@dataclass(frozen=True)
class UnansweredQuestion:
    text: str  # masked
    times: int
    last_at: datetime


async def week_start(bot: BotContext, days: int) -> datetime:
    """The start of the report period: ``days`` back from now."""
    if days < 1:
        raise FaqError("reports.ops.days", "days must be at least 1")
    return bot.clock.now() - timedelta(days=days)


async def top_unanswered(
    bot: BotContext, days: int = 7, limit: int = 20
) -> list[UnansweredQuestion]:
    """The questions most often handed to staff in the last ``days`` days (texts masked,
    grouped after folding spaces, case and full-width characters)."""
    since = await week_start(bot, days)
    async with bot.sessions() as session:
        items = await unanswered_since(session, since)
    groups: dict[str, tuple[str, int, datetime]] = {}
    for item in items:
        text = masked(bot, item).strip()
        if not text:
            continue
        key = "".join(text.split()).lower()
        shown, n, last = groups.get(key, (text, 0, item.created_at))
        groups[key] = (shown, n + 1, max(last, item.created_at))
    ranked = sorted(groups.values(), key=lambda g: (-g[1], -g[2].timestamp()))[:limit]
    return [UnansweredQuestion(text, n, last) for text, n, last in ranked]


async def hits(
    bot: BotContext, days: int = 7
) -> tuple[list[tuple[str, str, int, int]], dict[str, int]]:
    """Per-topic hits (slug, title, answered, picked) and the outcome totals of the period."""
    since = await week_start(bot, days)
    async with bot.sessions() as session:
        return await hit_counts(session, since), await outcome_counts(session, since)
