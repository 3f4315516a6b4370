"""Keyword replies: list and search, add, edit (operator rules), enable/disable, priority,
remove; rules seeded from the content file are marked and only switched on or off here.
Every change is the feature's operation (handlers/keywords_ops.py), as on the CLI."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call, Form
from bot.console.pages import Role, Section
from bot.kernel.message import Reply
from handlers import keywords_ops as ops
from storage.keywords import MATCH_TYPES, list_rules

section = Section("keywords", nav="console.nav.keywords", order=35)
MAX_REPLY = 2000


def _preview(reply_json: str) -> str:
    reply = Reply.from_json(reply_json)
    return reply.text or (reply.articles[0].title if reply.articles else "")


@section.get("/keywords", role=Role.VIEWER)
async def rules(call: Call) -> web.StreamResponse:
    """Every rule, highest priority first; ``q`` searches keywords and replies."""
    q = call.query("q", 64)
    async with call.bot.sessions() as session:
        found = await list_rules(session)
    rows = [(r, _preview(r.reply)) for r in found]
    if q:
        rows = [(r, text) for r, text in rows if q.lower() in r.pattern.lower() or q in text]
    return call.render("keywords.html", rows=rows, q=q, matches=MATCH_TYPES)


def _reply_and_priority(call: Call, form: Form) -> tuple[str, int]:
    reply = form.text("reply", label=call.t("console.keywords.reply"), limit=MAX_REPLY)
    priority = form.integer(
        "priority", label=call.t("console.keywords.priority"), low=-1000, high=1000
    )
    assert priority is not None
    return reply, priority


@section.post("/keywords/add", role=Role.EDITOR)
async def add(call: Call) -> web.StreamResponse:
    """Add (or replace) an operator rule (a seeded rule's keyword becomes the operator's)."""
    form = await call.form()
    match = form.choice("match", MATCH_TYPES, label=call.t("console.keywords.match"))
    pattern = form.text("pattern", label=call.t("console.keywords.pattern"), limit=64)
    reply, priority = _reply_and_priority(call, form)
    await ops.add(call.bot, call.actor, pattern, reply, match=match, priority=priority)
    call.done("/keywords", "keyword_saved")


@section.post("/keywords/seed", role=Role.ADMIN)
async def seed(call: Call) -> web.StreamResponse:
    """Make the seeded rules match the content files again (``keywords seed``)."""
    await ops.seed(call.bot, call.actor)
    call.done("/keywords", "keywords_seeded")


@section.post("/keywords/{id}/edit", role=Role.EDITOR)
async def edit(call: Call) -> web.StreamResponse:
    """Change an operator rule's reply and priority."""
    rule_id = call.number("id")
    reply, priority = _reply_and_priority(call, await call.form())
    await ops.edit(call.bot, call.actor, rule_id, reply, priority)
    call.done("/keywords", "keyword_saved")


@section.post("/keywords/{id}/toggle", role=Role.EDITOR)
async def toggle(call: Call) -> web.StreamResponse:
    """Switch a rule (seeded ones too) on or off."""
    on = (await call.form()).flag("enabled")
    await ops.switch(call.bot, call.actor, call.number("id"), on)
    call.done("/keywords", "keyword_saved")


@section.post("/keywords/{id}/remove", role=Role.EDITOR)
async def remove(call: Call) -> web.StreamResponse:
    """Delete an operator rule (seeded ones are switched off instead: seeding would return
    them)."""
    await ops.remove(call.bot, call.actor, call.number("id"), seeded=False)
    call.done("/keywords", "keyword_removed")
