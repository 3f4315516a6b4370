"""Campaign posts (what goes out, where, when) and the push outbox (what went out)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId


class PostStatus(StrEnum):
    """A campaign post: waiting for approval (drafted in the console), scheduled, or cancelled."""

    DRAFT = "draft"
    ACTIVE = "active"
    CANCELLED = "cancelled"


# Outbox states: pending -> sending -> sent | failed; "missed" when the scheduler was down past
# the grace time; "unknown" when a crash mid-send left a delivery nobody can confirm.
class OutboxStatus(StrEnum):
    """Where one delivery of the outbox stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    MISSED = "missed"
    UNKNOWN = "unknown"


PENDING, SENDING, SENT = OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT
FAILED, MISSED, UNKNOWN = OutboxStatus.FAILED, OutboxStatus.MISSED, OutboxStatus.UNKNOWN


class CampaignPost(Base):
    """A scheduled campaign post: content, channels, audience and its schedule."""

    __tablename__ = "campaign_posts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    label: Mapped[str] = mapped_column(String(128))
    # text | image | news
    kind: Mapped[str] = mapped_column(String(16))
    # JSON: {"text": ...} | {"image": path, "text": caption} | {"articles": [...]} (see posts.py)
    body: Mapped[str] = mapped_column(Text)
    # comma-separated channels: "wechat", "weibo" or "wechat,weibo"
    channels: Mapped[str] = mapped_column(String(64))
    # WeChat audience: None = all followers, else a tag id.
    tag_id: Mapped[int | None] = mapped_column(Integer)
    # The link Weibo's share API requires in the status (a domain registered for the app).
    link: Mapped[str] = mapped_column(String(512), default="")
    # Schedule: either ``at`` (once) or ``key_date`` + ``time_of_day`` (every year).
    at: Mapped[datetime | None]
    key_date: Mapped[str | None] = mapped_column(String(48))
    time_of_day: Mapped[str | None] = mapped_column(String(5))
    # Operators' openids previewed preview_minutes before each occurrence (comma-separated).
    preview_to: Mapped[str] = mapped_column(String(1024), default="")
    preview_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # draft (console, awaiting approval) | active | cancelled
    status: Mapped[str] = mapped_column(String(16), default=PostStatus.ACTIVE.value)
    created_at: Mapped[datetime]
    # Console operators who drafted and approved the post (None for CLI posts).
    drafted_by: Mapped[str | None] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None]


class OutboxItem(Base):
    """One delivery of a post: per (post, channel, purpose, occurrence), never two."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("post_id", "channel", "purpose", "occurrence"),
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    post_id: Mapped[int] = mapped_column(BigId)
    channel: Mapped[str] = mapped_column(String(16))
    # push (to the audience) | preview (to operators)
    purpose: Mapped[str] = mapped_column(String(16))
    occurrence: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    # Sent to WeChat so a repeated mass send is refused by the platform (45065).
    client_msg_id: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    # The platform's report (MASSSENDJOBFINISH: status and counts), JSON.
    report: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


async def outbox_in_period(
    session: AsyncSession, channel: str, purpose: str, start: datetime, end: datetime
) -> list[OutboxItem]:
    """Deliveries of ``channel`` and ``purpose`` in [start, end) that used (or will use) the
    platform's quota: failed, missed and unknown ones did not."""
    rows = await session.scalars(
        select(OutboxItem).where(
            OutboxItem.channel == channel,
            OutboxItem.purpose == purpose,
            OutboxItem.status.not_in([FAILED, MISSED, UNKNOWN]),
            OutboxItem.occurrence >= start,
            OutboxItem.occurrence < end,
        )
    )
    return list(rows.all())


async def get_post(session: AsyncSession, post_id: int) -> CampaignPost | None:
    """Post ``post_id``, whatever its status."""
    return await session.get(CampaignPost, post_id)


async def active_posts(session: AsyncSession) -> list[CampaignPost]:
    """Posts not cancelled, oldest first."""
    rows = await session.execute(
        select(CampaignPost)
        .where(CampaignPost.status == PostStatus.ACTIVE.value)
        .order_by(CampaignPost.id)
    )
    return list(rows.scalars())


async def list_posts(session: AsyncSession) -> list[CampaignPost]:
    """Every post, drafts and cancelled ones included, newest first."""
    rows = await session.execute(select(CampaignPost).order_by(CampaignPost.id.desc()))
    return list(rows.scalars())


async def outbox_for(session: AsyncSession, post_id: int | None = None) -> list[OutboxItem]:
    """Outbox rows (of one post), newest occurrence first."""
    q = select(OutboxItem).order_by(OutboxItem.occurrence.desc(), OutboxItem.id)
    if post_id is not None:
        q = q.where(OutboxItem.post_id == post_id)
    return list((await session.execute(q)).scalars())


async def outbox_counts(session: AsyncSession) -> dict[str, int]:
    """How many outbox rows are in each state."""
    rows = await session.execute(
        select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
    )
    return {status: int(count) for status, count in rows}
