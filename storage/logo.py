"""Logo contest tables (entries, votes, phases, rate counters, burst flags) and the queries
that keep every vote counted once.

Per-day limits live in unique keys, not in memory: a vote takes a free ``slot`` 1..N for
(channel, user, day) and a free ``entry_slot`` 1..M for (entry, channel, user, day). Two
concurrent votes that pick the same slot collide on the constraint; the loser tries the next
slot inside a SAVEPOINT, so no read-modify-write race can exceed a limit in any process.
The per-minute rate counter is one row per (channel, user, minute) incremented in SQL by an
upsert, which serialises concurrent attempts of one user on the row, in any process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple, TypedDict, Unpack

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from bot.kernel.message import UserKey
from storage.db import Prebuilt, added, upsert_insert
from storage.followers import FollowerState, follower_state
from storage.models import Base, BigId, Follower, PersonRow


# withdrawn: the author took the entry back (撤回投稿); final, and its personal data are gone.
class EntryStatus(StrEnum):
    """Where a logo entry stands: sent, then reviewed, or taken back by its author."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


STATUSES = tuple(status.value for status in EntryStatus)
# Entries that count towards ``submissions_per_person``.
COUNTED = (EntryStatus.PENDING, EntryStatus.APPROVED)


class LogoEntry(PersonRow, Base):
    """One submitted design; its ``id`` is the public entry number."""

    __tablename__ = "logo_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The person's columns, as PersonRow's but for these (older) defaults and index.
    account: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(64))
    statement: Mapped[str] = mapped_column(Text, default="")
    # SHA-256 of the design's bytes: the same design cannot be entered twice.
    image_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # File name under the media directory: "<image_hash>.png" or ".jpg".
    image_path: Mapped[str | None] = mapped_column(String(255))
    # The author's name and phone, encrypted (bot.cipher); phone_index finds an author's
    # entries across accounts without decrypting.
    author_name_enc: Mapped[str | None] = mapped_column(Text)
    author_phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=EntryStatus.PENDING.value, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]


