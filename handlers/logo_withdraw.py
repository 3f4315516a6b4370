"""An author's own logo entries: 我的投稿 lists them, 撤回投稿 N takes one back.

Withdrawing is the owner's deletion of their personal data (PIPL), built like 注销志愿者: a
one-step flow of the conversation engine that asks for 确认撤回. Only the sender's own entry
(same channel, account and user) can be withdrawn; once the results are published, an entry in
them is final (the organisers are the contact), while one not in them may still go. A withdrawn
entry leaves the gallery, the vote list and the results; the author's name and phone are
deleted and so is the design file, once the message's transaction has committed.
"""

from __future__ import annotations

import re
from typing import Any

from bot.kernel.message import Kind, Reply, normalize
from handlers.context import Ctx
from handlers.conversation import Finish, Flow, Invalid, Outcome, Step, ask
from handlers.logo import current_state, with_phase
from handlers.logo_phases import LOGO, counts_public, logo_media_path
from handlers.media import remove_after_commit
from handlers.operations import AUTHOR, audit
from handlers.router import Command, Router, Text
from storage import logo as store
from storage.logo import EntryStatus, LogoEntry

FLOW = "logo_withdraw"
NUMBER = re.compile(r"^\d{1,9}$")  # the vote command's range; larger cannot be an entry

router = Router("logo_withdraw")


def described(ctx: Ctx, entry: LogoEntry) -> dict[str, Any]:
    """An entry's number, title and status as authors read it (待审核 / 已通过 / 未通过 /
    已撤回): the placeholders of the texts naming one entry."""
    return {
        "number": entry.id,
        "title": entry.title,
        "status": ctx.t(f"logo.status_{entry.status}"),
    }


@router.on(Text("我的投稿"), pure=True)
async def show_my_entries(ctx: Ctx) -> Reply | None:
    """The sender's entries with their status (and votes when counts are public), and how to
    withdraw one."""
    msg = ctx.inbound
    state = await current_state(ctx)
    entries = await store.entries_of_user(ctx.session, msg.user_key)
    if not entries:
        return with_phase(ctx, state, ctx.t("logo.my_entries_none"))
    votes: dict[int, int] = {}
    if counts_public(LOGO.of(ctx.bot.config), state):
        votes = {number: count for number, _title, count in await store.ranking(ctx.session)}
    lines = [ctx.t("logo.my_entries_header")]
    for entry in entries:
        if entry.id in votes:  # approved entries only: the others have no counted votes
            lines.append(
                ctx.t("logo.my_entry_line_votes", votes=votes[entry.id], **described(ctx, entry))
            )
        else:
            lines.append(ctx.t("logo.my_entry_line", **described(ctx, entry)))
    final = state.results_published
    if final and any(e.status == EntryStatus.APPROVED for e in entries):
        lines.append(ctx.t("logo.my_entries_final"))
    # What may still be withdrawn: anything not withdrawn, less the results' entries once final.
    open_entries = [
        e
        for e in entries
        if e.status != EntryStatus.WITHDRAWN and not (final and e.status == EntryStatus.APPROVED)
    ]
    if open_entries:
        lines.append(ctx.t("logo.my_entries_footer", example=open_entries[0].id))
    return with_phase(ctx, state, *lines)


async def _checked_entry(ctx: Ctx, number: int) -> LogoEntry | Reply:
    """The sender's entry ``number`` if it may be withdrawn now, else the answer saying why."""
    entry = await store.own_entry(ctx.session, number, ctx.inbound.user_key)
    # Someone else's entry and no entry at all get the same answer: nothing to learn by trying.
    if entry is None:
        return ctx.reply("logo.withdraw_not_yours", number=number)
    if entry.status == EntryStatus.WITHDRAWN:
        return ctx.reply("logo.withdraw_already", number=number, title=entry.title)
    # Published results are final; an entry that is not among them may still go (PIPL).
    if entry.status == EntryStatus.APPROVED and (await current_state(ctx)).results_published:
        return ctx.reply("logo.withdraw_final")
    return entry


async def _start(ctx: Ctx) -> dict[str, Any] | Reply:
    if not NUMBER.match(ctx.arg):
        return ctx.reply("logo.withdraw_usage")
    entry = await _checked_entry(ctx, int(ctx.arg))
    if isinstance(entry, Reply):
        return entry
    return described(ctx, entry)


async def handle_withdraw(ctx: Ctx, answers: dict[str, Any]) -> Outcome:
    answer = normalize(ctx.inbound.text or "") if ctx.inbound.kind is Kind.TEXT else ""
    if answer != "确认撤回":
        return Invalid(ctx.t("logo.bad_withdraw"))
    # Checked again: the results may have come out, or an earlier message withdrawn it.
    entry = await _checked_entry(ctx, answers["number"])
    if isinstance(entry, Reply):
        return Finish(entry)
    file_name = await store.withdraw_entry(ctx.session, entry, ctx.bot.clock.now())
    audit(ctx.bot, ctx.session, AUTHOR, "logo.withdraw", entry=entry.id)
    if file_name:
        remove_after_commit(ctx.session, logo_media_path(ctx.bot.config) / file_name)
    return Finish(ctx.reply("logo.withdrawn", number=entry.id, title=entry.title))


WITHDRAW = Flow(
    name=FLOW,
    title_key="logo.withdraw_title",
    # Any argument enters: a missing or malformed number is answered by the starter.
    entry=Command("撤回投稿", arg=r".*"),
    on_start=_start,
    steps=[Step("confirm", ask("logo.ask_withdraw"), handle_withdraw)],
)
