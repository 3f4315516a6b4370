"""Volunteers: search and filter, phones masked unless an admin reveals one (audited), CSV/XLSX
export with progress, the hours ledger with adjustments, and 志愿之星 per month."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.charts import chart
from bot.console.exports import ExportJob
from bot.console.pages import Role, Section
from bot.kernel.privacy import mask_name, mask_phone
from bot.sheets import Sheet
from handlers import volunteers_ops as ops
from handlers.sheets import export_headers, export_row, ledger_sheets
from handlers.stars import month_bounds, month_of
from handlers.volunteers import VOLUNTEERS, configured_cities
from schedules.outbox import zone_of
from storage.activities import monthly_hours
from storage.volunteers import Volunteer, ledger_of, search_volunteers, total_hours

section = Section("volunteers", nav="console.nav.volunteers", nav_role=Role.EDITOR, order=40)
PAGE = 50
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
PHONE = re.compile(r"^1\d{10}$")


def _filters(call: Call) -> dict[str, Any]:
    minor = call.query("minor", 3)
    return {
        "city": call.query("city", 32),
        "district": call.query("district", 32),
        "skill": call.query("skill", 32),
        "availability": call.query("availability", 32),
        "minor": True if minor == "1" else False if minor == "0" else None,
    }


@section.get("/volunteers", role=Role.EDITOR)
async def volunteers(call: Call) -> web.StreamResponse:
    """Volunteers matching the filters, names and phones masked (viewers see none of this)."""
    filters = _filters(call)
    phone = call.query("phone", 11)
    page = call.query_int("page", 0, 100000)
    bot = call.bot
    index = bot.cipher.blind_index(phone) if PHONE.match(phone) else ""
    async with bot.sessions() as session:
        found = await search_volunteers(
            session, **filters, phone_index=index, offset=page * PAGE, limit=PAGE + 1
        )
        rows = [
            (
                v,
                mask_name(bot.cipher.decrypt(v.name_enc)),
                mask_phone(bot.cipher.decrypt(v.phone_enc)),
                await total_hours(session, v.id),
            )
            for v in found[:PAGE]
        ]
    return call.render(
        "volunteers.html",
        rows=rows,
        more=len(found) > PAGE,
        page=page,
        f=filters,
        phone=phone,
        cities=configured_cities(bot),
        query=call.request.query_string,
    )


# Declared before /volunteers/{id}: routes match in the order they are added.
@section.get("/volunteers/stars", role=Role.EDITOR)
async def stars(call: Call) -> web.StreamResponse:
    """志愿之星: a month's volunteers by hours, per city, with a chart (names masked)."""
    bot = call.bot
    now = bot.clock.now()
    year, month = month_of(now)
    m = MONTH.match(call.query("month", 7))
    if m and 1 <= int(m[2]) <= 12 and 2000 <= int(m[1]) <= 2100:
        year, month = int(m[1]), int(m[2])
    city = call.query("city", 32)
    since, until = month_bounds(year, month)
    top = VOLUNTEERS.of(bot.config).stars_top
    async with bot.sessions() as session:
        found = await monthly_hours(session, since, until, city or None, limit=top * 20)
    per_city: dict[str, list[tuple[str, Decimal]]] = {}
    for star in found:
        names = per_city.setdefault(star.city, [])
        if len(names) < top:
            names.append((mask_name(bot.cipher.decrypt(star.name_enc)), star.hours))
    picture = None
    if found:
        best = found[:top]
        picture = await chart(
            [f"{mask_name(bot.cipher.decrypt(s.name_enc))}（{s.city}）" for s in best],
            [float(s.hours) for s in best],
            title=call.t("console.volunteers.stars_title", year=year, month=month),
            axis=call.t("reports.volunteers.chart_axis"),
            kind="barh",
        )
    return call.render(
        "stars.html",
        per_city=per_city,
        picture=picture,
        month_value=f"{year:04d}-{month:02d}",
        city=city,
        cities=configured_cities(bot),
        year=year,
        month=month,
    )


async def _volunteer(call: Call) -> Volunteer:
    async with call.bot.sessions() as session:
        volunteer = await session.get(Volunteer, call.number("id"))
    if volunteer is None or not volunteer.name_enc:
        raise web.HTTPNotFound()
    return volunteer


