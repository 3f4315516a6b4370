"""Stories: the review queue with the pictures, approve (the author is told) / reject with a
note / feature, the contact revealed to an admin (audited), and the export."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.console.call import Call, FormError
from bot.console.exports import ExportJob
from bot.console.media import media_file
from bot.console.pages import Role, Section
from bot.sheets import Sheet
from handlers.notify import tell_then
from handlers.sheets import contact, story_rows
from handlers.stories import stories_media_path
from storage import operators as audit_store
from storage import stories as store
from storage.db import transaction

section = Section("stories", nav="console.nav.stories", order=70)


@section.get("/stories", role=Role.VIEWER)
async def stories(call: Call) -> web.StreamResponse:
    """Stories of one status with their pictures; contacts masked, and hidden from viewers."""
    status = call.query("status", 16) or "pending"
    if status not in store.STATUSES:
        status = "pending"
    async with call.bot.sessions() as session:
        found = await store.list_stories(session, status)
        media = await store.media_of(session, [s.id for s in found])
    found.sort(key=lambda s: (not s.featured, s.id))
    contacts = {}
    if call.operator.can(Role.EDITOR):
        contacts = {s.id: contact(call.bot, s) for s in found}
    return call.render(
        "stories.html",
        shown=status,
        statuses=store.STATUSES,
        stories=found,
        media=media,
        contacts=contacts,
    )


@section.get("/stories/media/{name}", role=Role.VIEWER)
async def picture(call: Call) -> web.StreamResponse:
    """A story picture (any status: operators review pending ones)."""
    return media_file(stories_media_path(call.bot.config), call.request.match_info["name"])


@section.post("/stories/{id}/review", role=Role.EDITOR)
async def review(call: Call) -> web.StreamResponse:
    """Approve (the author is told) or reject (a note for operators) one story."""
    number = call.number("id")
    form = await call.form()
    decision = form.choice(
        "decision", ("approved", "rejected"), label=call.t("console.stories.decision")
    )
    note = form.text(
        "note", label=call.t("console.stories.note"), required=decision == "rejected", limit=200
    )
    bot = call.bot
    async with bot.sessions() as session:
        story = await store.get_story(session, number)
    if story is None:
        raise web.HTTPNotFound()

    async def record(session: AsyncSession) -> None:
        await store.review_story(session, number, decision, bot.clock.now(), note or None)
        await audit_store.audit(
            session,
            bot.clock.now(),
            call.operator.name,
            f"stories.{decision}",
            f"story={number} note={note}",
        )

    if decision == "approved":
        text = bot.texts("stories.approved", number=number)
        await tell_then(bot, story.user_key, text, record)
    else:
        async with transaction(bot.sessions) as session:
            await record(session)
    call.done(f"/stories?status={decision}", f"story_{decision}")


@section.post("/stories/{id}/feature", role=Role.EDITOR)
async def feature(call: Call) -> web.StreamResponse:
    """Feature an approved story (or stop featuring it)."""
    number = call.number("id")
    form = await call.form()
    on = form.flag("on")
    async with transaction(call.bot.sessions) as session:
        if await store.set_featured(session, number, on) is None:
            raise FormError(call.t("console.stories.not_approved"))
        await audit_store.audit(
            session,
            call.bot.clock.now(),
            call.operator.name,
            "stories.feature" if on else "stories.unfeature",
            f"story={number}",
        )
    call.done("/stories?status=approved", "story_featured")


@section.post("/stories/{id}/reveal", role=Role.ADMIN)
async def reveal(call: Call) -> web.StreamResponse:
    """Show one story's contact in full to an admin (audited)."""
    number = call.number("id")
    async with transaction(call.bot.sessions) as session:
        story = await store.get_story(session, number)
        if story is None:
            raise web.HTTPNotFound()
        await audit_store.audit(
            session,
            call.bot.clock.now(),
            call.operator.name,
            "stories.reveal_contact",
            f"story={number}",
        )
    return call.render(
        "story_contact.html", story=story, full=contact(call.bot, story, reveal=True)
    )


@section.post("/stories/export", role=Role.EDITOR)
async def export(call: Call) -> web.StreamResponse:
    """Export the stories of one status (contacts masked) as CSV or XLSX."""
    form = await call.form()
    fmt = form.choice("format", ("csv", "xlsx"), label=call.t("console.volunteers.format"))
    status = form.text("status", label="status", required=False, limit=16)
    if status and status not in store.STATUSES:
        raise FormError(call.t("console.errors.bad_choice", field=call.t("console.stories.status")))
    bot = call.bot
    operator = call.operator.name

    async def build(job: ExportJob) -> list[Sheet]:
        headers, rows = await story_rows(bot, status or None, None, job)
        async with transaction(bot.sessions) as session:
            await audit_store.audit(
                session, bot.clock.now(), operator, "stories.export", f"rows={len(rows)}"
            )
        return [Sheet(bot.texts("reports.stories.sheet"), headers, rows)]

    assert call.exports is not None
    job = call.exports.start(call.operator.id, fmt, "stories", build)
    raise web.HTTPSeeOther(f"/console/exports/{job.id}")
