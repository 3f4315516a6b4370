"""A named lease in the database: only one scheduler process is active at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from bot.kernel.clock import as_utc
from storage.db import Conflict, Sessions, savepoint, transaction
from storage.models import Lease


async def acquire(sessions: Sessions, name: str, owner: str, now: datetime, ttl: float) -> bool:
    """Take or renew ``name`` for ``owner`` until now+ttl; False while someone else holds it."""
    until = now + timedelta(seconds=ttl)
    async with transaction(sessions) as session:
        # Conditional UPDATE: PostgreSQL re-checks the WHERE after a concurrent writer commits,
        # SQLite serialises writers (BEGIN IMMEDIATE), so two contenders never both win.
        result: Any = await session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.owner == owner, Lease.expires_at < now))
            .values(owner=owner, expires_at=until)
        )
        if result.rowcount:
            return True
        if await session.scalar(select(Lease.name).where(Lease.name == name)) is not None:
            return False
        try:
            async with savepoint(session):
                session.add(Lease(name=name, owner=owner, expires_at=until))
        except Conflict:
            return False  # another process inserted it first
        return True


async def release(sessions: Sessions, name: str, owner: str, now: datetime) -> None:
    """Give the lease up at once (clean shutdown), so a waiting scheduler takes over."""
    async with transaction(sessions) as session:
        await session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.owner == owner)
            .values(expires_at=now - timedelta(seconds=1))
        )


async def holder(sessions: Sessions, name: str, now: datetime) -> str | None:
    """The current owner of ``name`` if its lease is live."""
    async with sessions() as session:
        row = await session.get(Lease, name)
        if row is None:
            return None
        return row.owner if as_utc(row.expires_at) >= now else None
