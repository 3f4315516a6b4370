"""Story submissions (投稿故事): the story, its pictures and videos, and operator review.

A story is public once approved, so its text is stored as sent; the optional contact (name and
phone) is personal data and stored encrypted by the caller (``bot.cipher``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    false,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.kernel.message import UserKey
from storage.models import Base, BigId, PersonRow


class StoryStatus(StrEnum):
    """Where a story stands: sent, then reviewed by an operator."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


STATUSES = tuple(status.value for status in StoryStatus)
MEDIA_KINDS = ("image", "video")


class Story(PersonRow, Base):
    """One submitted story; its ``id`` is the number the author is given."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)  # PersonRow's, indexed
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=StoryStatus.PENDING.value, index=True)
    # The author agreed the story may be published (the flow cannot finish without it).
    consent: Mapped[bool]
    consent_at: Mapped[datetime]
    # Only when the author asked to be contacted; Fernet tokens (bot.cipher).
    contact_name_enc: Mapped[str | None] = mapped_column(Text)
    contact_phone_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)
    # Chosen by an operator to be shown first (an approved story only).
    featured: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class StoryMedia(Base):
    """A picture (stored file) or a video (the platform's media id only) of a story."""

    __tablename__ = "story_media"
    __table_args__ = (UniqueConstraint("story_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # order sent, from 1
    kind: Mapped[str] = mapped_column(String(16))  # image | video
    # Pictures: SHA-256 of the bytes and the file name under [stories] media_dir.
    sha256: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(255))
    # Videos: the platform's media id (WeChat keeps it 3 days).
    media_id: Mapped[str | None] = mapped_column(String(255))


async def add_story(
    session: AsyncSession,
    author: UserKey,
    *,
    text: str,
    consent_at: datetime,
    now: datetime,
    pictures: Sequence[tuple[str, str]] = (),
    videos: Sequence[str] = (),
    contact_name_enc: str | None = None,
    contact_phone_enc: str | None = None,
) -> Story:
    """Insert a pending story with its pictures ((sha256, file name)) and video media ids."""
    story = Story(
        channel=author.channel.value,
        account=author.account,
        user_id=author.user,
        text=text,
        status=StoryStatus.PENDING,
        consent=True,
        consent_at=consent_at,
        contact_name_enc=contact_name_enc,
        contact_phone_enc=contact_phone_enc,
        created_at=now,
    )
    session.add(story)
    await session.flush()
    position = 0
    for sha256, path in pictures:
        position += 1
        session.add(
            StoryMedia(story_id=story.id, position=position, kind="image", sha256=sha256, path=path)
        )
    for media_id in videos:
        position += 1
        session.add(
            StoryMedia(story_id=story.id, position=position, kind="video", media_id=media_id)
        )
    await session.flush()
    return story


async def get_story(session: AsyncSession, number: int) -> Story | None:
    """One story by number."""
    return await session.get(Story, number)


async def list_stories(
    session: AsyncSession, status: str | None = None, channel: str | None = None
) -> list[Story]:
    """Stories by number, optionally of one status and channel."""
    query = select(Story).order_by(Story.id)
    if status:
        query = query.where(Story.status == status)
    if channel:
        query = query.where(Story.channel == channel)
    return list((await session.scalars(query)).all())


async def media_of(session: AsyncSession, story_ids: Sequence[int]) -> dict[int, list[StoryMedia]]:
    """The media of each story, in the order sent (one query for a whole list)."""
    out: dict[int, list[StoryMedia]] = {i: [] for i in story_ids}
    if not story_ids:
        return out
    rows = await session.scalars(
        select(StoryMedia)
        .where(StoryMedia.story_id.in_(story_ids))
        .order_by(StoryMedia.story_id, StoryMedia.position)
    )
    for media in rows:
        out[media.story_id].append(media)
    return out


async def review_story(
    session: AsyncSession, number: int, status: str, now: datetime, note: str | None
) -> Story | None:
    """Set a story's status and review note; None when there is no such story."""
    story = await session.get(Story, number, with_for_update=True)
    if story is None:
        return None
    story.status = status
    story.reviewed_at = now
    story.review_note = note
    await session.flush()
    return story


async def stories_of(session: AsyncSession, author: UserKey) -> list[Story]:
    """One author's stories, newest first."""
    query = select(Story).where(
        Story.channel == author.channel.value,
        Story.account == author.account,
        Story.user_id == author.user,
    )
    return list((await session.scalars(query.order_by(Story.id.desc()))).all())


async def delete_own_story(
    session: AsyncSession, number: int, author: UserKey, now: datetime
) -> bool:
    """Delete story ``number`` with its media if it is this author's (PIPL: the owner may
    delete what they sent); its picture files go with the next orphan purge. Whether it was
    there to delete."""
    story = await session.get(Story, number, with_for_update=True)
    if story is None or (story.channel, story.account, story.user_id) != (
        author.channel.value,
        author.account,
        author.user,
    ):
        return False
    await session.execute(delete(StoryMedia).where(StoryMedia.story_id == number))
    await session.delete(story)
    await session.flush()
    return True


async def count_stories(session: AsyncSession, status: str | None = None) -> int:
    """How many stories (of one status)."""
    query = select(func.count(Story.id))
    if status:
        query = query.where(Story.status == status)
    return int(await session.scalar(query) or 0)


async def set_featured(session: AsyncSession, number: int, featured: bool) -> Story | None:
    """Feature (or stop featuring) an approved story; None when there is no approved one."""
    story = await session.get(Story, number, with_for_update=True)
    if story is None or story.status != "approved":
        return None
    story.featured = featured
    await session.flush()
    return story


async def media_paths(session: AsyncSession) -> list[str]:
    """File names of every stored story picture (what the orphan purge must keep)."""
    found = await session.scalars(select(StoryMedia.path).where(StoryMedia.path.is_not(None)))
    return [name for name in found if name]
