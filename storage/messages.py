"""The inbound message log: the claim of a message's key on the transactional path, and its
upkeep (retention, the cached replies kept for retries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import String, Table, bindparam, delete, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kernel.message import UserKey
from storage.conversations import STATE_LOCKED, keep_state
from storage.db import Prebuilt
from storage.hotpath import KEY_LOCK_SQL, LOG_COLUMNS
from storage.models import InboundMessage, Notice
from storage.notices import PENDING_OF_BOUND_USER, PendingNotice, keep_pending

_LOG: Table = InboundMessage.__table__  # type: ignore[assignment]
_NOTICES: Table = Notice.__table__  # type: ignore[assignment]

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
# The claim's row: the log's columns but how the message ended (``finish_message``).
_CLAIM_COLUMNS = tuple(c for c in LOG_COLUMNS if c not in ("handler", "reply", "finished_at"))


_KEY_NAMES = ("channel", "account", "msg_key")


def _claim_with_notices(insert: Any) -> Any:
    """PostgreSQL: the claim, the sender's pending notices (``pending_notices``) and their
    conversation state, locked (``SqlConversationStore.get``), in one statement: two round
    trips less on every message of the transactional path. The notices come back as rows
    (none: one row of NULLs), each with the state's columns, whatever the claim's outcome."""
    claim = (
        insert(_LOG)
        .values({name: bindparam(name) for name in _CLAIM_COLUMNS})
        .on_conflict_do_nothing(index_elements=["channel", "account", "msg_key"])
        .returning(_LOG.c.id)
        .cte("claim")
    )
    state = STATE_LOCKED.cte("state")
    one = select(literal(1).label("one")).subquery("one")
    # The key's advisory lock, held until the transaction ends: another process's delivery of
    # the same message sees it taken (``PostgresProbe.follows``) and skips its follower check.
    # Tried, never waited for: without it that delivery only does the check in vain.
    # (Text, as the probe writes it; a subquery, so the row keeps a named column for it.)
    lock = text(KEY_LOCK_SQL.format(*(f":{name}" for name in _KEY_NAMES))).bindparams(
        *(bindparam(name, type_=String) for name in _KEY_NAMES)
    )
    key_locked = select(lock).scalar_subquery().label("key_locked")
    return (
        select(
            select(claim.c.id).scalar_subquery().label("id"),
            key_locked,
            _NOTICES.c.id.label("notice_id"),
            _NOTICES.c.text,
            *(column.label(f"state_{column.name}") for column in state.c),
        )
        .select_from(one.outerjoin(state, literal(True)).outerjoin(_NOTICES, PENDING_OF_BOUND_USER))
        .order_by(_NOTICES.c.id)
    )


_CLAIM_WITH_NOTICES = Prebuilt(_claim_with_notices)


class _State(NamedTuple):
    """A conversation row as ``SqlConversationStore.get`` reads it."""

    flow: str
    step: str
    data: str
    updated_at: datetime
    expires_at: datetime
    version: int


async def claim_message(
    session: AsyncSession, row: dict[str, Any], *, notices: bool = False
) -> int | None:
    """Insert the message's log row (its key's claim); its id, or None when the key is taken
    (a retry: the unique key decides, across processes too, without an exception).

    With ``notices`` (the handler will ask ``pending_notices`` and the conversation state
    next), PostgreSQL reads both in the same statement, the state locked, and keeps them for
    those calls."""
    if not notices or session.get_bind().dialect.name != "postgresql":
        return await _CLAIM.scalar(session, row)
    rows = await _CLAIM_WITH_NOTICES.rows(session, {name: row[name] for name in _CLAIM_COLUMNS})
    person = (row["channel"], row["account"], row["user_id"])
    keep_pending(session, person, [PendingNotice(r.notice_id, r.text) for r in rows if r.notice_id])
    first = rows[0]
    state = None
    if first.state_version is not None:
        state = _State(
            first.state_flow,
            first.state_step,
            first.state_data,
            first.state_updated_at,
            first.state_expires_at,
            first.state_version,
        )
    keep_state(session, person, state)
    return first.id


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
