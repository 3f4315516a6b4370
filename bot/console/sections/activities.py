"""Activities: create, edit, cancel (volunteers told), roster, and the printable check-in
sheet with the code's QR code for the venue."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from decimal import Decimal, InvalidOperation

import qrcode
from aiohttp import web

from bot.console.call import Call, Form, FormError
from bot.console.pages import Role, Section
from bot.kernel.clock import as_utc
from bot.kernel.privacy import mask_name, mask_phone
from handlers.activities import hours_text, tell_enrolled
from handlers.volunteers import configured_cities
from schedules.outbox import zone_of
from storage import activities as store
from storage import operators as audit_store
from storage.activities import Activity
from storage.db import transaction

section = Section("activities", nav="console.nav.activities", order=50)
MAX_TITLE, MAX_PLACE, MAX_REASON = 64, 100, 200
MAX_CAPACITY = 100_000
MAX_HOURS = Decimal(100)


def _time(call: Call, form: Form, name: str, label_key: str) -> datetime:
    label = call.t(label_key)
    raw = form.text(name, label=label, limit=20)
    try:
        value = datetime.fromisoformat(raw.replace("T", " "))
    except ValueError:
        raise FormError(call.t("console.errors.bad_time", field=label)) from None
    return value.replace(tzinfo=zone_of(call.bot)) if value.tzinfo is None else value


def _details(call: Call, form: Form) -> tuple[str, str, datetime, datetime, int]:
    title = form.text("title", label=call.t("console.activities.title"), limit=MAX_TITLE)
    place = form.text("place", label=call.t("console.activities.place"), limit=MAX_PLACE)
    starts = _time(call, form, "start", "console.activities.start")
    ends = _time(call, form, "end", "console.activities.end")
    if ends <= starts:
        raise FormError(call.t("console.activities.end_before_start"))
    if ends <= call.bot.clock.now():
        raise FormError(call.t("console.activities.in_past"))
    capacity = form.integer(
        "capacity", label=call.t("console.activities.capacity"), low=1, high=MAX_CAPACITY
    )
    assert capacity is not None
    return title, place, starts, ends, capacity


async def _activity(call: Call) -> Activity:
    async with call.bot.sessions() as session:
        activity = await session.get(Activity, call.number("id"))
    if activity is None:
        raise web.HTTPNotFound()
    return activity


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
    title, place, starts, ends, capacity = _details(call, form)
    city = form.text("city", label=call.t("console.activities.city"), required=False, limit=32)
    if city and city not in configured_cities(call.bot):
        raise FormError(
            call.t("console.errors.bad_choice", field=call.t("console.activities.city"))
        )
    raw_hours = form.text("hours", label=call.t("console.activities.hours"), limit=8)
    try:
        hours = Decimal(raw_hours)
    except InvalidOperation:
        raise FormError(
            call.t("console.errors.not_number", field=call.t("console.activities.hours"))
        ) from None
    if not (hours.is_finite() and Decimal("0.01") <= hours <= MAX_HOURS) or hours != hours.quantize(
        Decimal("0.01")
    ):
        raise FormError(call.t("console.activities.bad_hours"))
    code_text = form.text("code", label=call.t("console.activities.code"), required=False, limit=8)
    code = store.fold_code(code_text) if code_text else store.new_code()
    if not store.valid_code(code):
        raise FormError(call.t("console.activities.bad_code"))
    now = call.bot.clock.now()
    async with transaction(call.bot.sessions) as session:
        if await store.code_in_use(session, code, now) is not None:
            raise FormError(call.t("console.activities.code_taken", code=code))
        activity = await store.add_activity(
            session,
            Activity(
                title=title,
                starts_at=starts,
                ends_at=ends,
                place=place,
                city=city,
                hours=hours,
                capacity=capacity,
                code=code,
                created_at=now,
            ),
        )
        await audit_store.audit(
            session, now, call.operator.name, "activity.added", f"activity={activity.id}"
        )
    call.done(f"/activities/{activity.id}", "activity_added")


@section.get("/activities/{id}", role=Role.VIEWER)
async def show(call: Call) -> web.StreamResponse:
    """One activity: details, the edit and cancel forms, the roster (masked; not for viewers)."""
    activity = await _activity(call)
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
    form = await call.form()
    title, place, starts, ends, capacity = _details(call, form)
    now = call.bot.clock.now()
    async with transaction(call.bot.sessions) as session:
        changed = await store.update_activity(
            session,
            activity_id,
            title=title,
            place=place,
            starts_at=starts,
            ends_at=ends,
            capacity=capacity,
        )
        if changed is None:
            raise FormError(call.t("console.activities.cannot_edit"))
        await audit_store.audit(
            session, now, call.operator.name, "activity.edited", f"activity={activity_id}"
        )
    call.done(f"/activities/{activity_id}", "activity_edited")


@section.post("/activities/{id}/cancel", role=Role.EDITOR)
async def cancel(call: Call) -> web.StreamResponse:
    """Cancel an activity with a reason; every enrolled volunteer is told."""
    activity_id = call.number("id")
    form = await call.form()
    reason = form.text("reason", label=call.t("console.activities.reason"), limit=MAX_REASON)
    bot = call.bot
    now = bot.clock.now()
    async with transaction(bot.sessions) as session:
        activity = await session.get(Activity, activity_id)
        if activity is None:
            raise web.HTTPNotFound()
        if activity.status == store.CANCELLED or as_utc(activity.ends_at) <= now:
            raise FormError(call.t("console.activities.cannot_cancel"))
        cancelled = await store.cancel(session, activity_id, reason, now)
        if cancelled is None:
            raise FormError(call.t("console.activities.cannot_cancel"))
        await audit_store.audit(
            session,
            now,
            call.operator.name,
            "activity.cancelled",
            f"activity={activity_id} reason={reason}",
        )
    await tell_enrolled(bot, cancelled)
    call.done(f"/activities/{activity_id}", "activity_cancelled")


def qr_data_uri(text: str) -> str:
    """A PNG QR code of ``text`` as a data: URI."""
    image = qrcode.make(text, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


@section.get("/activities/{id}/sheet", role=Role.VIEWER)
async def sheet(call: Call) -> web.StreamResponse:
    """The printable check-in sheet for the venue: the code large, and its QR code."""
    activity = await _activity(call)
    command = call.t("console.activities.checkin_command", code=activity.code)
    return call.render("activity_sheet.html", a=activity, qr=qr_data_uri(command), command=command)
