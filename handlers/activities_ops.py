"""Operator operations on volunteer activities: add, cancel (telling the enrolled), roster export.

Each validates, writes, records one audit row and queues its notifications; the CLI
(``bot/cli/activities.py``) and the console call these and only present the result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from bot.kernel.clock import as_utc
from bot.kernel.context import BotContext
from handlers.activities import tell_enrolled
from handlers.operations import Actor, Counter, OperationError, audit
from handlers.volunteers import configured_cities
from storage import activities as store
from storage.activities import Activity, Enrolment
from storage.db import transaction
from storage.volunteers import Volunteer

MAX_TITLE, MAX_PLACE, MAX_REASON = 64, 100, 200
MAX_CAPACITY = 100_000
MIN_HOURS, MAX_HOURS = Decimal("0.01"), Decimal(100)


def clean_text(value: str, option: str, limit: int) -> str:
    """``value`` with its white space folded, 1 to ``limit`` characters."""
    value = " ".join(value.split())
    if not 1 <= len(value) <= limit:
        raise OperationError(
            "reports.ops.text_length",
            f"{option}: must be 1-{limit} characters",
            field=option.lstrip("-"),
            limit=limit,
        )
    return value


@dataclass(frozen=True)
class NewActivity:
    """What an operator fills in for a new activity (times aware; code None: a new one)."""

    title: str
    place: str
    starts_at: datetime
    ends_at: datetime
    hours: Decimal
    capacity: int
    city: str = ""
    code: str | None = None


def _details(new: NewActivity, now: datetime) -> tuple[str, str]:
    """The title and place cleaned; the times and capacity checked (what add and edit share)."""
    title = clean_text(new.title, "--title", MAX_TITLE)
    place = clean_text(new.place, "--place", MAX_PLACE)
    if new.ends_at <= new.starts_at:
        raise OperationError("reports.ops.activity_end", "--end: must be after --start")
    if new.ends_at <= now:
        raise OperationError("reports.ops.activity_past", "--end: that time has already passed")
    if not 1 <= new.capacity <= MAX_CAPACITY:
        raise OperationError(
            "reports.ops.activity_capacity",
            f"--capacity: must be a whole number from 1 to {MAX_CAPACITY}",
            high=MAX_CAPACITY,
        )
    return title, place


def _checked(bot: BotContext, new: NewActivity, now: datetime) -> NewActivity:
    title, place = _details(new, now)
    if not MIN_HOURS <= new.hours <= MAX_HOURS or new.hours != new.hours.quantize(MIN_HOURS):
        raise OperationError(
            "reports.ops.activity_hours",
            f"--hours: between {MIN_HOURS} and {MAX_HOURS}, at most two decimals",
            low=MIN_HOURS,
            high=MAX_HOURS,
        )
    code = store.fold_code(new.code) if new.code is not None else store.new_code()
    if not store.valid_code(code):
        raise OperationError("reports.ops.activity_code", "--code: must be 4-8 letters or digits")
    city = new.city.strip()
    known = configured_cities(bot)
    if city and city not in known:
        raise OperationError(
            "reports.ops.unknown_city",
            f"--city: unknown city {city!r}; one of: {'、'.join(known)}",
            city=city,
            cities="、".join(known),
        )
    return NewActivity(
        title, place, new.starts_at, new.ends_at, new.hours, new.capacity, city, code
    )


async def add(bot: BotContext, actor: Actor, new: NewActivity) -> Activity:
    """Check and store a new activity; its check-in code must not clash with a running one."""
    now = bot.clock.now()
    new = _checked(bot, new, now)
    code = new.code or ""
    async with transaction(bot.sessions) as session:
        clash = await store.code_in_use(session, code, now)
        if clash is not None:
            raise OperationError(
                "reports.ops.activity_code_taken",
                f"--code: {code} is already the code of activity {clash.id} "
                f"({clash.title}); choose another or leave it out",
                code=code,
                number=clash.id,
            )
        # The row is the checked form (its fields are the row's columns), with its code.
        row = Activity(**{**asdict(new), "code": code}, created_at=now)
        activity = await store.add_activity(session, row)
        audit(bot, session, actor, "activities.add", activity=activity.id, code=code)
    return activity


async def edit(bot: BotContext, actor: Actor, number: int, new: NewActivity) -> Activity:
    """Change an active activity's title, place, times and capacity (not below the places
    taken; its hours, city and code stay)."""
    title, place = _details(new, bot.clock.now())
    async with transaction(bot.sessions) as session:
        changed = await store.update_activity(
            session,
            number,
            title=title,
            place=place,
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            capacity=new.capacity,
        )
        if changed is None:
            raise OperationError(
                "reports.ops.activity_unchangeable",
                f"activity {number} is not active, or has more volunteers than that capacity",
                number=number,
            )
        audit(bot, session, actor, "activities.edit", activity=number, capacity=new.capacity)
    return changed


@dataclass(frozen=True)
class Cancelled:
    """A cancellation: the activity, whether it was cancelled before, how volunteers heard
    (``sent`` by message, ``notice`` at their next message, ``erased``: nobody left to tell)."""

    activity: Activity
    again: bool
    told: dict[str, int]


async def cancel(
    bot: BotContext,
    actor: Actor,
    number: int,
    reason: str,
    progress: Counter | None = None,
) -> Cancelled:
    """Cancel activity ``number`` (audited) and tell its volunteers; run again after an
    interruption, it only tells those not told yet."""
    reason = clean_text(reason, "--reason", MAX_REASON)
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        activity = await store.get_activity(session, number)
        if activity is None:
            raise OperationError(
                "reports.ops.activity_missing", f"no activity {number}", number=number
            )
        again = activity.status == store.CANCELLED
        if not again:
            if as_utc(activity.ends_at) <= now:
                raise OperationError(
                    "reports.ops.activity_ended",
                    f"activity {number} has already ended",
                    number=number,
                )
            cancelled = await store.cancel(session, activity.id, reason, now)
            if cancelled is None:  # cancelled by another operator meanwhile
                raise OperationError(
                    "reports.ops.activity_raced",
                    f"activity {number} was just cancelled; run again",
                    number=number,
                )
            activity = cancelled
            audit(bot, session, actor, "activities.cancel", activity=activity.id, reason=reason)
    told = await tell_enrolled(bot, activity, progress)
    return Cancelled(activity, again, told)


@dataclass(frozen=True)
class Roster:
    """An activity and who enrolled in it (with their volunteer rows), in enrolment order."""

    activity: Activity
    entries: list[tuple[Enrolment, Volunteer]]


async def roster(bot: BotContext, number: int) -> Roster:
    """Who enrolled in activity ``number``, for a screen (names and phones are masked there)."""
    async with bot.sessions() as session:
        activity = await store.get_activity(session, number)
        if activity is None:
            raise OperationError(
                "reports.ops.activity_missing", f"no activity {number}", number=number
            )
        return Roster(activity, await store.roster(session, activity.id))


async def export_roster(bot: BotContext, actor: Actor, number: int) -> Roster:
    """The roster of activity ``number`` for a file (the export is audited)."""
    found = await roster(bot, number)
    async with transaction(bot.sessions) as session:
        rows = len(found.entries)
        audit(bot, session, actor, "activities.roster_export", activity=number, rows=rows)
    return found
