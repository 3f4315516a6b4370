"""The inbound message log: the claim of a message's key on the transactional path, and its
upkeep (retention, the cached replies kept for retries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.message import UserKey
from storage.db import Prebuilt
from storage.models import InboundMessage

_LOG: Table = InboundMessage.__table__  # type: ignore[assignment]

# Built once: statements made per message (ORM unit of work, .where() and .values() coercion,
# the cache key) cost more CPU than the SQL itself on the transactional path.
_FINISH = Prebuilt(
    update(_LOG)
    .where(_LOG.c.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        handler=bindparam("new_handler"),
        text=bindparam("new_text"),
        reply=bindparam("new_reply"),
        finished_at=bindparam("new_finished_at"),
    )
)


_CLAIM = Prebuilt(
    lambda insert: (
        insert(_LOG)
        .on_conflict_do_nothing(index_elements=["channel", "account", "msg_key"])
        .returning(_LOG.c.id)
    )
)
_CACHED_ANSWER = Prebuilt(
    select(_LOG.c.status, _LOG.c.reply, _LOG.c.handler).where(
        _LOG.c.channel == bindparam("channel"),
        _LOG.c.account == bindparam("account"),
        _LOG.c.msg_key == bindparam("msg_key"),
    )
)


async def claim_message(session: AsyncSession, row: dict[str, Any]) -> int | None:
    """Insert the message's log row (its key's claim); its id, or None when the key is taken
    (a retry: the unique key decides, across processes too, without an exception)."""
    return await _CLAIM.scalar(session, row)  # type: ignore[no-any-return]


async def cached_answer(session: AsyncSession, channel: str, account: str, msg_key: str) -> Any:
    """(status, reply, handler) of a claimed message key, or None (a retry's answer)."""
    params = {"channel": channel, "account": account, "msg_key": msg_key}
    return await _CACHED_ANSWER.first(session, params)


async def finish_message(
    session: AsyncSession,
    row_id: int,
    *,
    status: str,
    handler: str,
    text: str | None,
    reply: str | None,
    finished_at: datetime,
) -> None:
    """Record how the claimed message was handled (in its transaction)."""
    await _FINISH.run(
        session,
        {
            "row_id": row_id,
            "new_status": status,
            "new_handler": handler,
            "new_text": text,
            "new_reply": reply,
            "new_finished_at": finished_at,
        },
    )


async def purge_before(session: AsyncSession, cutoff: datetime) -> int:
    """Delete message-log rows received before ``cutoff``; returns how many."""
    result = await session.execute(
        delete(InboundMessage).where(InboundMessage.received_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def drop_cached_replies(session: AsyncSession, since: datetime, before: datetime) -> None:
    """Forget the cached replies of messages received in [since, before)."""
    await session.execute(
        update(InboundMessage)
        .where(
            InboundMessage.received_at < before,
            InboundMessage.received_at >= since,
            InboundMessage.reply.is_not(None),
        )
        .values(reply=None)
    )


async def recent_texts(
    session: AsyncSession, key: UserKey, limit: int
) -> list[tuple[datetime, str]]:
    """The user's last ``limit`` logged texts (redacted as logged), oldest first."""
    rows = await session.execute(
        select(InboundMessage.received_at, InboundMessage.text)
        .where(InboundMessage.of_user(key), InboundMessage.text.is_not(None))
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(limit)
    )
    return [(at, text or "") for at, text in rows][::-1]
