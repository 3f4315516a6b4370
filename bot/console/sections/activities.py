"""Activities: create, edit, cancel (volunteers told), roster, and the printable check-in
sheet with the code's QR code for the venue."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation

from aiohttp import web

from bot.console.call import Call, Form, FormError
from bot.console.exports import ExportJob
from bot.console.pages import Role, Section
from bot.console.qr import qr_data_uri
from bot.kernel.clock import as_utc
from bot.kernel.privacy import mask_name, mask_phone
from bot.sheets import Sheet
from handlers import activities_ops as ops
from handlers.activities import hours_text
from handlers.sheets import roster_headers, roster_rows
from handlers.volunteers import configured_cities
from schedules.outbox import zone_of
from storage import activities as store
from storage.activities import Activity

section = Section("activities", nav="console.nav.activities", order=50)


def _time(call: Call, form: Form, name: str, label_key: str) -> datetime:
    label = call.t(label_key)
    raw = form.text(name, label=label, limit=20)
    try:
        value = datetime.fromisoformat(raw.replace("T", " "))
    except ValueError:
        raise FormError(call.t("console.errors.bad_time", field=call.t(label_key))) from None
    return value.replace(tzinfo=zone_of(call.bot)) if value.tzinfo is None else value


def _details(call: Call, form: Form, hours: Decimal = Decimal(1)) -> ops.NewActivity:
    """The activity the form describes (the operation checks the values)."""
    capacity = form.integer(
        "capacity", label=call.t("console.activities.capacity"), low=1, high=ops.MAX_CAPACITY
    )
    assert capacity is not None
    return ops.NewActivity(
        title=form.text("title", label=call.t("console.activities.title"), limit=ops.MAX_TITLE),
        place=form.text("place", label=call.t("console.activities.place"), limit=ops.MAX_PLACE),
        starts_at=_time(call, form, "start", "console.activities.start"),
        ends_at=_time(call, form, "end", "console.activities.end"),
        hours=hours,
        capacity=capacity,
    )


@section.get("/activities", role=Role.VIEWER)
async def activities(call: Call) -> web.StreamResponse:
    """Activities with places taken and check-ins; the form to create one."""
    now = call.bot.clock.now()
    show_all = call.query("all") == "1"
    async with call.bot.sessions() as session:
        found = await store.with_checked_in(session, now, show_all)
    return call.render(
        "activities.html",
        found=found,
        now=now,
        show_all=show_all,
        cities=configured_cities(call.bot),
        hours_text=hours_text,
    )


@section.post("/activities/new", role=Role.EDITOR)
async def create(call: Call) -> web.StreamResponse:
    """Create an activity with a fresh check-in code (or the one given)."""
    form = await call.form()
    label = call.t("console.activities.hours")
    try:
        hours = Decimal(form.text("hours", label=label, limit=8))
    except InvalidOperation:
        raise FormError(call.t("console.errors.not_number", field=label)) from None
    city = form.text("city", label=call.t("console.activities.city"), required=False, limit=32)
    if city and city not in configured_cities(call.bot):
        raise FormError(
            call.t("console.errors.bad_choice", field=call.t("console.activities.city"))
        )
    code = form.text("code", label=call.t("console.activities.code"), required=False, limit=8)
    new = replace(_details(call, form, hours), city=city, code=code or None)
    activity = await ops.add(call.bot, call.actor, new)
    call.done(f"/activities/{activity.id}", "activity_added")


@section.get("/activities/{id}", role=Role.VIEWER)
async def show(call: Call) -> web.StreamResponse:
    """One activity: details, the edit and cancel forms, the roster (masked; not for viewers)."""
    activity = await call.row(Activity)
    roster = []
    if call.operator.can(Role.EDITOR):
        async with call.bot.sessions() as session:
            for enrolment, v in await store.roster(session, activity.id):
                name = mask_name(call.bot.cipher.decrypt(v.name_enc)) if v.name_enc else ""
                phone = mask_phone(call.bot.cipher.decrypt(v.phone_enc)) if v.phone_enc else ""
                roster.append((enrolment, v, name, phone))
    tz = zone_of(call.bot)
    return call.render(
        "activity.html",
        a=activity,
        roster=roster,
        ended=as_utc(activity.ends_at) <= call.bot.clock.now(),
        start_value=as_utc(activity.starts_at).astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
        end_value=as_utc(activity.ends_at).astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
        hours_text=hours_text,
    )


@section.post("/activities/{id}/edit", role=Role.EDITOR)
async def edit(call: Call) -> web.StreamResponse:
    """Change title, place, times and capacity (not below the places taken)."""
    activity_id = call.number("id")
    await ops.edit(call.bot, call.actor, activity_id, _details(call, await call.form()))
    call.done(f"/activities/{activity_id}", "activity_edited")


@section.post("/activities/{id}/cancel", role=Role.EDITOR)
async def cancel(call: Call) -> web.StreamResponse:
    """Cancel an activity with a reason; every enrolled volunteer is told."""
    activity_id = call.number("id")
    form = await call.form()
    reason = form.text("reason", label=call.t("console.activities.reason"), limit=ops.MAX_REASON)
    done = await ops.cancel(call.bot, call.actor, activity_id, reason)
    if done.again:
        raise FormError(call.t("console.activities.cannot_cancel"))
    call.done(f"/activities/{activity_id}", "activity_cancelled")


@section.post("/activities/{id}/roster", role=Role.EDITOR)
async def roster_export(call: Call) -> web.StreamResponse:
    """The roster as a CSV/XLSX file (``activities roster --output``), names and phones masked."""
    activity_id = call.number("id")
    form = await call.form()
    fmt = form.choice("format", ("csv", "xlsx"), label=call.t("console.volunteers.format"))
    bot, actor = call.bot, call.actor
    await ops.roster(bot, activity_id)  # a missing activity is refused here, not in the job

    async def build(job: ExportJob) -> list[Sheet]:
        found = await ops.export_roster(bot, actor, activity_id)
        rows = roster_rows(bot, found.entries, job)
        sheet = bot.texts("reports.activities.roster_sheet", number=activity_id)
        return [Sheet(sheet, roster_headers(bot.texts), rows)]

    await call.export(fmt, f"roster-{activity_id}", build, personal=True)


@section.get("/activities/{id}/sheet", role=Role.VIEWER)
async def sheet(call: Call) -> web.StreamResponse:
    """The printable check-in sheet for the venue: the code large, and its QR code."""
    activity = await call.row(Activity)
    command = call.t("console.activities.checkin_command", code=activity.code)
    return call.render("activity_sheet.html", a=activity, qr=qr_data_uri(command), command=command)
