"""Notices waiting for a user's next message: queue, read, mark shown, claim for a separate
send; and the last-message time that decides whether an active message is still allowed.

A notice is marked delivered only once it was shown: in front of a text reply (same
transaction as the reply's message key), or sent as a message of its own after a reply that
cannot carry text (claimed first so two deliveries never both send it, released again when
the send fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.clock import as_utc
from bot.kernel.message import UserKey
from storage.db import Prebuilt
from storage.models import InboundMessage, Notice


async def last_message_at(session: AsyncSession, key: UserKey) -> datetime | None:
    """When the user last wrote to the account (the platforms' reply windows start there);
    None: never, or purged from the log."""
    last = await session.scalar(
        select(func.max(InboundMessage.received_at)).where(InboundMessage.of_user(key))
    )
    return None if last is None else as_utc(last)


def add_notice(session: AsyncSession, key: UserKey, text: str, now: datetime) -> None:
    """Queue ``text`` for the user's next message (committed with the session)."""
    session.add(Notice(**Notice.columns_of(key), text=text, created_at=now))


class PendingNotice(NamedTuple):
    """A notice not yet shown (``claim_notices`` marks it shown)."""

    id: int
    text: str


# Read before every text message's handler: built once and read as plain rows, not ORM
# objects, per message.
PENDING_OF_BOUND_USER = and_(Notice.of_bound_user(), Notice.delivered_at.is_(None))
_PENDING = Prebuilt(select(Notice.id, Notice.text).where(PENDING_OF_BOUND_USER).order_by(Notice.id))
_KEPT = "storage.notices.kept"


def keep_pending(
    session: AsyncSession, person: tuple[str, str, str], found: list[PendingNotice]
) -> None:
    """Keep the person's pending notices, read in this transaction by another statement (the
    message's claim on PostgreSQL), for the next ``pending_notices`` call of the transaction."""
    sync = session.sync_session
    sync.info[_KEPT] = (sync.get_transaction(), person, found)


async def pending_notices(session: AsyncSession, key: UserKey) -> list[PendingNotice]:
    """The user's undelivered notices, oldest first."""
    params = Notice.columns_of(key)
    sync = session.sync_session
    kept = sync.info.pop(_KEPT, None)
    if (
        kept is not None
        and kept[0] is sync.get_transaction()
        and kept[1] == (params["channel"], params["account"], params["user_id"])
    ):
        return kept[2]
    rows = await _PENDING.rows(session, params)
    return [PendingNotice(row.id, row.text) for row in rows]


async def claim_notices(session: AsyncSession, ids: Sequence[int], now: datetime) -> list[int]:
    """Mark the notices of ``ids`` still pending as delivered; the ids this call took."""
    if not ids:
        return []
    taken = await session.execute(
        update(Notice)
        .where(Notice.id.in_(ids), Notice.delivered_at.is_(None))
        .values(delivered_at=now)
        .returning(Notice.id)
    )
    return [row[0] for row in taken]


async def release_notices(session: AsyncSession, ids: Sequence[int]) -> None:
    """Make claimed notices pending again (their separate send failed)."""
    if ids:
        await session.execute(update(Notice).where(Notice.id.in_(ids)).values(delivered_at=None))
