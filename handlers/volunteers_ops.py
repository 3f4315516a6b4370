"""Operator operations on volunteers: hours adjustments and the exports of personal data.

Each validates, writes, records one audit row; the CLI (``bot/cli/volunteers.py``) and the
console call these and only present the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Unpack

from bot.kernel.context import BotContext
from handlers.operations import Actor, Counter, OperationError, audit
from handlers.volunteers import configured_cities
from storage import volunteers as store
from storage.activities import LedgerRow, LedgerSelection, ledger
from storage.db import transaction
from storage.volunteers import Volunteer

MAX_REASON = 200
MAX_ADJUST = Decimal(1000)
# The ledger names where hours came from, not who (the audit log does): 操作员 for all of these.
LEDGER_ACTOR = "operator"


def known_city(bot: BotContext, city: str | None) -> str | None:
    """``city`` if the campaign has it (None: every city); refused otherwise."""
    if city and city not in configured_cities(bot):
        cities = "、".join(configured_cities(bot))
        raise OperationError(
            "reports.ops.unknown_city",
            f"--city: unknown city {city!r}; one of: {cities}",
            city=city,
            cities=cities,
        )
    return city or None


async def adjust_hours(
    bot: BotContext, actor: Actor, volunteer_id: int, hours: Decimal, reason: str
) -> Decimal:
    """Add (or, negative, remove) hours of one volunteer with a reason; returns the new total."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise OperationError(
            "reports.ops.hours_reason",
            f"--reason must be 1-{MAX_REASON} characters",
            limit=MAX_REASON,
        )
    if hours == 0 or abs(hours) > MAX_ADJUST or hours != hours.quantize(Decimal("0.01")):
        raise OperationError(
            "reports.ops.hours_amount",
            f"hours: a non-zero number between -{MAX_ADJUST} and {MAX_ADJUST}, two decimals",
            high=MAX_ADJUST,
        )
    async with transaction(bot.sessions) as session:
        volunteer = await store.get_volunteer(session, volunteer_id, for_update=True)
        if volunteer is None:
            raise OperationError(
                "reports.ops.volunteer_missing", f"no volunteer {volunteer_id}", number=volunteer_id
            )
        total = await store.total_hours(session, volunteer.id) + hours
        if total < 0:
            raise OperationError(
                "reports.ops.hours_negative",
                f"that would make the total negative ({total})",
                total=total,
            )
        now = bot.clock.now()
        await store.add_hours(session, volunteer.id, hours, reason, LEDGER_ACTOR, now)
        audit(
            bot,
            session,
            actor,
            "volunteers.hours_adjust",
            volunteer=volunteer.id,
            hours=f"{hours:+}",
            reason=reason,
        )
    return total


async def reveal_phone(bot: BotContext, actor: Actor, volunteer_id: int) -> str:
    """One volunteer's whole phone number, for an admin's screen (audited)."""
    async with transaction(bot.sessions) as session:
        volunteer = await store.get_volunteer(session, volunteer_id)
        if volunteer is None or not volunteer.name_enc:
            raise OperationError(
                "reports.ops.volunteer_missing", f"no volunteer {volunteer_id}", number=volunteer_id
            )
        audit(bot, session, actor, "volunteers.reveal_phone", volunteer=volunteer_id)
    return bot.cipher.reveal(volunteer.phone_enc, bot.texts("common.unreadable"))


@dataclass(frozen=True)
class Registered:
    """A registered volunteer with their hours so far."""

    volunteer: Volunteer
    hours: Decimal


async def registered(
    bot: BotContext,
    city: str | None = None,
    progress: Counter | None = None,
    *,
    where: Mapping[str, Any] | None = None,
) -> list[Registered]:
    """Registered volunteers (not erased) with their hours, for a screen (mask them there);
    ``where`` adds the console's filters (district, skill, availability, minor)."""
    found: list[Registered] = []
    async with bot.sessions() as session:
        volunteers = await store.search_volunteers(
            session, **{**(where or {}), "city": city or ""}, limit=None
        )
        if progress is not None:
            progress.total = len(volunteers)
        for v in volunteers:
            found.append(Registered(v, await store.total_hours(session, v.id)))
            if progress is not None:
                progress.advance()
    return found


async def export(
    bot: BotContext,
    actor: Actor,
    *,
    city: str | None = None,
    full_phones: bool = False,
    progress: Counter | None = None,
    where: Mapping[str, Any] | None = None,
) -> list[Registered]:
    """Every registered volunteer of the selection for a file (audited; ``full_phones`` says
    the file holds whole phone numbers)."""
    found = await registered(bot, city, progress, where=where)
    async with transaction(bot.sessions) as session:
        phones = "full" if full_phones else "masked"
        audit(bot, session, actor, "volunteers.export", rows=len(found), city=city, phones=phones)
    return found


async def export_hours(
    bot: BotContext, actor: Actor, **selection: Unpack[LedgerSelection]
) -> list[LedgerRow]:
    """Hours-ledger rows (``since`` <= at < ``until``, aware) for a file (audited)."""
    city = selection["city"] = known_city(bot, selection.get("city"))
    since, until = selection.get("since"), selection.get("until")
    if since is not None and until is not None and until <= since:
        raise OperationError("reports.ops.period", "--to: must not be before --from")
    async with transaction(bot.sessions) as session:
        rows = await ledger(session, **selection)
        audit(bot, session, actor, "volunteers.hours_export", rows=len(rows), city=city)
    return rows
