"""Console operators: accounts, server-side sessions and the login-failure ledger.

Sessions live in the database (only a hash of the cookie's token is stored), so any process
can check one and disabling an operator ends theirs at once. Login failures are rows too: the
lock after too many holds across processes and restarts.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Boolean, String, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.audit import add_row
from storage.db import added
from storage.models import Base, BigId
from storage.ratelimit import clear_window

ROLES = ("viewer", "editor", "admin")


class Operator(Base):
    """A person who logs in to the console."""

    __tablename__ = "console_operators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # argon2 hash (argon2-cffi's encoded form, parameters included).
    password_hash: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Optional WeChat openid that receives "needs you" messages.
    notify_openid: Mapped[str | None] = mapped_column(String(128))
    # What the operator asked to be told about (each off until they opt in on 我的通知).
    notify_pushes: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_inbox: Mapped[bool] = mapped_column(Boolean, default=False)
    # The scene of the temporary QR code the operator was shown to bind their WeChat, and
    # until when scanning it binds (unique: a scan finds exactly one operator).
    bind_scene: Mapped[str | None] = mapped_column(String(64), unique=True)
    bind_scene_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]


class OperatorSession(Base):
    """A logged-in browser: the hash of its cookie token, its CSRF token and its times."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(BigId, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


def token_hash(token: str) -> str:
    """What is stored of a session token (a leaked table row cannot be replayed as a cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def get_operator(session: AsyncSession, name: str) -> Operator | None:
    """The operator called ``name``, if any."""
    found: Operator | None = await session.scalar(select(Operator).where(Operator.name == name))
    return found


async def operator_by_id(session: AsyncSession, operator_id: int) -> Operator | None:
    """The operator with ``operator_id``, if any."""
    return await session.get(Operator, operator_id)


async def list_operators(session: AsyncSession) -> list[Operator]:
    """Every operator, by name."""
    return list(await session.scalars(select(Operator).order_by(Operator.name)))


async def count_admins(session: AsyncSession) -> int:
    """Enabled administrators (the last one may not be disabled or demoted)."""
    n = await session.scalar(
        select(func.count())
        .select_from(Operator)
        .where(Operator.role == "admin", Operator.enabled.is_(True))
    )
    return int(n or 0)


async def add_operator(
    session: AsyncSession, name: str, role: str, password_hash: str, now: datetime
) -> Operator:
    """Insert an operator; the caller checks the name is free (UNIQUE enforces it anyway)."""
    return await added(
        session,
        Operator(
            name=name,
            role=role,
            password_hash=password_hash,
            enabled=True,
            created_at=now,
            password_changed_at=now,
        ),
    )


async def end_sessions(session: AsyncSession, operator_id: int) -> int:
    """Delete every session of an operator; returns how many there were."""
    result = await session.execute(
        delete(OperatorSession).where(OperatorSession.operator_id == operator_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def start_session(
    session: AsyncSession, token: str, csrf: str, operator_id: int, now: datetime
) -> None:
    """Record a new logged-in browser."""
    session.add(
        OperatorSession(
            token_hash=token_hash(token),
            operator_id=operator_id,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
        )
    )


async def find_session(
    session: AsyncSession, token: str
) -> tuple[OperatorSession, Operator] | None:
    """The session of ``token`` and its operator, if both exist."""
    row = (
        await session.execute(
            select(OperatorSession, Operator)
            .join(Operator, Operator.id == OperatorSession.operator_id)
            .where(OperatorSession.token_hash == token_hash(token))
        )
    ).first()
    return (row[0], row[1]) if row else None


async def touch_session(session: AsyncSession, token: str, now: datetime) -> None:
    """Move the idle expiry of a session forward."""
    await session.execute(
        update(OperatorSession)
        .where(OperatorSession.token_hash == token_hash(token))
        .values(last_seen_at=now)
    )


async def drop_session(session: AsyncSession, token: str) -> None:
    """Log one browser out."""
    await session.execute(
        delete(OperatorSession).where(OperatorSession.token_hash == token_hash(token))
    )


async def purge_sessions(
    session: AsyncSession, idle_before: datetime, created_before: datetime
) -> int:
    """Delete sessions past their idle or absolute limit."""
    result = await session.execute(
        delete(OperatorSession).where(
            (OperatorSession.last_seen_at < idle_before)
            | (OperatorSession.created_at < created_before)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def clear_failures(session: AsyncSession, scope: str, key: str) -> None:
    """Forget the failed logins of ``key`` in ``scope`` (account | ip): after a successful
    login, or an admin's reset (the console's LoginThrottle counts them)."""
    await clear_window(session, f"login-{scope}", key)


async def audit(session: AsyncSession, at: datetime, actor: str, action: str, detail: str) -> None:
    """One audit row."""
    add_row(session, at, actor, action, detail)


async def set_notify_openid(session: AsyncSession, operator_id: int, openid: str | None) -> None:
    """Bind (or with None unbind) the WeChat openid an operator is told things at."""
    await session.execute(
        update(Operator).where(Operator.id == operator_id).values(notify_openid=openid)
    )


async def to_notify(session: AsyncSession, topic: str, roles: tuple[str, ...]) -> list[Operator]:
    """Enabled operators of ``roles`` who bound a WeChat openid and opted in to ``topic``
    (``pushes`` or ``inbox``)."""
    wants = Operator.notify_pushes if topic == "pushes" else Operator.notify_inbox
    rows = await session.scalars(
        select(Operator).where(
            Operator.role.in_(roles),
            Operator.enabled.is_(True),
            Operator.notify_openid.is_not(None),
            wants.is_(True),
        )
    )
    return list(rows)


async def set_notify_topics(
    session: AsyncSession, operator_id: int, *, pushes: bool, inbox: bool
) -> None:
    """Which messages the operator receives."""
    await session.execute(
        update(Operator)
        .where(Operator.id == operator_id)
        .values(notify_pushes=pushes, notify_inbox=inbox)
    )


async def offer_scene(session: AsyncSession, operator_id: int, scene: str, until: datetime) -> None:
    """Remember the QR scene shown to the operator (replacing an earlier one)."""
    await session.execute(
        update(Operator)
        .where(Operator.id == operator_id)
        .values(bind_scene=scene, bind_scene_until=until)
    )


async def bind_scene(session: AsyncSession, scene: str, openid: str, now: datetime) -> str | None:
    """Bind ``openid`` to the enabled operator shown ``scene`` while it is valid, using the
    scene up (one statement: of two scans racing, one binds); the operator's name, or None
    when no operator waits for it."""
    result = await session.execute(
        update(Operator)
        .where(
            Operator.bind_scene == scene,
            Operator.enabled.is_(True),
            Operator.bind_scene_until >= now,
        )
        .values(notify_openid=openid, bind_scene=None, bind_scene_until=None)
        .returning(Operator.name)
    )
    name: str | None = result.scalar_one_or_none()
    return name
