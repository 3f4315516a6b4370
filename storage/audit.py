"""The audit log: who did what to personal data, votes, reviews and settings.

Every row is written by ``record``: one actor format (``cli:alice``, ``console:bob``,
``author`` for a user acting on what they sent, ``system`` for jobs) and one action format
(``feature.verb``: ``stories.approve``, ``logo.phase_set``, ``votes.void``). The detail is
``key=value`` pairs and never holds personal data (numbers and reasons only). The console
reads it back filtered by actor and action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent

ACTOR_KINDS = ("cli", "console", "author", "system")
ACTION_RE = re.compile(r"^[a-z]+\.[a-z_]+$")


@dataclass(frozen=True)
class Actor:
    """Who acts: an operator on the CLI or the console (with a name), an author, the system."""

    kind: str
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise ValueError(f"actor kind must be one of {ACTOR_KINDS}, got {self.kind!r}")
        named = self.kind in ("cli", "console")
        if named and not self.name.strip():
            raise ValueError(f"a {self.kind} actor needs a name")
        if not named and self.name:
            raise ValueError(f"a {self.kind} actor has no name")

    @classmethod
    def cli(cls, name: str) -> Actor:
        """An operator at the command line (``--as NAME``)."""
        return cls("cli", name.strip())

    @classmethod
    def console(cls, name: str) -> Actor:
        """An operator signed in to the web console."""
        return cls("console", name.strip())

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


AUTHOR = Actor("author")
SYSTEM = Actor("system")


def detail_text(**detail: object) -> str:
    """``key=value`` pairs in the order given; None reads ``*`` (any)."""
    return " ".join(f"{key}={'*' if value is None else value}" for key, value in detail.items())


def record(
    session: AsyncSession, at: datetime, actor: Actor, action: str, **detail: object
) -> None:
    """Add one audit row to the session's transaction (it commits with the action's writes)."""
    if not ACTION_RE.fullmatch(action):
        raise ValueError(f"audit action must read feature.verb, got {action!r}")
    add_row(session, at, str(actor), action, detail_text(**detail))


def add_row(session: AsyncSession, at: datetime, actor: str, action: str, detail: str) -> None:
    """The audit row itself, the one place one is built (``record`` checks the formats first;
    the console's and the inbox's own helpers call this with their operator names)."""
    session.add(AuditEvent(at=at, actor=actor[:64], action=action, detail=detail))


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
