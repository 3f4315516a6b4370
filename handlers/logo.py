"""The logo contest's public vote: list approved entries, cast a vote, show today's votes."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.clients.base import ApiError
from bot.clock import local
from bot.message import Channel, Reply
from handlers.context import Ctx
from handlers.router import Click, Command, Router, Text
from storage import logo as store
from storage.models import Follower

router = Router("logo")


def vote_day(ctx: Ctx) -> date:
    """The contest day (Asia/Shanghai) a vote made now counts for."""
    return local(ctx.bot.clock.now()).date()


@router.on(Text("投票") | Click("LOGO_VOTE"))
async def list_entries(ctx: Ctx) -> Reply | None:
    """Numbered list of approved entries with how to vote."""
    entries = await store.list_entries(ctx.session, "approved")
    if not entries:
        return ctx.reply("logo.no_entries")
    cfg = ctx.bot.config.logo
    lines = [ctx.t("logo.list_header")]
    lines += [ctx.t("logo.list_line", number=e.id, title=e.title) for e in entries]
    lines.append(
        ctx.t(
            "logo.list_footer",
            example=entries[0].id,
            per_day=cfg.votes_per_day,
            per_entry=cfg.votes_per_entry_per_day,
        )
    )
    return Reply.of_text("\n".join(lines))


@router.on(Command("投票", arg=r"\d{1,9}"))
async def cast_vote(ctx: Ctx) -> Reply | None:
    """One vote for entry N, within the per-day limits the database enforces."""
    number = int(ctx.arg)
    entry = await store.get_entry(ctx.session, number)
    if entry is None or entry.status != "approved":
        return ctx.reply("logo.no_such_entry", number=number)
    if not await is_follower(ctx):
        return ctx.reply("logo.not_follower")
    cfg = ctx.bot.config.logo
    outcome = await store.cast_vote(
        ctx.session,
        entry_id=number,
        channel=ctx.inbound.channel.value,
        user_id=ctx.inbound.user,
        day=vote_day(ctx),
        now=ctx.bot.clock.now(),
        per_day=cfg.votes_per_day,
        per_entry=cfg.votes_per_entry_per_day,
    )
    if outcome.status == "day_limit":
        return ctx.reply("logo.day_limit", per_day=cfg.votes_per_day)
    if outcome.status == "entry_limit":
        return ctx.reply("logo.entry_limit", number=number, per_entry=cfg.votes_per_entry_per_day)
    mine = await store.votes_of(
        ctx.session, ctx.inbound.channel.value, ctx.inbound.user, vote_day(ctx)
    )
    return ctx.reply(
        "logo.voted", number=number, title=entry.title, left=cfg.votes_per_day - len(mine)
    )


@router.on(Text("我的投票"))
async def show_my_votes(ctx: Ctx) -> Reply | None:
    """The user's votes today and how many are left."""
    cfg = ctx.bot.config.logo
    day = vote_day(ctx)
    mine = await store.votes_of(ctx.session, ctx.inbound.channel.value, ctx.inbound.user, day)
    if not mine:
        return ctx.reply("logo.my_votes_none", per_day=cfg.votes_per_day)
    lines = [ctx.t("logo.my_votes_header", day=day.isoformat())]
    lines += [ctx.t("logo.list_line", number=n, title=t) for n, t in mine]
    lines.append(ctx.t("logo.my_votes_footer", left=max(0, cfg.votes_per_day - len(mine))))
    return Reply.of_text("\n".join(lines))


async def is_follower(ctx: Ctx) -> bool:
    """Whether the sender follows the account now (the one place channels plug into)."""
    msg = ctx.inbound
    follower = (
        await ctx.session.execute(
            select(Follower).where(
                Follower.channel == msg.channel.value,
                Follower.account == msg.account,
                Follower.user_id == msg.user,
            )
        )
    ).scalar_one_or_none()
    if follower is not None:
        return follower.subscribed
    if msg.channel is not Channel.WECHAT:
        # Channels without a follow-status API: only followers can message the account.
        return True
    try:
        info = await ctx.bot.client(msg.channel).user_info(msg.user)  # type: ignore[attr-defined]
    except ApiError:
        return True  # an API hiccup must not cost a follower their vote
    subscribed = bool(info.get("subscribe", 1))
    now = ctx.bot.clock.now()
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(
                Follower(
                    channel=msg.channel.value,
                    account=msg.account,
                    user_id=msg.user,
                    subscribed=subscribed,
                    created_at=now,
                    last_interaction_at=now,
                )
            )
    except IntegrityError:
        pass  # a follow event recorded the row meanwhile; the answer stands for this vote
    return subscribed
