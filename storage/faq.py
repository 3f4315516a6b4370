"""FAQ topics, their example questions, and one outcome row per question matched.

Example questions live in their own table with a source, so re-seeding the content file
replaces the shipped ones and keeps those operators added (from the inbox, or by hand).
``faq_events`` has one row per message key: a retried message never counts twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.kernel.message import UserKey
from storage.db import added
from storage.models import Base, BigId, PersonRow

OUTCOMES = ("answered", "picked", "clarify", "handoff")


class FaqEntry(Base):
    """One topic: its answer (a Reply as JSON), keywords and on/off switch."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(128))
    campaign: Mapped[str] = mapped_column(String(32), default="all")
    reply: Mapped[str] = mapped_column(Text)
    # JSON list of words
    keywords: Mapped[str] = mapped_column(Text, default="[]")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # seed: from faq.toml (re-seeding updates it); operator: added by hand, never touched
    source: Mapped[str] = mapped_column(String(16), default="operator")
    updated_at: Mapped[datetime]


class FaqQuestion(Base):
    """An example question (相似问法) of a topic."""

    __tablename__ = "faq_questions"
    __table_args__ = (UniqueConstraint("entry_id", "text"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default="operator")
    created_at: Mapped[datetime]


class FaqEvent(Base):
    """What the FAQ did with one message: answered, picked, asked to clarify, handed off."""

    __tablename__ = "faq_events"
    __table_args__ = (
        UniqueConstraint("channel", "account", "msg_key"),
        Index("ix_faq_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    msg_key: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("faq_entries.id"))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    at: Mapped[datetime]


class FaqChoice(PersonRow, Base):
    """A "您是想问" list waiting for the person's number: one per person, replaced by the next."""

    __tablename__ = "faq_choices"
    __table_args__ = (UniqueConstraint("channel", "account", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # JSON list of entry ids, in the order offered
    options: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]


@dataclass(frozen=True)
class EntrySpec:
    slug: str
    title: str
    campaign: str
    reply_json: str
    keywords: tuple[str, ...]
    questions: tuple[str, ...]


@dataclass(frozen=True)
class IndexedEntry(EntrySpec):
    """What the matcher needs of an enabled topic: its spec and its row id."""

    id: int = 0

    @classmethod
    def of(cls, spec: EntrySpec, id: int) -> IndexedEntry:
        """``spec`` as the topic of row ``id``."""
        return cls(**{f.name: getattr(spec, f.name) for f in fields(EntrySpec)}, id=id)


async def seed_entries(
    session: AsyncSession, specs: Iterable[EntrySpec], now: datetime
) -> tuple[int, int, int]:
    """Make the seeded topics match the content file; operator topics and operator-added
    questions are left alone. Returns (added, updated, removed)."""
    specs = list(specs)
    existing = {e.slug: e for e in (await session.execute(select(FaqEntry))).scalars()}
    wanted = {s.slug for s in specs}
    added = updated = removed = 0
    for slug, row in existing.items():
        # Switched off rather than deleted: operator questions and hit counts refer to it.
        if row.source == "seed" and slug not in wanted and row.enabled:
            row.enabled, row.updated_at = False, now
            removed += 1
    for spec in specs:
        found = existing.get(spec.slug)
        keywords = json.dumps(list(spec.keywords), ensure_ascii=False)
        if found is None:
            row = FaqEntry(
                slug=spec.slug,
                title=spec.title,
                campaign=spec.campaign,
                reply=spec.reply_json,
                keywords=keywords,
                enabled=True,
                source="seed",
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            added += 1
        elif found.source != "seed":
            continue
        else:
            row = found
            current = (row.title, row.campaign, row.reply, row.keywords)
            if current != (spec.title, spec.campaign, spec.reply_json, keywords):
                row.title, row.campaign, row.reply, row.keywords = (
                    spec.title,
                    spec.campaign,
                    spec.reply_json,
                    keywords,
                )
                row.updated_at = now
                updated += 1
        if await _sync_seed_questions(session, row, spec.questions, now):
            row.updated_at = now
            if spec.slug in existing:
                updated += 1
    await session.flush()
    return added, updated, removed


async def _sync_seed_questions(
    session: AsyncSession, row: FaqEntry, questions: Sequence[str], now: datetime
) -> bool:
    have = {
        q.text: q
        for q in (
            await session.execute(select(FaqQuestion).where(FaqQuestion.entry_id == row.id))
        ).scalars()
    }
    changed = False
    for text, q in have.items():
        if q.source == "seed" and text not in questions:
            await session.delete(q)
            changed = True
    for text in dict.fromkeys(questions):
        if text not in have:
            session.add(FaqQuestion(entry_id=row.id, text=text, source="seed", created_at=now))
            changed = True
    return changed


async def indexed_entries(session: AsyncSession) -> list[IndexedEntry]:
    """Every enabled topic with its example questions."""
    entries = (
        (
            await session.execute(
                select(FaqEntry).where(FaqEntry.enabled.is_(True)).order_by(FaqEntry.id)
            )
        )
        .scalars()
        .all()
    )
    questions: dict[int, list[str]] = {}
    rows = await session.execute(
        select(FaqQuestion.entry_id, FaqQuestion.text).order_by(FaqQuestion.id)
    )
    for entry_id, text in rows:
        questions.setdefault(entry_id, []).append(text)
    return [
        IndexedEntry(
            id=e.id,
            slug=e.slug,
            title=e.title,
            campaign=e.campaign,
            reply_json=e.reply,
            keywords=tuple(json.loads(e.keywords)),
            questions=tuple(questions.get(e.id, ())),
        )
        for e in entries
    ]


async def fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    """A cheap summary of both tables: it changes whenever an edit needs a new index."""
    entries = (
        await session.execute(select(func.count(FaqEntry.id), func.max(FaqEntry.updated_at)))
    ).one()
    questions = (
        await session.execute(select(func.count(FaqQuestion.id), func.max(FaqQuestion.id)))
    ).one()
    return (*entries, *questions)


async def entry_by_slug(session: AsyncSession, slug: str) -> FaqEntry | None:
    """The topic called ``slug``."""
    return (
        await session.execute(select(FaqEntry).where(FaqEntry.slug == slug))
    ).scalar_one_or_none()


async def list_entries(session: AsyncSession) -> list[tuple[FaqEntry, int]]:
    """Every topic with its number of example questions."""
    counts = (
        select(FaqQuestion.entry_id, func.count(FaqQuestion.id).label("n"))
        .group_by(FaqQuestion.entry_id)
        .subquery()
    )
    rows = await session.execute(
        select(FaqEntry, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.entry_id == FaqEntry.id)
        .order_by(FaqEntry.id)
    )
    return [(e, int(n)) for e, n in rows]


async def questions_of(session: AsyncSession, entry_id: int) -> list[FaqQuestion]:
    """The example questions of a topic, oldest first."""
    rows = await session.execute(
        select(FaqQuestion).where(FaqQuestion.entry_id == entry_id).order_by(FaqQuestion.id)
    )
    return list(rows.scalars())


async def add_operator_entry(
    session: AsyncSession, *, slug: str, title: str, reply_json: str, campaign: str, now: datetime
) -> FaqEntry:
    """A new topic written by an operator (re-seeding never touches it)."""
    return await added(
        session,
        FaqEntry(
            slug=slug,
            title=title[:128],
            campaign=campaign,
            reply=reply_json,
            keywords="[]",
            enabled=True,
            source="operator",
            updated_at=now,
        ),
    )


async def add_question(
    session: AsyncSession, entry: FaqEntry, text: str, now: datetime
) -> FaqQuestion | None:
    """Add an operator example question; None if the topic already has it."""
    exists = await session.scalar(
        select(FaqQuestion.id).where(FaqQuestion.entry_id == entry.id, FaqQuestion.text == text)
    )
    if exists is not None:
        return None
    row = FaqQuestion(entry_id=entry.id, text=text, source="operator", created_at=now)
    session.add(row)
    entry.updated_at = now
    await session.flush()
    return row


async def remove_question(session: AsyncSession, question_id: int, now: datetime) -> bool:
    """Delete an example question; False if there was none."""
    row = await session.get(FaqQuestion, question_id)
    if row is None:
        return False
    entry = await session.get(FaqEntry, row.entry_id)
    await session.delete(row)
    if entry is not None:
        entry.updated_at = now
    await session.flush()
    return True


async def record_event(session: AsyncSession, event: FaqEvent) -> None:
    """One outcome row for a message (a savepoint keeps a duplicate from failing the rest)."""
    try:
        async with session.begin_nested():
            session.add(event)
    except IntegrityError:
        pass  # the same message recorded already (a retry): counted once


async def hit_counts(session: AsyncSession, since: datetime) -> list[tuple[str, str, int, int]]:
    """Per topic since ``since``: (slug, title, answered directly, picked from a list)."""
    answered = func.sum(case((FaqEvent.outcome == "answered", 1), else_=0))
    picked = func.sum(case((FaqEvent.outcome == "picked", 1), else_=0))
    rows = await session.execute(
        select(FaqEntry.slug, FaqEntry.title, answered, picked)
        .join(FaqEvent, FaqEvent.entry_id == FaqEntry.id)
        .where(FaqEvent.at >= since, FaqEvent.outcome.in_(("answered", "picked")))
        .group_by(FaqEntry.id, FaqEntry.slug, FaqEntry.title)
        .order_by((answered + picked).desc(), FaqEntry.slug)
    )
    return [(slug, title, int(a or 0), int(p or 0)) for slug, title, a, p in rows]


async def outcome_counts(session: AsyncSession, since: datetime) -> dict[str, int]:
    """How many questions ended in each outcome since ``since``."""
    rows = await session.execute(
        select(FaqEvent.outcome, func.count(FaqEvent.id))
        .where(FaqEvent.at >= since)
        .group_by(FaqEvent.outcome)
    )
    return {outcome: int(n) for outcome, n in rows}


async def set_enabled(session: AsyncSession, entry: FaqEntry, enabled: bool, now: datetime) -> None:
    """Switch a topic on or off."""
    entry.enabled, entry.updated_at = enabled, now
    await session.flush()


async def delete_operator_entry(session: AsyncSession, entry: FaqEntry) -> None:
    """Delete an operator topic and its questions (seeded ones are switched off instead)."""
    await session.execute(delete(FaqQuestion).where(FaqQuestion.entry_id == entry.id))
    await session.execute(
        update(FaqEvent).where(FaqEvent.entry_id == entry.id).values(entry_id=None)
    )
    await session.delete(entry)
    await session.flush()


async def save_choice(
    session: AsyncSession, key: UserKey, options: Sequence[int], expires_at: datetime
) -> None:
    """Remember the list just offered (replacing an older one)."""
    await clear_choice(session, key)
    session.add(
        FaqChoice(
            **FaqChoice.columns_of(key), options=json.dumps(list(options)), expires_at=expires_at
        )
    )
    await session.flush()


async def pending_choice(session: AsyncSession, key: UserKey, now: datetime) -> list[int] | None:
    """The entry ids of a list still waiting for a number, or None."""
    row = (
        await session.execute(select(FaqChoice).where(FaqChoice.of_user(key)))
    ).scalar_one_or_none()
    if row is None or row.expires_at <= now:
        return None
    options: list[int] = json.loads(row.options)
    return options


async def purge_choices(session: AsyncSession, now: datetime) -> int:
    """Delete the lists nobody picked from before they expired; returns how many."""
    result = await session.execute(delete(FaqChoice).where(FaqChoice.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


async def clear_choice(session: AsyncSession, key: UserKey) -> None:
    """Forget a person's waiting list."""
    await session.execute(delete(FaqChoice).where(FaqChoice.of_user(key)))
