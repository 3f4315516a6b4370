"""Stories: the review queue with the pictures, approve (the author is told) / reject with a
note / feature, the contact revealed to an admin (audited), and the export."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.exports import ExportJob
from bot.console.media import media_route
from bot.console.pages import Role, Section
from bot.sheets import Sheet
from handlers import stories_ops as ops
from handlers.sheets import contact
from handlers.stories import stories_media_path
from storage import stories as store

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


media_route(section, "/stories/media/{name}", stories_media_path)


@section.post("/stories/{id}/review", role=Role.EDITOR)
async def review(call: Call) -> web.StreamResponse:
    """Approve (the author is told) or reject (a note for operators) one story."""
    decision, note = (await call.form()).decision(
        call.t("console.stories.decision"), "note", call.t("console.stories.note")
    )
    if decision == "approved":
        await ops.approve(call.bot, call.actor, call.number("id"), note or None)
    else:
        await ops.reject(call.bot, call.actor, call.number("id"), note)
    call.done(f"/stories?status={decision}", f"story_{decision}")


@section.post("/stories/{id}/feature", role=Role.EDITOR)
async def feature(call: Call) -> web.StreamResponse:
    """Feature an approved story (or stop featuring it)."""
    number = call.number("id")
    form = await call.form()
    await ops.set_featured(call.bot, call.actor, number, form.flag("on"))
    call.done("/stories?status=approved", "story_featured")


@section.post("/stories/{id}/reveal", role=Role.ADMIN)
async def reveal(call: Call) -> web.StreamResponse:
    """Show one story's contact in full to an admin (audited)."""
    number = call.number("id")
    found = await ops.reveal_contact(call.bot, call.actor, number)
    full = f"{found.name} {found.phone}" if found else ""
    return call.render("story_contact.html", number=number, full=full)


@section.post("/stories/export", role=Role.EDITOR)
async def export(call: Call) -> web.StreamResponse:
    """Export the stories of one status (contacts masked) as CSV or XLSX."""
    form = await call.form()
    fmt = form.choice("format", ("csv", "xlsx"), label=call.t("console.volunteers.format"))
    status = form.text("status", label=call.t("console.stories.status"), required=False, limit=16)
    bot, actor = call.bot, call.actor

    async def build(job: ExportJob) -> list[Sheet]:
        headers, rows = await ops.export(bot, actor, status=status or None, progress=job)
        return [Sheet(bot.texts("reports.stories.sheet"), headers, rows)]

    if status and status not in store.STATUSES:
        raise FormError(call.t("console.errors.bad_choice", field=call.t("console.stories.status")))
    await call.export(fmt, "stories", build, personal=True)
