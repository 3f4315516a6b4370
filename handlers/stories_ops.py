"""Operator operations on story submissions: review, contact reveal, export.

Each validates, writes, records one audit row and tells the author where due; the CLI
(``bot/cli/stories.py``) and the console call these and only present the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.kernel.context import BotContext
from handlers.notify import tell_then
from handlers.operations import Actor, Counter, OperationError, audit
from handlers.sheets import story_rows
from storage import stories as store
from storage.db import Session, transaction
from storage.stories import Story


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
    return await tell_then(bot, story.user_key, text, record)


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


async def export(
    bot: BotContext,
    actor: Actor,
    *,
    status: str | None = None,
    channel: str | None = None,
    progress: Counter | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Headers and one row per story of the selection, in full (contacts masked); the export
    is audited."""
    if status is not None and status not in store.STATUSES:
        raise OperationError(
            "reports.ops.bad_choice", f"--status: unknown status {status!r}", value=status
        )
    headers, rows = await story_rows(bot, status, channel, progress)
    async with transaction(bot.sessions) as session:
        count = len(rows)
        audit(bot, session, actor, "stories.export", rows=count, status=status, channel=channel)
    return headers, rows


async def set_featured(bot: BotContext, actor: Actor, number: int, featured: bool = True) -> None:
    """Feature (or, ``featured=False``, stop featuring) an approved story as a typical case of
    the office report."""
    async with transaction(bot.sessions) as session:
        if await store.set_featured(session, _number(number), featured) is None:
            found = await store.get_story(session, number)
            key = "no_such" if found is None else "feature_not_approved"
            message = f"no story {number}" if found is None else f"story {number} is not approved"
            raise OperationError(f"reports.stories.{key}", message, number=number)
        action = "stories.feature" if featured else "stories.unfeature"
        audit(bot, session, actor, action, story=number)
