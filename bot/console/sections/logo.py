"""Logo contest: phases, the review queue with the designs, approve/reject with a reason, the
live results chart, burst flags and voiding votes with a reason."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.charts import chart
from bot.console.media import media_route
from bot.console.pages import Role, Section
from bot.kernel.privacy import mask_name, mask_phone
from handlers import logo_ops as ops
from handlers.logo_phases import (
    LOGO,
    PHASES,
    contest_state,
    format_admin,
    logo_media_path,
    parse_time,
    phase_line,
)
from storage import logo as store

section = Section("logo", nav="console.nav.logo", order=60)
STATUSES = ("pending", "approved", "rejected", "withdrawn")


@section.get("/logo", role=Role.VIEWER)
async def contest(call: Call) -> web.StreamResponse:
    """Phases, the entries of one status (pending first), results and flags."""
    bot = call.bot
    status = call.query("status", 16) or "pending"
    if status not in STATUSES:
        status = "pending"
    now = bot.clock.now()
    async with bot.sessions() as session:
        state = await contest_state(session, LOGO.of(bot.config), now)
        entries = await store.list_entries(session, status)
        ranking = await store.ranking(session)
        flags = await store.list_flags(session)
    # Names and phones are personal: masked for everyone, and not shown to viewers at all.
    authors = {}
    if call.operator.can(Role.EDITOR):
        for e in entries:
            name = mask_name(bot.cipher.decrypt(e.author_name_enc)) if e.author_name_enc else ""
            phone = mask_phone(bot.cipher.decrypt(e.author_phone_enc)) if e.author_phone_enc else ""
            authors[e.id] = f"{name} {phone}".strip()
    results = None
    if ranking:
        top = ranking[:20]
        results = await chart(
            [f"{n}号 {title}" for n, title, _v in top],
            [v for _n, _t, v in top],
            title=call.t("console.logo.results_chart"),
            axis=call.t("console.logo.votes"),
            kind="barh",
        )
    phases = []
    for name in PHASES:
        window = state.window(name)
        phases.append(
            (
                name,
                call.t(f"logo.phase_name_{name}"),
                format_admin(window.starts) if window else "",
                format_admin(window.ends, end=True) if window and window.ends else "",
                window.source if window else "",
                bool(window and window.contains(now)),
            )
        )
    return call.render(
        "logo.html",
        shown=status,
        statuses=STATUSES,
        entries=entries,
        authors=authors,
        ranking=ranking,
        results=results,
        flags=flags,
        phases=phases,
        phase_now=phase_line(bot.texts, state),
    )


media_route(section, "/logo/media/{name}", logo_media_path)


@section.post("/logo/{id}/review", role=Role.EDITOR)
async def review(call: Call) -> web.StreamResponse:
    """Approve or reject an entry (a rejection needs a reason); the author is told."""
    number = call.number("id")
    form = await call.form()
    decision, reason = form.decision(
        call.t("console.logo.review"), "reason", call.t("console.logo.reason")
    )
    if decision == "approved":
        await ops.approve(call.bot, call.actor, number)
    else:
        await ops.reject(call.bot, call.actor, number, reason)
    call.done("/logo", f"logo_{decision}")


def _time(call: Call, raw: str, label_key: str, *, end: bool = False) -> datetime:
    try:
        return parse_time(raw.replace("T", " "), end=end)
    except ValueError:
        raise FormError(call.t("console.errors.bad_time", field=call.t(label_key))) from None


@section.post("/logo/phase", role=Role.ADMIN)
async def set_phase(call: Call) -> web.StreamResponse:
    """Set or clear one phase's window (checked against the whole schedule)."""
    form = await call.form()
    phase = form.choice("phase", PHASES, label=call.t("console.logo.phase"))
    action = form.choice("action", ("set", "clear"), label=call.t("console.logo.phase"))
    if action == "clear":
        await ops.clear_phase(call.bot, call.actor, phase)
    else:
        start_text = form.text("start", label=call.t("console.logo.start"), limit=20)
        end_text = form.text("end", label=call.t("console.logo.end"), required=False, limit=20)
        starts = _time(call, start_text, "console.logo.start")
        ends = _time(call, end_text, "console.logo.end", end=True) if end_text else None
        await ops.set_phase(call.bot, call.actor, phase, starts, ends)
    call.done("/logo", "logo_phase")


@section.post("/logo/void", role=Role.ADMIN)
async def void(call: Call) -> web.StreamResponse:
    """Void the votes of an entry or of a QR scene's followers (since a time), with a reason."""
    form = await call.form()
    entry = form.integer("entry", label=call.t("console.logo.entry"), low=1, required=False)
    scene = form.text("scene", label=call.t("console.logo.scene"), required=False, limit=64)
    since_text = form.text("since", label=call.t("console.logo.since"), required=False, limit=20)
    reason = form.text("reason", label=call.t("console.logo.reason"), limit=200)
    since = _time(call, since_text, "console.logo.since") if since_text else None
    await ops.void_votes(
        call.bot, call.actor, reason=reason, entry=entry, scene=scene or None, since=since
    )
    call.done("/logo", "votes_voided")
