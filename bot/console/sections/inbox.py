"""The inbox: unanswered and flagged messages grouped by person, one item with the person's
masked history and the reply window, reply (typed or canned), assign, close, learn as an FAQ
example question; this week's top unanswered questions and FAQ hits. Every action is the
feature's own function (handlers/inbox.py, handlers/faq/operations.py), as on the CLI."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.pages import Role, Section
from handlers import inbox
from handlers.faq import operations as faq_ops
from handlers.faq.watchlist import Watchlist
from storage.inbox import STATUSES

section = Section("inbox", nav="console.nav.inbox", order=40)


def _titles(call: Call) -> dict[str, str]:
    return {c.name: c.title for c in Watchlist.from_texts(call.bot.texts).categories}


@section.get("/inbox", role=Role.VIEWER)
async def items(call: Call) -> web.StreamResponse:
    """Open items (or one status) grouped by person, most urgent first, and the reports."""
    status = call.query("status", 16)
    statuses = (status,) if status in STATUSES else ("new", "assigned")
    groups = await inbox.groups(call.bot, statuses)
    texts = {i.id: inbox.masked(call.bot, i) for g in groups for i in g.items}
    top = await faq_ops.top_unanswered(call.bot, 7, limit=10)
    hits, totals = await faq_ops.hits(call.bot, 7)
    return call.render(
        "inbox.html",
        groups=groups,
        texts=texts,
        titles=_titles(call),
        statuses=STATUSES,
        shown=status if status in STATUSES else "",
        top=top,
        hits=hits,
        totals=totals,
    )


# Before /inbox/{id}: routes match in the order they are added.
@section.get("/inbox/duty", role=Role.ADMIN)
async def duty_roster(call: Call) -> web.StreamResponse:
    """The on-duty roster (``inbox duty``): who is told at once about critical flags."""
    roster = await inbox.roster(call.bot)
    return call.render("inbox_duty.html", roster=roster, channels=inbox.DUTY_CHANNELS)


@section.post("/inbox/duty", role=Role.ADMIN)
async def duty_change(call: Call) -> web.StreamResponse:
    """Add an operator to the roster, or switch one on or off duty."""
    form = await call.form()
    t = call.t
    name = form.text("name", label=t("console.inbox.duty_name"), limit=64)
    state = form.choice("state", ("on", "off"), label=t("console.inbox.duty_state"))
    channel = form.text("channel", label=t("console.inbox.duty_channel"), required=False)
    account = form.text("account", label=t("console.inbox.duty_account"), required=False, limit=64)
    await inbox.duty(
        call.bot,
        call.actor,
        name,
        channel=channel or None,
        user_id=account or None,
        on=state == "on",
    )
    call.done("/inbox/duty", "duty_saved")


@section.get("/inbox/{id}", role=Role.VIEWER)
async def item(call: Call) -> web.StreamResponse:
    """One item: the text, the person's recent messages, replies and the reply window."""
    try:
        shown = await inbox.detail(call.bot, call.number("id"))
    except inbox.InboxError:
        raise web.HTTPNotFound() from None
    canned = call.bot.texts.file("inbox").get("canned", {})
    hours = 0
    if shown.window.open and shown.window.closes_at is not None:
        hours = int((shown.window.closes_at - call.bot.clock.now()).total_seconds() // 3600)
    return call.render(
        "inbox_item.html",
        d=shown,
        titles=_titles(call),
        canned=canned if isinstance(canned, dict) else {},
        hours=max(0, hours),
    )


@section.post("/inbox/{id}/reply", role=Role.EDITOR)
async def reply(call: Call) -> web.StreamResponse:
    """Send a reply (by customer-service message inside the window, else at their next one)."""
    number = call.number("id")
    form = await call.form()
    key = form.text("canned", label=call.t("console.inbox.canned"), required=False, limit=32)
    text = form.text(
        "text", label=call.t("console.inbox.reply"), required=not key, limit=inbox.MAX_REPLY_CHARS
    )
    if key and not text:
        if not call.bot.texts.has(f"inbox.canned.{key}"):
            raise FormError(
                call.t("console.errors.bad_choice", field=call.t("console.inbox.canned"))
            )
        text = call.t(f"inbox.canned.{key}")
    result = await inbox.reply(call.bot, number, call.actor, text)
    call.done(f"/inbox/{number}", "inbox_sent" if result.status == "sent" else "inbox_queued")


@section.post("/inbox/{id}/assign", role=Role.EDITOR)
async def assign(call: Call) -> web.StreamResponse:
    """Give the item to an operator."""
    number = call.number("id")
    form = await call.form()
    who = form.text("assignee", label=call.t("console.inbox.assignee"), limit=64)
    await inbox.assign(call.bot, number, call.actor, who)
    call.done(f"/inbox/{number}", "inbox_saved")


@section.post("/inbox/{id}/close", role=Role.EDITOR)
async def close(call: Call) -> web.StreamResponse:
    """Close the item."""
    number = call.number("id")
    await inbox.close(call.bot, number, call.actor)
    call.done("/inbox", "inbox_saved")


@section.post("/inbox/{id}/learn", role=Role.EDITOR)
async def learn(call: Call) -> web.StreamResponse:
    """Make the question an example question of a topic (or of a new one)."""
    number = call.number("id")
    form = await call.form()
    slug = form.text("topic", label=call.t("console.inbox.topic"), limit=64)
    question = form.text("question", label=call.t("console.inbox.question"), required=False)
    title = form.text("title", label=call.t("console.inbox.title"), required=False, limit=128)
    answer = form.text("answer", label=call.t("console.inbox.answer"), required=False, limit=2000)
    await faq_ops.learn(
        call.bot, number, call.actor, faq_ops.TopicDraft(slug, title, answer), question
    )
    call.done(f"/inbox/{number}", "inbox_learned")
