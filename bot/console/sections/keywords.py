"""Keyword replies: list and search, add, edit (operator rules), enable/disable, priority,
remove; rules seeded from the content file are marked and only switched on or off here."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call, Form, FormError
from bot.console.pages import Role, Section
from bot.kernel.message import Reply, normalize
from storage import operators as audit_store
from storage.db import transaction
from storage.keywords import MATCH_TYPES, RuleSpec, add_rule, list_rules, remove_rule, update_rule

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
    return Reply.of_text(reply).to_json(), priority


@section.post("/keywords/add", role=Role.EDITOR)
async def add(call: Call) -> web.StreamResponse:
    """Add (or replace) an operator rule."""
    form = await call.form()
    match = form.choice("match", MATCH_TYPES, label=call.t("console.keywords.match"))
    raw = form.text("pattern", label=call.t("console.keywords.pattern"), limit=64)
    pattern = raw if match == "click" else normalize(raw).lower()
    if not pattern:
        raise FormError(call.t("console.errors.required", field=call.t("console.keywords.pattern")))
    reply_json, priority = _reply_and_priority(call, form)
    now = call.bot.clock.now()
    async with transaction(call.bot.sessions) as session:
        # As on the CLI: a keyword a seeded rule has becomes the operator's rule.
        row = await add_rule(session, RuleSpec(pattern, match, priority, reply_json), now)
        await audit_store.audit(
            session, now, call.operator.name, "keywords.add", f"rule={row.id} pattern={pattern}"
        )
    call.done("/keywords", "keyword_saved")


@section.post("/keywords/{id}/edit", role=Role.EDITOR)
async def edit(call: Call) -> web.StreamResponse:
    """Change an operator rule's reply and priority."""
    rule_id = call.number("id")
    form = await call.form()
    reply_json, priority = _reply_and_priority(call, form)
    now = call.bot.clock.now()
    async with transaction(call.bot.sessions) as session:
        rule = await update_rule(session, rule_id, now, priority=priority, reply_json=reply_json)
        if rule is None:
            raise web.HTTPNotFound()
        if rule.source == "seed":
            raise FormError(call.t("console.keywords.seeded_edit"))
        await audit_store.audit(
            session, now, call.operator.name, "keywords.edit", f"rule={rule_id}"
        )
    call.done("/keywords", "keyword_saved")


@section.post("/keywords/{id}/toggle", role=Role.EDITOR)
async def toggle(call: Call) -> web.StreamResponse:
    """Switch a rule (seeded ones too) on or off."""
    rule_id = call.number("id")
    form = await call.form()
    enabled = form.flag("enabled")
    now = call.bot.clock.now()
    async with transaction(call.bot.sessions) as session:
        if await update_rule(session, rule_id, now, enabled=enabled) is None:
            raise web.HTTPNotFound()
        await audit_store.audit(
            session,
            now,
            call.operator.name,
            "keywords.enable" if enabled else "keywords.disable",
            f"rule={rule_id}",
        )
    call.done("/keywords", "keyword_saved")


@section.post("/keywords/{id}/remove", role=Role.EDITOR)
async def remove(call: Call) -> web.StreamResponse:
    """Delete an operator rule (seeded ones are switched off instead: seeding would return
    them)."""
    rule_id = call.number("id")
    now = call.bot.clock.now()
    async with transaction(call.bot.sessions) as session:
        found = [r for r in await list_rules(session) if r.id == rule_id]
        if not found:
            raise web.HTTPNotFound()
        if found[0].source == "seed":
            raise FormError(call.t("console.keywords.seeded_edit"))
        await remove_rule(session, rule_id)
        await audit_store.audit(
            session, now, call.operator.name, "keywords.remove", f"rule={rule_id}"
        )
    call.done("/keywords", "keyword_removed")
