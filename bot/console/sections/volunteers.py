"""Volunteers: search and filter, phones masked unless an admin reveals one (audited), CSV/XLSX
export with progress, the hours ledger with adjustments, and 志愿之星 per month."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.charts import chart
from bot.console.exports import ExportJob
from bot.console.pages import Role, Section
from bot.kernel.privacy import mask_name, mask_phone
from bot.sheets import Sheet
from handlers.sheets import export_headers, export_row
from handlers.stars import month_bounds, month_of
from handlers.volunteers import VOLUNTEERS, configured_cities
from storage import operators as audit_store
from storage.activities import monthly_hours
from storage.db import transaction
from storage.volunteers import Volunteer, add_hours, ledger_of, search_volunteers, total_hours

section = Section("volunteers", nav="console.nav.volunteers", nav_role=Role.EDITOR, order=40)
PAGE = 50
MAX_REASON = 200
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
    volunteer = await _volunteer(call)
    async with transaction(call.bot.sessions) as session:
        await audit_store.audit(
            session,
            call.bot.clock.now(),
            call.operator.name,
            "volunteers.reveal_phone",
            f"volunteer={volunteer.id}",
        )
    return await _profile(call, revealed=call.bot.cipher.decrypt(volunteer.phone_enc))


@section.post("/volunteers/{id}/hours", role=Role.EDITOR)
async def adjust(call: Call) -> web.StreamResponse:
    """Add (or with a minus sign remove) hours with a reason; the total never goes negative."""
    volunteer_id = call.number("id")
    form = await call.form()
    raw = form.text("hours", label=call.t("console.volunteers.adjust_hours"), limit=10)
    reason = form.text("reason", label=call.t("console.volunteers.reason"), limit=MAX_REASON)
    try:
        hours = Decimal(raw)
    except InvalidOperation:
        raise FormError(
            call.t("console.errors.not_number", field=call.t("console.volunteers.adjust_hours"))
        ) from None
    if (
        not hours.is_finite()
        or hours == 0
        or abs(hours) > 1000
        or hours != hours.quantize(Decimal("0.01"))
    ):
        raise FormError(call.t("console.volunteers.bad_hours"))
    bot = call.bot
    async with transaction(bot.sessions) as session:
        volunteer = await session.get(Volunteer, volunteer_id, with_for_update=True)
        if volunteer is None or not volunteer.name_enc:
            raise web.HTTPNotFound()
        if await total_hours(session, volunteer.id) + hours < 0:
            raise FormError(call.t("console.volunteers.negative"))
        now = bot.clock.now()
        await add_hours(session, volunteer.id, hours, reason, call.operator.name, now)
        await audit_store.audit(
            session,
            now,
            call.operator.name,
            "hours.adjust",
            f"volunteer={volunteer.id} hours={hours} reason={reason}",
        )
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
    filters: dict[str, Any] = {
        key: form.text(key, label=key, required=False, limit=32)
        for key in ("city", "district", "skill", "availability")
    }
    filters["minor"] = True if minor == "1" else False if minor == "0" else None
    bot = call.bot
    operator = call.operator.name

    async def build(job: ExportJob) -> list[Sheet]:
        async with bot.sessions() as session:
            found = await search_volunteers(session, **filters, limit=None)
            job.total = len(found)
            rows = []
            for v in found:
                rows.append(export_row(bot, v, await total_hours(session, v.id), phones))
                job.advance()
        async with transaction(bot.sessions) as session:
            await audit_store.audit(
                session,
                bot.clock.now(),
                operator,
                "volunteers.export_phones" if phones else "volunteers.export",
                f"rows={len(rows)} city={filters['city'] or '*'}",
            )
        t = bot.texts
        return [Sheet(t("reports.volunteers.sheet"), export_headers(t), rows)]

    assert call.exports is not None
    job = call.exports.start(call.operator.id, fmt, "volunteers", build)
    raise web.HTTPSeeOther(f"/console/exports/{job.id}")


@section.get("/exports/{job}", role=Role.EDITOR)
async def export_page(call: Call) -> web.StreamResponse:
    """The progress of an export, and its file once ready."""
    job = _job(call)
    return call.render("export.html", job=job)


@section.get("/exports/{job}/status", role=Role.EDITOR)
async def export_status(call: Call) -> web.StreamResponse:
    """The export's progress as JSON (polled by the page's script)."""
    job = _job(call)
    label = call.t("console.exports.progress", done=job.done, total=job.total)
    if job.ready:
        label = call.t("console.exports.ready", total=job.total)
    elif job.failed:
        label = call.t("console.exports.failed")
    return web.json_response(
        {
            "done": job.done,
            "total": job.total,
            "ready": job.ready,
            "failed": job.failed,
            "label": label,
        }
    )


@section.get("/exports/{job}/file", role=Role.EDITOR)
async def export_file(call: Call) -> web.StreamResponse:
    """The finished file (only to the operator who started the export)."""
    job = _job(call)
    if not job.ready:
        raise web.HTTPNotFound()
    return web.FileResponse(
        job.path,
        headers={"Content-Disposition": f'attachment; filename="{job.filename}"'},
    )


def _job(call: Call) -> ExportJob:
    assert call.exports is not None
    job = call.exports.get(call.request.match_info["job"][:64], call.operator.id)
    if job is None:
        raise web.HTTPNotFound()
    return job
