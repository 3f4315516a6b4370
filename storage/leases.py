"""A named lease in the database: only one scheduler process is active at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

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


# Presence: every serving process (web or scheduler) keeps a lease of its own named
# PRESENCE_PREFIX + a random id, renewed well within PRESENCE_TTL_SECONDS, so a command that
# must not run beside the bot (``keys rotate``) can tell whether any process on any host
# serves this database. One that died without stopping is forgotten when its lease expires.
PRESENCE_PREFIX = "serving:"
PRESENCE_TTL_SECONDS = 30.0


async def present(sessions: Sessions, name: str, owner: str, now: datetime) -> None:
    """Say that process ``name`` (described by ``owner``) is serving, for the next TTL."""
    await acquire(sessions, name, owner, now, PRESENCE_TTL_SECONDS)


async def gone(sessions: Sessions, name: str) -> None:
    """Remove a presence at a clean stop, and those of processes that died a day ago."""
    async with transaction(sessions) as session:
        stale = Lease.name.startswith(PRESENCE_PREFIX, autoescape=True) & (
            Lease.expires_at < datetime.now(UTC) - timedelta(days=1)
        )
        await session.execute(delete(Lease).where((Lease.name == name) | stale))


async def serving(sessions: Sessions, now: datetime) -> list[tuple[str, datetime]]:
    """(owner, lease expiry) of the processes serving now."""
    async with sessions() as session:
        rows = await session.execute(
            select(Lease.owner, Lease.expires_at).where(
                Lease.name.startswith(PRESENCE_PREFIX, autoescape=True), Lease.expires_at >= now
            )
        )
        return [(owner, as_utc(at)) for owner, at in rows]
