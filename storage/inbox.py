"""The operator inbox: messages the bot could not answer or the watchlist flagged, operator
replies, and the operators on duty who hear about the most serious flags at once.

The question is personal data (people write about their children, illnesses, debts), so its
text is stored encrypted by the caller (``bot.cipher``); lists show a masked preview.
One item per message key: a retried message never lands twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TypedDict, Unpack

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from bot.kernel.message import UserKey
from storage.models import Base, BigId, PersonRow


class ItemStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ANSWERED = "answered"
    CLOSED = "closed"


class ReplyStatus(StrEnum):
    """sent: delivered by the customer-service API; queued: kept as a notice for the person's
    next message (outside the platform's window or over its count); failed: the API refused."""

    SENT = "sent"
    QUEUED = "queued"
    FAILED = "failed"


STATUSES = tuple(status.value for status in ItemStatus)
OPEN_STATUSES = (ItemStatus.NEW.value, ItemStatus.ASSIGNED.value)
DONE_STATUSES = (ItemStatus.ANSWERED.value, ItemStatus.CLOSED.value)
REPLY_STATUSES = tuple(status.value for status in ReplyStatus)


class InboxItem(PersonRow, Base):
    """One inbound message waiting for (or answered by) an operator."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        UniqueConstraint("channel", "account", "msg_key"),
        Index("ix_inbox_items_person", "channel", "account", "user_id"),
        Index("ix_inbox_items_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    msg_key: Mapped[str] = mapped_column(String(128))
    # Fernet token of the message text.
    text_enc: Mapped[str] = mapped_column(Text)
    # unanswered: the FAQ handed it to staff; flagged: the watchlist matched
    reason: Mapped[str] = mapped_column(String(16))
    # The watchlist category (fraud, fundraising, help, self_harm, bullying, rumour) or "".
    category: Mapped[str] = mapped_column(String(32), default="")
    # 0 none, 1 low, 2 high, 3 critical (on-duty operators are notified at once)
    severity: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.NEW.value)
    assignee: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


class InboxReply(PersonRow, Base):
    """An operator's reply to an item (audited separately in ``audit_events``)."""

    __tablename__ = "inbox_replies"
    __table_args__ = (Index("ix_inbox_replies_person", "channel", "account", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("inbox_items.id"), index=True)
    operator: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]


class DutyOperator(Base):
    """An operator who can be told about critical flags by a message to their own account.

    ``user_id`` is the operator's openid (or Weibo uid) on ``channel``, bound by hand
    (``inbox duty``) or later by the console; empty while unbound.
    """

    __tablename__ = "inbox_duty_operators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="wechat")
    user_id: Mapped[str] = mapped_column(String(128), default="")
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]


async def add_item(
    session: AsyncSession,
    *,
    channel: str,
    account: str,
    user_id: str,
    msg_key: str,
    text_enc: str,
    reason: str,
    category: str,
    severity: int,
    now: datetime,
) -> InboxItem | None:
    """File a message; None when the same message was filed already (a retry)."""
    item = InboxItem(
        channel=channel,
        account=account,
        user_id=user_id,
        msg_key=msg_key,
        text_enc=text_enc,
        reason=reason,
        category=category,
        severity=severity,
        status=ItemStatus.NEW.value,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(item)
    except IntegrityError:
        return None
    return item


async def get_item(session: AsyncSession, item_id: int) -> InboxItem | None:
    """The item with ``item_id``."""
    return await session.get(InboxItem, item_id)


async def list_items(
    session: AsyncSession, statuses: tuple[str, ...] = OPEN_STATUSES, limit: int = 200
) -> list[InboxItem]:
    """Items in ``statuses``, most severe first, then oldest first (the queue's order)."""
    rows = await session.execute(
        select(InboxItem)
        .where(InboxItem.status.in_(statuses))
        .order_by(InboxItem.severity.desc(), InboxItem.created_at, InboxItem.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def person_items(session: AsyncSession, key: UserKey, limit: int = 20) -> list[InboxItem]:
    """A person's items, newest first."""
    rows = await session.execute(
        select(InboxItem)
        .where(InboxItem.of_user(key))
        .order_by(InboxItem.created_at.desc(), InboxItem.id.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def replies_of(session: AsyncSession, item_id: int) -> list[InboxReply]:
    """An item's replies, oldest first."""
    rows = await session.execute(
        select(InboxReply).where(InboxReply.item_id == item_id).order_by(InboxReply.id)
    )
    return list(rows.scalars())


async def sent_since(session: AsyncSession, key: UserKey, since: datetime) -> int:
    """Operator replies delivered to a person by API since ``since``."""
    n = await session.scalar(
        select(func.count(InboxReply.id)).where(
            InboxReply.of_user(key),
            InboxReply.status == ReplyStatus.SENT.value,
            InboxReply.at >= since,
        )
    )
    return int(n or 0)


async def unanswered_since(session: AsyncSession, since: datetime) -> list[InboxItem]:
    """Items the FAQ handed to staff since ``since`` (the report decrypts and groups them)."""
    rows = await session.execute(
        select(InboxItem)
        .where(InboxItem.reason == "unanswered", InboxItem.created_at >= since)
        .order_by(InboxItem.id)
    )
    return list(rows.scalars())


async def on_duty(session: AsyncSession) -> list[DutyOperator]:
    """Operators on duty with a bound account."""
    rows = await session.execute(
        select(DutyOperator)
        .where(DutyOperator.on_duty.is_(True), DutyOperator.user_id != "")
        .order_by(DutyOperator.id)
    )
    return list(rows.scalars())


async def duty_roster(session: AsyncSession) -> list[DutyOperator]:
    """Every operator known to the duty roster."""
    rows = await session.execute(select(DutyOperator).order_by(DutyOperator.id))
    return list(rows.scalars())


class DutyChange(TypedDict, total=False):
    """What an operator's duty entry changes to (the operation passes its keywords through);
    a key left out or None keeps what the entry has."""

    channel: str | None
    user_id: str | None
    on: bool | None


async def set_duty(
    session: AsyncSession, name: str, now: datetime, **change: Unpack[DutyChange]
) -> DutyOperator:
    """Create or change an operator's duty entry."""
    row = (
        await session.execute(select(DutyOperator).where(DutyOperator.name == name))
    ).scalar_one_or_none()
    if row is None:
        row = DutyOperator(name=name, channel="wechat", user_id="", on_duty=True, updated_at=now)
        session.add(row)
    if (channel := change.get("channel")) is not None:
        row.channel = channel
    if (user_id := change.get("user_id")) is not None:
        row.user_id = user_id
    if (on := change.get("on")) is not None:
        row.on_duty = on
    row.updated_at = now
    await session.flush()
    return row


async def purge_done(session: AsyncSession, before: datetime) -> int:
    """Delete answered and closed items (and their replies) untouched since ``before``."""
    return await _delete_items(
        session, InboxItem.status.in_(DONE_STATUSES), InboxItem.updated_at < before
    )


async def _delete_items(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    """Delete the items matching ``where`` and the replies to them; returns items removed."""
    ids = select(InboxItem.id).where(*where)
    await session.execute(delete(InboxReply).where(InboxReply.item_id.in_(ids)))
    result = await session.execute(delete(InboxItem).where(*where))
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_person(session: AsyncSession, key: UserKey) -> int:
    """Remove a person's items and replies (their data goes with them); returns items removed."""
    return await _delete_items(session, InboxItem.of_user(key))
