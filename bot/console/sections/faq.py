"""FAQ topics: the list with this week's hits, a topic's answer and example questions, add a
topic, add or remove example questions, switch a topic on or off, and "what would the bot do
with this question" (``faq list|show|add|add-question|remove-question|enable|disable|try``).
Every change is the feature's operation (handlers/faq/operations.py), as on the CLI."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call
from bot.console.pages import Role, Section
from bot.kernel.message import Reply
from handlers.faq import operations as ops
from storage.faq import entry_by_slug, list_entries, questions_of

section = Section("faq", nav="console.nav.faq", order=42)
MAX_ANSWER = 2000


@section.get("/faq", role=Role.VIEWER)
async def topics(call: Call) -> web.StreamResponse:
    """Every topic with its example-question count and this week's hits; ``q``: try a
    question (reads only)."""
    q = call.query("q", 200)
    async with call.bot.sessions() as session:
        entries = await list_entries(session)
    hits, _totals = await ops.hits(call.bot, 7)
    answered = {slug: (a, p) for slug, _title, a, p in hits}
    decision = await ops.try_question(call.bot, q) if q else None
    return call.render("faq.html", entries=entries, answered=answered, q=q, decision=decision)


@section.get("/faq/{slug}", role=Role.VIEWER)
async def topic(call: Call) -> web.StreamResponse:
    """One topic: its answer and example questions."""
    async with call.bot.sessions() as session:
        entry = await entry_by_slug(session, call.request.match_info["slug"][:64])
        if entry is None:
            raise web.HTTPNotFound()
        questions = await questions_of(session, entry.id)
    reply = Reply.from_json(entry.reply)
    answer = reply.text or "\n".join(a.title for a in reply.articles)
    return call.render("faq_topic.html", e=entry, answer=answer, questions=questions)


@section.post("/faq/add", role=Role.EDITOR)
async def add(call: Call) -> web.StreamResponse:
    """A new topic with a text answer and its example questions (one a line)."""
    form = await call.form()
    t = call.t
    topic = ops.TopicDraft(
        form.text("slug", label=t("console.faq.slug"), limit=64),
        form.text("title", label=t("console.faq.title"), limit=128),
        form.text("answer", label=t("console.faq.answer"), limit=MAX_ANSWER),
    )
    questions = form.text("questions", label=t("console.faq.questions"), limit=4000)
    entry = await ops.add_entry(call.bot, call.actor, topic, questions.strip().splitlines())
    call.done(f"/faq/{entry.slug}", "faq_saved")


@section.post("/faq/{slug}/questions", role=Role.EDITOR)
async def add_question(call: Call) -> web.StreamResponse:
    """Add an example question."""
    slug = call.request.match_info["slug"][:64]
    form = await call.form()
    text = form.text("text", label=call.t("console.faq.question"), limit=200)
    await ops.add_example(call.bot, call.actor, slug, text)
    call.done(f"/faq/{slug}", "faq_saved")


@section.post("/faq/{slug}/questions/{id}/remove", role=Role.EDITOR)
async def remove_question(call: Call) -> web.StreamResponse:
    """Delete an example question."""
    slug = call.request.match_info["slug"][:64]
    await ops.remove_example(call.bot, call.actor, call.number("id"))
    call.done(f"/faq/{slug}", "faq_saved")


@section.post("/faq/{slug}/toggle", role=Role.EDITOR)
async def toggle(call: Call) -> web.StreamResponse:
    """Switch a topic on or off."""
    slug = call.request.match_info["slug"][:64]
    on = (await call.form()).flag("enabled")
    await ops.switch(call.bot, call.actor, slug, on)
    call.done(f"/faq/{slug}", "faq_saved")
