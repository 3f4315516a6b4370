"""Which data key the personal data is encrypted under, and where encrypted values live.

The key itself is never stored: only its id (a one-way digest, ``bot.privacy.Cipher.key_id``),
so a process started with another key (a changed ``BOT_SECURITY_DATA_KEY``, a lost and
regenerated ``data.key``) can refuse to run instead of failing on every read and writing new
data under a second key. During ``keys rotate`` the new key's id is recorded as ``next``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from storage.inbox import InboxItem
from storage.logo import LogoEntry
from storage.models import Base, Conversation, InboundMessage
from storage.stories import Story
from storage.volunteers import Volunteer

ACTIVE = "active"
NEXT = "next"


class DataKey(Base):
    """A data key the database's personal data is (or, for ``next``, is becoming) under."""

    __tablename__ = "data_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime]


@dataclass(frozen=True)
class EncryptedTable:
    """A table's encrypted columns; ``index`` maps a blind-index column to the encrypted
    column whose plaintext it indexes (rotation recomputes it)."""

    model: Any
    columns: tuple[str, ...]
    index: dict[str, str] = field(default_factory=dict)


# Every column holding ciphertext under the data key. Empty strings (erased volunteers) and
# values starting with "{" (written in clear before encryption was introduced) are not.
ENCRYPTED: Sequence[EncryptedTable] = (
    EncryptedTable(
        Volunteer, ("name_enc", "phone_enc", "guardian_enc"), {"phone_index": "phone_enc"}
    ),
    EncryptedTable(
        LogoEntry, ("author_name_enc", "author_phone_enc"), {"phone_index": "author_phone_enc"}
    ),
    EncryptedTable(Story, ("contact_name_enc", "contact_phone_enc")),
    EncryptedTable(Conversation, ("data",)),
    EncryptedTable(InboxItem, ("text_enc",)),
    EncryptedTable(InboundMessage, ("reply",)),
)


def is_ciphertext(value: str | None) -> bool:
    """Whether a stored value is a ciphertext (not empty, not legacy clear JSON)."""
    return bool(value) and not str(value).startswith("{")


def _has_ciphertext(column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    return column.is_not(None) & (column != "") & ~column.startswith("{")


async def recorded_keys(session: AsyncSession) -> dict[str, str]:
    """Key id -> state of the keys recorded for this database."""
    rows = await session.execute(select(DataKey.key_id, DataKey.state))
    return {key_id: state for key_id, state in rows}


async def record_key(session: AsyncSession, key_id: str, state: str, now: datetime) -> None:
    """Record ``key_id`` in ``state`` (IntegrityError if it is recorded already)."""
    session.add(DataKey(key_id=key_id, state=state, recorded_at=now))
    await session.flush()


async def forget_keys(session: AsyncSession) -> None:
    """Drop every recorded key (only for a database that holds no ciphertext)."""
    await session.execute(delete(DataKey))


async def finish_rotation(session: AsyncSession, old_id: str, new_id: str) -> None:
    """The ``next`` key becomes the only one."""
    await session.execute(delete(DataKey).where(DataKey.key_id == old_id))
    await session.execute(update(DataKey).where(DataKey.key_id == new_id).values(state=ACTIVE))


async def sample_ciphertext(session: AsyncSession) -> str | None:
    """Any one encrypted value in the database, or None when it holds none."""
    for table in ENCRYPTED:
        for name in table.columns:
            column = getattr(table.model, name)
            value = (
                await session.execute(select(column).where(_has_ciphertext(column)).limit(1))
            ).scalar_one_or_none()
            if value:
                return str(value)
    return None


async def count_rows(session: AsyncSession, table: EncryptedTable) -> int:
    """Rows of ``table`` with at least one encrypted value."""
    cond = _any_ciphertext(table)
    total = await session.execute(select(func.count()).select_from(table.model).where(cond))
    return int(total.scalar_one())


def _any_ciphertext(table: EncryptedTable) -> ColumnElement[bool]:
    conds = [_has_ciphertext(getattr(table.model, name)) for name in table.columns]
    out = conds[0]
    for cond in conds[1:]:
        out = out | cond
    return out


async def batch(session: AsyncSession, table: EncryptedTable, size: int, after: int) -> list[Any]:
    """Up to ``size`` rows (ORM objects) of ``table`` with encrypted values and an id above
    ``after``, in id order."""
    model = table.model
    result = await session.execute(
        select(model).where(model.id > after, _any_ciphertext(table)).order_by(model.id).limit(size)
    )
    return list(result.scalars())
