"""Reading the audit log (operators' actions), filtered by actor and action."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent


async def list_audit(
    session: AsyncSession,
    *,
    actor: str = "",
    action: str = "",
    offset: int = 0,
    limit: int | None = 100,
) -> list[AuditEvent]:
    """Audit rows, newest first; ``action`` matches a prefix (``logo.`` finds every logo one)."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def audit_actions(session: AsyncSession) -> list[str]:
    """Every action name in the log, for the filter's choices."""
    return sorted(await session.scalars(select(AuditEvent.action).distinct()))
