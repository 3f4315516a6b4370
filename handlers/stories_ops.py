"""Operator operations on story submissions: review, contact reveal, export.

Each validates, writes, records one audit row and tells the author where due; the CLI
(``bot/cli/stories.py``) and the console call these and only present the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.context import BotContext
from handlers.notify import tell_then
from handlers.operations import Actor, OperationError, audit
from storage import stories as store
from storage.db import Session, transaction
from storage.stories import Story, StoryMedia


def _number(number: int) -> int:
    if number < 1:
        raise OperationError(
            "reports.ops.story_number",
            f"number: must be a story number (1 or more), got {number}",
            number=number,
        )
    return number


async def _story(session: Session, number: int) -> Story:
    story = await store.get_story(session, _number(number))
    if story is None:
        raise OperationError("reports.stories.no_such", f"no story {number}", number=number)
    return story


async def approve(bot: BotContext, actor: Actor, number: int, note: str | None = None) -> str:
    """Approve story ``number`` and tell its author; returns 'sent' or 'notice'."""
    async with bot.sessions() as session:
        story = await _story(session, number)

    async def record(session: Session) -> None:
        await store.review_story(session, number, "approved", bot.clock.now(), note)
        audit(bot, session, actor, "stories.approve", story=number, note=note or "")

    text = bot.texts("stories.approved", number=number)
    # Sent before the transaction opens (tell_then): a slow platform never holds the database.
    return await tell_then(bot, story.channel, story.account, story.user_id, text, record)


async def reject(bot: BotContext, actor: Actor, number: int, note: str) -> None:
    """Reject story ``number`` with a note for operators (the author is not told)."""
    if not note.strip():
        raise OperationError("reports.ops.story_note", "--note: say why, for operators")
    async with transaction(bot.sessions) as session:
        await _story(session, number)
        await store.review_story(session, number, "rejected", bot.clock.now(), note)
        audit(bot, session, actor, "stories.reject", story=number, note=note)


@dataclass(frozen=True)
class Contact:
    """A story's contact in full."""

    name: str
    phone: str


async def reveal_contact(bot: BotContext, actor: Actor, number: int) -> Contact | None:
    """The contact of story ``number`` in full (audited); None when it left none."""
    async with transaction(bot.sessions) as session:
        story = await _story(session, number)
        if not story.contact_name_enc or not story.contact_phone_enc:
            return None
        audit(bot, session, actor, "stories.reveal_contact", story=number)
    return Contact(
        bot.cipher.decrypt(story.contact_name_enc), bot.cipher.decrypt(story.contact_phone_enc)
    )


@dataclass(frozen=True)
class Export:
    """The stories of a selection with their media, for a sheet."""

    stories: list[Story]
    media: dict[int, list[StoryMedia]]


async def export(
    bot: BotContext,
    actor: Actor,
    *,
    status: str | None = None,
    channel: str | None = None,
) -> Export:
    """Every story of the selection in full, with its media (the export is audited)."""
    if status is not None and status not in store.STATUSES:
        raise OperationError(
            "reports.ops.bad_choice", f"--status: unknown status {status!r}", value=status
        )
    async with transaction(bot.sessions) as session:
        stories = await store.list_stories(session, status, channel)
        media = await store.media_of(session, [s.id for s in stories])
        audit(
            bot, session, actor, "stories.export", rows=len(stories), status=status, channel=channel
        )
    return Export(stories, media)