class LogoVote(Base):
    """One counted vote; ``voided`` votes stay for the record but no longer count."""

    __tablename__ = "logo_votes"
    __table_args__ = (
        UniqueConstraint("channel", "user_id", "vote_date", "slot"),
        UniqueConstraint("entry_id", "channel", "user_id", "vote_date", "entry_slot"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("logo_entries.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    vote_date: Mapped[date] = mapped_column(Date)
    slot: Mapped[int] = mapped_column(Integer)
    entry_slot: Mapped[int] = mapped_column(Integer)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    void_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class LogoPhase(Base):
    """An operator's setting of one contest phase; it wins over the config's."""

    __tablename__ = "logo_phases"

    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64), default="cli")


class LogoVoteRate(Base):
    """Vote attempts of one user in one clock minute (the per-minute rate limit)."""

    __tablename__ = "logo_vote_rates"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class LogoVoteFlag(Base):
    """A burst of votes from new followers of one QR scene, for operators to look at."""

    __tablename__ = "logo_vote_flags"
    __table_args__ = (UniqueConstraint("scene", "window_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scene: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime]
    # Votes seen in the window when last updated (grows while the burst goes on).
    vote_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


@dataclass(frozen=True)
class VoteOutcome:
    """What happened to a vote: ``ok``, ``day_limit`` or ``entry_limit``."""

    status: str
    slot: int = 0
    # The user's votes that day with this one (as read before it: no second query).
    votes_today: int = 0


# The vote's statements, built once (see storage.db.Prebuilt): per call, building, coercing
# and keying them for the compiled cache cost more CPU than the SQL.
_VOTES: Table = LogoVote.__table__  # type: ignore[assignment]
_RATES: Table = LogoVoteRate.__table__  # type: ignore[assignment]
_ENTRIES: Table = LogoEntry.__table__  # type: ignore[assignment]
# The user's votes on a day, the person and the day as parameters.
_VOTES_OF_DAY = and_(
    _VOTES.c.channel == bindparam("channel"),
    _VOTES.c.user_id == bindparam("user_id"),
    _VOTES.c.vote_date == bindparam("day"),
)
_USED_SLOTS = Prebuilt(
    select(_VOTES.c.slot, _VOTES.c.entry_id, _VOTES.c.entry_slot).where(_VOTES_OF_DAY)
)
_VOTE_INSERT = Prebuilt(
    lambda insert: insert(_VOTES).on_conflict_do_nothing().returning(_VOTES.c.id)
)
_RATE_UPSERT = Prebuilt(
    lambda insert: (
        insert(_RATES)
        .on_conflict_do_update(
            index_elements=["channel", "user_id", "minute"],
            set_={"attempts": _RATES.c.attempts + 1},
        )
        .returning(_RATES.c.attempts)
    )
)
_VOTE_ENTRY = Prebuilt(
    select(_ENTRIES.c.status, _ENTRIES.c.title).where(_ENTRIES.c.id == bindparam("entry_id"))
)
_PHASES = Prebuilt(select(LogoPhase.phase, LogoPhase.starts_at, LogoPhase.ends_at))


@dataclass(frozen=True)
class VoteEntry:
    """What a vote needs of its entry."""

    status: str
    title: str


class UsedSlot(NamedTuple):
    """One of the user's votes that day: its day slot and its entry's slot."""

    slot: int
    entry_id: int
    entry_slot: int


@dataclass(frozen=True)
class VoteContext:
    """What a vote reads before it writes (``vote_context``)."""

    attempts: int  # this minute's vote attempts, this one counted
    entry: VoteEntry | None
    follower: FollowerState | None
    used: list[UsedSlot]  # the user's votes that day


def _array_of(column: Any) -> Any:
    return (
        select(func.array_agg(aggregate_order_by(column, _VOTES.c.id)))
        .where(_VOTES_OF_DAY)
        .scalar_subquery()
    )


def _vote_context_pg(insert: Any) -> Any:
    """PostgreSQL: the rate count, the entry, the follower row and the day's votes in one
    statement (a data-modifying CTE counts the attempt); one round trip instead of four."""
    rate = (
        insert(_RATES)
        .values(
            channel=bindparam("channel"),
            user_id=bindparam("user_id"),
            minute=bindparam("minute"),
            attempts=1,
        )
        .on_conflict_do_update(
            index_elements=["channel", "user_id", "minute"],
            set_={"attempts": _RATES.c.attempts + 1},
        )
        .returning(_RATES.c.attempts)
        .cte("rate")
    )
    one = select(literal(1).label("one")).subquery("one")
    followers: Table = Follower.__table__  # type: ignore[assignment]
    joined = one.outerjoin(_ENTRIES, _ENTRIES.c.id == bindparam("entry_id")).outerjoin(
        followers, Follower.of_bound_user()
    )
    return select(
        select(rate.c.attempts).scalar_subquery().label("attempts"),
        _ENTRIES.c.status,
        _ENTRIES.c.title,
        followers.c.subscribed,
        followers.c.scene,
        followers.c.subscribed_at,
        _array_of(_VOTES.c.slot).label("slots"),
        _array_of(_VOTES.c.entry_id).label("entry_ids"),
        _array_of(_VOTES.c.entry_slot).label("entry_slots"),
    ).select_from(joined)


_VOTE_CONTEXT = Prebuilt(_vote_context_pg)


async def vote_context(
    session: AsyncSession,
    *,
    entry_id: int,
    channel: str,
    account: str,
    user_id: str,
    day: date,
    now: datetime,
) -> VoteContext:
    """Count the vote attempt (``count_vote_attempt``) and read the entry (``vote_entry``),
    the follower row (``follower_state``) and the user's votes that day: on PostgreSQL one
    round trip, on SQLite (statements on the event loop's thread, microseconds each) four."""
    if session.get_bind().dialect.name != "postgresql":
        attempts = await count_vote_attempt(session, channel=channel, user_id=user_id, now=now)
        entry = await vote_entry(session, entry_id)
        follower = await follower_state(session, channel, account, user_id)
        return VoteContext(
            attempts, entry, follower, await used_slots(session, channel, user_id, day)
        )
    params = {
        "channel": channel,
        "account": account,
        "user_id": user_id,
        "minute": now.replace(second=0, microsecond=0),
        "entry_id": entry_id,
        "day": day,
    }
    row = await _VOTE_CONTEXT.first(session, params)
    entry = None if row.status is None else VoteEntry(row.status, row.title)
    follower = (
        None
        if row.subscribed is None
        else FollowerState(row.subscribed, row.scene, row.subscribed_at)
    )
    used = [
        UsedSlot(*slot)
        for slot in zip(row.slots or (), row.entry_ids or (), row.entry_slots or (), strict=True)
    ]
    return VoteContext(int(row.attempts), entry, follower, used)


async def used_slots(
    session: AsyncSession, channel: str, user_id: str, day: date
) -> list[UsedSlot]:
    """The user's votes that day (their day and entry slots)."""
    rows = await _USED_SLOTS.rows(session, {"channel": channel, "user_id": user_id, "day": day})
    return [UsedSlot(*row) for row in rows]


async def add_entry(
    session: AsyncSession,
    *,
    channel: str,
    user_id: str,
    title: str,
    account: str = "",
    now: datetime,
    statement: str = "",
    image_hash: str | None = None,
    image_path: str | None = None,
    author_name_enc: str | None = None,
    author_phone_enc: str | None = None,
    phone_index: str | None = None,
    status: str = EntryStatus.PENDING,
) -> LogoEntry:
    """Insert an entry and return it with its number (IntegrityError: design entered before)."""
    return await added(
        session,
        LogoEntry(
            channel=channel,
            account=account,
            user_id=user_id,
            title=title,
            statement=statement,
            image_hash=image_hash,
            image_path=image_path,
            author_name_enc=author_name_enc,
            author_phone_enc=author_phone_enc,
            phone_index=phone_index,
            status=status,
            created_at=now,
        ),
    )


async def entry_with_image(session: AsyncSession, image_hash: str) -> LogoEntry | None:
    """The entry whose design has this SHA-256, if any."""
    return (
        await session.execute(select(LogoEntry).where(LogoEntry.image_hash == image_hash))
    ).scalar_one_or_none()


async def entries_of_author(
    session: AsyncSession, author: UserKey, *, phone_index: str = ""
) -> int:
    """Entries (pending or approved) of one user, or of anyone with the same phone."""
    same_author = _sender(author)
    if phone_index:
        same_author = same_author | (LogoEntry.phone_index == phone_index)
    count = await session.scalar(
        select(func.count(LogoEntry.id)).where(same_author, LogoEntry.status.in_(COUNTED))
    )
    return int(count or 0)


def _sender(author: UserKey) -> ColumnElement[bool]:
    """Entries sent by this user of this account on this channel."""
    return (
        (LogoEntry.channel == author.channel.value)
        & (LogoEntry.account == author.account)
        & (LogoEntry.user_id == author.user)
    )


async def entries_of_user(session: AsyncSession, author: UserKey) -> list[LogoEntry]:
    """Every entry the user sent (whatever its status), by number."""
    rows = await session.scalars(select(LogoEntry).where(_sender(author)).order_by(LogoEntry.id))
    return list(rows.all())


async def own_entry(session: AsyncSession, entry_id: int, author: UserKey) -> LogoEntry | None:
    """Entry ``entry_id`` if this user sent it, locked for the rest of the transaction (an
    operator's review of the same row waits; SQLite's write lock already serialises)."""
    return (
        await session.execute(
            select(LogoEntry)
            .where(LogoEntry.id == entry_id, _sender(author))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def withdraw_entry(session: AsyncSession, entry: LogoEntry, now: datetime) -> str | None:
    """撤回投稿: the author takes the entry back; returns the design's file name (the caller
    removes the file once the transaction commits), None when it had none.

    The row stays, so votes cast for it keep their entry (they no longer count: results count
    approved entries only). The author's name, phone and phone index go, and so do the design's
    hash and file name: the gallery serves nothing for it and the same design may be entered
    again. The caller records the withdrawal in the audit log.
    """
    file_name = entry.image_path
    entry.status = EntryStatus.WITHDRAWN
    entry.withdrawn_at = now
    entry.author_name_enc = None
    entry.author_phone_enc = None
    entry.phone_index = None
    entry.image_hash = None
    entry.image_path = None
    await session.flush()
    return file_name


async def approved_image(session: AsyncSession, image_hash: str, file_name: str) -> bool:
    """Whether ``file_name`` is the design of an approved entry (the gallery serves only those)."""
    found = await session.scalar(
        select(LogoEntry.id).where(
            LogoEntry.image_hash == image_hash,
            LogoEntry.image_path == file_name,
            LogoEntry.status == "approved",
        )
    )
    return found is not None


async def get_entry(session: AsyncSession, entry_id: int) -> LogoEntry | None:
    """One entry by number."""
    return await session.get(LogoEntry, entry_id)


async def vote_entry(session: AsyncSession, entry_id: int) -> VoteEntry | None:
    """The status and title of entry ``entry_id`` (one prebuilt read, no ORM object)."""
    row = await _VOTE_ENTRY.first(session, {"entry_id": entry_id})
    return None if row is None else VoteEntry(row.status, row.title)


async def list_entries(session: AsyncSession, status: str | None = None) -> list[LogoEntry]:
    """Entries by number, optionally only one status."""
    q = select(LogoEntry).order_by(LogoEntry.id)
    if status:
        q = q.where(LogoEntry.status == status)
    return list((await session.scalars(q)).all())


async def review_entry(
    session: AsyncSession, entry_id: int, status: str, now: datetime, reason: str | None = None
) -> LogoEntry | None:
    """Approve or reject an entry; None when there is no such entry. A withdrawn entry is
    returned unchanged: the author's withdrawal is final (the caller refuses)."""
    entry = (
        await session.execute(
            select(LogoEntry)
            .where(LogoEntry.id == entry_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if entry is None or entry.status == EntryStatus.WITHDRAWN:
        return entry
    entry.status, entry.reason, entry.reviewed_at = status, reason, now
    await session.flush()
    return entry


async def cast_vote(
    session: AsyncSession,
    *,
    entry_id: int,
    channel: str,
    user_id: str,
    day: date,
    now: datetime,
    per_day: int,
    per_entry: int,
    used: list[UsedSlot] | None = None,
) -> VoteOutcome:
    """Record one vote if a day slot and an entry slot are free (constraints decide races);
    ``used``: the user's votes that day if already read (``vote_context``)."""
    # A second pass re-reads after losing every race, so the answer names the right limit.
    for _attempt in range(2):
        if used is None:
            used = await used_slots(session, channel, user_id, day)
        free_slots = [s for s in range(1, per_day + 1) if s not in {r.slot for r in used}]
        taken_entry = {r.entry_slot for r in used if r.entry_id == entry_id}
        free_entry = [s for s in range(1, per_entry + 1) if s not in taken_entry]
        if not free_slots:
            return VoteOutcome("day_limit")
        if not free_entry:
            return VoteOutcome("entry_limit")
        for slot in free_slots:
            for entry_slot in free_entry:
                row = {
                    "entry_id": entry_id,
                    "channel": channel,
                    "user_id": user_id,
                    "vote_date": day,
                    "slot": slot,
                    "entry_slot": entry_slot,
                    "created_at": now,
                    "voided": False,
                }
                if await _try_insert(session, row):
                    return VoteOutcome("ok", slot, len(used) + 1)
        used = None
    return VoteOutcome("day_limit")


async def _try_insert(session: AsyncSession, row: dict[str, object]) -> bool:
    """Insert unless a unique key says the slot is taken (ON CONFLICT DO NOTHING: no
    SAVEPOINT and no exception, one statement); whether it was inserted."""
    return await _VOTE_INSERT.first(session, row) is not None


async def votes_of(
    session: AsyncSession, channel: str, user_id: str, day: date
) -> list[tuple[int, str]]:
    """(entry number, title) of the user's votes that day, in order."""
    rows = await session.execute(
        select(LogoEntry.id, LogoEntry.title)
        .join(LogoVote, LogoVote.entry_id == LogoEntry.id)
        .where(LogoVote.channel == channel, LogoVote.user_id == user_id, LogoVote.vote_date == day)
        .order_by(LogoVote.slot)
    )
    return [(r[0], r[1]) for r in rows]


async def ranking(session: AsyncSession) -> list[tuple[int, str, int]]:
    """(entry number, title, counted votes) of approved entries, most votes first."""
    counted = func.count(LogoVote.id).filter(LogoVote.voided.is_(False))
    rows = await session.execute(
        select(LogoEntry.id, LogoEntry.title, counted)
        .outerjoin(LogoVote, LogoVote.entry_id == LogoEntry.id)
        .where(LogoEntry.status == EntryStatus.APPROVED)
        .group_by(LogoEntry.id, LogoEntry.title)
        .order_by(counted.desc(), LogoEntry.id)
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


async def votes_by_channel(session: AsyncSession) -> dict[int, dict[str, int]]:
    """Counted votes of each approved entry split by the voters' channel."""
    rows = await session.execute(
        select(LogoVote.entry_id, LogoVote.channel, func.count(LogoVote.id))
        .join(LogoEntry, LogoEntry.id == LogoVote.entry_id)
        .where(LogoVote.voided.is_(False), LogoEntry.status == EntryStatus.APPROVED)
        .group_by(LogoVote.entry_id, LogoVote.channel)
    )
    split: dict[int, dict[str, int]] = {}
    for entry_id, channel, count in rows:
        split.setdefault(int(entry_id), {})[channel] = int(count)
    return split


async def votes_per_day(session: AsyncSession) -> list[tuple[date, int]]:
    """(day, counted votes) for every day with votes (votes for withdrawn entries no longer
    count)."""
    rows = await session.execute(
        select(LogoVote.vote_date, func.count(LogoVote.id))
        .join(LogoEntry, LogoEntry.id == LogoVote.entry_id)
        .where(LogoVote.voided.is_(False), LogoEntry.status != EntryStatus.WITHDRAWN)
        .group_by(LogoVote.vote_date)
        .order_by(LogoVote.vote_date)
    )
    return [(r[0], int(r[1])) for r in rows]


def _from_scene(scene: str, followed_since: datetime | None = None) -> ColumnElement[bool]:
    """Votes cast by someone who followed through QR scene ``scene`` (since then, if given)."""
    voter = exists().where(
        Follower.channel == LogoVote.channel,
        Follower.user_id == LogoVote.user_id,
        Follower.scene == scene,
    )
    if followed_since is not None:
        voter = voter.where(Follower.subscribed_at >= followed_since)
    return voter


class VoteTarget(TypedDict, total=False):
    """Whose counted votes a voiding takes (the operation passes its keywords through): an
    entry's, a user's, those of a QR scene's followers, any combination, optionally only those
    cast since ``since``."""

    entry: int | None
    user: str | None
    scene: str | None
    since: datetime | None


def names_voters(target: VoteTarget) -> bool:
    """Whether ``target`` names an entry, a user or a scene (``since`` alone names nobody)."""
    return target.get("entry") is not None or bool(target.get("user") or target.get("scene"))


async def void_votes(session: AsyncSession, *, reason: str, **target: Unpack[VoteTarget]) -> int:
    """Void the counted votes of ``target``; returns how many."""
    if not names_voters(target):
        raise ValueError("void_votes needs an entry, a user or a scene")
    q = update(LogoVote).where(LogoVote.voided.is_(False))
    if (entry := target.get("entry")) is not None:
        q = q.where(LogoVote.entry_id == entry)
    if user := target.get("user"):
        q = q.where(LogoVote.user_id == user)
    if scene := target.get("scene"):
        q = q.where(_from_scene(scene))
    if (since := target.get("since")) is not None:
        q = q.where(LogoVote.created_at >= since)
    result = await session.execute(
        q.values(voided=True, void_reason=reason).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)  # CursorResult of an UPDATE


# -- rate limit and burst flags ------------------------------------------------------------------


async def count_vote_attempt(
    session: AsyncSession, *, channel: str, user_id: str, now: datetime
) -> int:
    """Count one vote attempt in the user's current minute; returns the minute's attempts."""
    minute = now.replace(second=0, microsecond=0)
    values = {"channel": channel, "user_id": user_id, "minute": minute, "attempts": 1}
    return int(await _RATE_UPSERT.scalar(session, values))


async def purge_vote_rates(session: AsyncSession, before: datetime) -> int:
    """Forget rate counters of minutes before ``before``; returns how many rows went."""
    result = await session.execute(delete(LogoVoteRate).where(LogoVoteRate.minute < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def scene_votes(
    session: AsyncSession, *, scene: str, since: datetime, followed_since: datetime
) -> int:
    """Counted votes since ``since`` by followers who came through ``scene`` after
    ``followed_since``."""
    count = await session.scalar(
        select(func.count(LogoVote.id)).where(
            LogoVote.created_at >= since,
            LogoVote.voided.is_(False),
            _from_scene(scene, followed_since),
        )
    )
    return int(count or 0)


async def flag_burst(
    session: AsyncSession, *, scene: str, window_start: datetime, votes: int, now: datetime
) -> None:
    """Record (or bring up to date) the flag of ``scene`` for the window starting then."""
    stmt = upsert_insert(session)(LogoVoteFlag).values(
        scene=scene, window_start=window_start, vote_count=votes, created_at=now, updated_at=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["scene", "window_start"],
            set_={"vote_count": votes, "updated_at": now},
            where=LogoVoteFlag.vote_count < votes,
        )
    )


async def list_flags(session: AsyncSession) -> list[LogoVoteFlag]:
    """Burst flags, newest window first."""
    rows = await session.scalars(
        select(LogoVoteFlag).order_by(LogoVoteFlag.window_start.desc(), LogoVoteFlag.scene)
    )
    return list(rows.all())


# -- phases --------------------------------------------------------------------------------------


class PhaseSetting(NamedTuple):
    """One phase an operator set (``set_phase``)."""

    phase: str
    starts_at: datetime
    ends_at: datetime | None


async def phase_settings(session: AsyncSession) -> list[PhaseSetting]:
    """Operators' phase settings (read on every vote: one prebuilt statement, plain rows)."""
    rows = await _PHASES.rows(session, {})
    return [PhaseSetting(r.phase, r.starts_at, r.ends_at) for r in rows]


async def set_phase(
    session: AsyncSession,
    phase: str,
    *,
    starts: datetime,
    ends: datetime | None,
    now: datetime,
    actor: str = "cli",
) -> None:
    """Set (or replace) one phase's window."""
    row = await session.get(LogoPhase, phase)
    if row is None:
        row = LogoPhase(phase=phase)
        session.add(row)
    row.starts_at, row.ends_at, row.updated_at, row.actor = starts, ends, now, actor
    await session.flush()


async def clear_phase(session: AsyncSession, phase: str) -> bool:
    """Remove an operator's setting (the config's, if any, applies again); False if none."""
    result = await session.execute(delete(LogoPhase).where(LogoPhase.phase == phase))
    return bool(getattr(result, "rowcount", 0))


async def image_paths(session: AsyncSession) -> list[str]:
    """File names of every stored design (what the orphan purge must keep)."""
    found = await session.scalars(
        select(LogoEntry.image_path).where(LogoEntry.image_path.is_not(None))
    )
    return [name for name in found if name]