async def _profile(call: Call, revealed: str | None = None, status: int = 200) -> web.Response:
    volunteer = await _volunteer(call)
    bot = call.bot
    async with bot.sessions() as session:
        entries = await ledger_of(session, volunteer.id)
        total = await total_hours(session, volunteer.id)
    return call.render(
        "volunteer.html",
        status=status,
        v=volunteer,
        name=mask_name(bot.cipher.decrypt(volunteer.name_enc)),
        phone=revealed or mask_phone(bot.cipher.decrypt(volunteer.phone_enc)),
        revealed=revealed is not None,
        entries=entries,
        total=total,
    )


@section.get("/volunteers/{id}", role=Role.EDITOR)
async def profile(call: Call) -> web.StreamResponse:
    """One volunteer: masked details, hours ledger, the adjustment form."""
    return await _profile(call)


@section.post("/volunteers/{id}/reveal", role=Role.ADMIN)
async def reveal(call: Call) -> web.StreamResponse:
    """Show one volunteer's full phone number to an admin, recorded in the audit log."""
    phone = await ops.reveal_phone(call.bot, call.actor, call.number("id"))
    return await _profile(call, revealed=phone)


def _decimal(call: Call, raw: str, label: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormError(call.t("console.errors.not_number", field=label)) from None
    if not value.is_finite():
        raise FormError(call.t("console.errors.not_number", field=label))
    return value


@section.post("/volunteers/{id}/hours", role=Role.EDITOR)
async def adjust(call: Call) -> web.StreamResponse:
    """Add (or with a minus sign remove) hours with a reason; the total never goes negative."""
    volunteer_id = call.number("id")
    form = await call.form()
    label = call.t("console.volunteers.adjust_hours")
    hours = _decimal(call, form.text("hours", label=label, limit=10), label)
    reason = form.text("reason", label=call.t("console.volunteers.reason"), limit=ops.MAX_REASON)
    await ops.adjust_hours(call.bot, call.actor, volunteer_id, hours, reason)
    call.done(f"/volunteers/{volunteer_id}", "hours_adjusted")


@section.post("/volunteers/export", role=Role.EDITOR)
async def export(call: Call) -> web.StreamResponse:
    """Start an export of the filtered volunteers (full phones: admins only, audited)."""
    form = await call.form()
    fmt = form.choice("format", ("csv", "xlsx"), label=call.t("console.volunteers.format"))
    phones = form.flag("phones")
    if phones:
        call.require(Role.ADMIN)
    minor = form.text("minor", label="minor", required=False, limit=1)
    where: dict[str, Any] = {
        key: form.text(key, label=key, required=False, limit=32)
        for key in ("district", "skill", "availability")
    }
    where["minor"] = True if minor == "1" else False if minor == "0" else None
    city = ops.known_city(call.bot, form.text("city", label="city", required=False, limit=32))
    bot, actor = call.bot, call.actor

    async def build(job: ExportJob) -> list[Sheet]:
        found = await ops.export(
            bot, actor, city=city, full_phones=phones, progress=job, where=where
        )
        rows = [export_row(bot, r.volunteer, r.hours, phones) for r in found]
        return [Sheet(bot.texts("reports.volunteers.sheet"), export_headers(bot.texts), rows)]

    await call.export(fmt, "volunteers", build, personal=True)


@section.post("/volunteers/hours-export", role=Role.EDITOR)
async def hours_export(call: Call) -> web.StreamResponse:
    """The hours ledger and the totals per volunteer as a file (``hours export``)."""
    form = await call.form()
    fmt = form.choice("format", ("csv", "xlsx"), label=call.t("console.volunteers.format"))
    city = form.text("city", label=call.t("console.volunteers.city"), required=False, limit=32)
    tz = zone_of(call.bot)
    bounds = []
    for name in ("from", "to"):
        label = call.t(f"console.volunteers.hours_{name}")
        raw = form.text(name, label=label, required=False, limit=10)
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise FormError(call.t("console.errors.bad_date", field=label)) from None
        bounds.append(datetime.combine(day, time(), tzinfo=tz) if day else None)
    since, until = bounds
    if until is not None:
        until += timedelta(days=1)  # the "to" day is included
    bot, actor = call.bot, call.actor
    entries = await ops.export_hours(bot, actor, city=city or None, since=since, until=until)

    async def build(job: ExportJob) -> list[Sheet]:
        return ledger_sheets(bot, entries, job)

    await call.export(fmt, "hours", build, personal=True)
