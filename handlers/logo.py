"""The logo contest's public side: what the contest is (征集), the vote (投票, 投票 N,
我的投票) and the final ranking. Every reply says what the current phase allows."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from bot.kernel.clients import ApiError
from bot.kernel.clock import as_utc, local
from bot.kernel.context import BotContext
from bot.kernel.logs import log_event
from bot.kernel.message import Article, Channel, Inbound, Reply
from handlers.context import Ctx
from handlers.logo_phases import LOGO, ContestState, contest_state, format_date, phase_line
from handlers.logo_phases import schedule_lines as phase_schedule
from handlers.router import Click, Command, Router, Text
from storage import logo as store
from storage.followers import FollowerState, find_follower, remember_follower
from storage.logo import EntryStatus, LogoEntry

log = logging.getLogger("handlers.logo")

router = Router("logo")

# The final ranking by message shows this many places; the gallery shows them all.
RANKING_LINES = 10


def vote_day(ctx: Ctx) -> date:
    """The contest day (Asia/Shanghai) a vote made now counts for."""
    return local(ctx.bot.clock.now()).date()


async def current_state(ctx: Ctx) -> ContestState:
    """What the contest allows now (config phases, overridden by operators' settings)."""
    return await contest_state(ctx.session, LOGO.of(ctx.bot.config), ctx.bot.clock.now())


def gallery_url(bot: BotContext, number: int | None = None) -> str:
    """The public gallery page (of one entry when ``number`` is given)."""
    base = f"{bot.config.public_url}/logo"
    return base if number is None else f"{base}/{number}"


def image_url(bot: BotContext, entry: LogoEntry) -> str:
    """The public URL of an entry's design ('' when it has none)."""
    return f"{bot.config.public_url}/logo/media/{entry.image_path}" if entry.image_path else ""


# Short deadline lines of replies within a phase: content key prefix → phase.
WINDOW_LINES = {"vote": "voting", "submit": "submission"}


def window_line(ctx: Ctx, state: ContestState, kind: str) -> str:
    """'投票截止：…' / '投稿截止：…' (``kind`` vote / submit), or the open-contest line."""
    if not state.scheduled:
        return ctx.t(f"logo.{kind}_window_open")
    window = state.window(WINDOW_LINES[kind])
    if window is None or window.ends is None:
        return ""
    end = format_date(ctx.bot.texts, window.ends, state.now, end=True)
    return ctx.t(f"logo.{kind}_window", end=end)


def with_phase(ctx: Ctx, state: ContestState, *lines: str) -> Reply:
    """A text reply of ``lines`` ending with what the current phase allows."""
    return Reply.of_text("\n".join([*lines, phase_line(ctx.bot.texts, state)]))


@router.on(
    Text("征集", "标识征集", "公益标识", "网络公益标识征集", "logo") | Click("MENU_LOGO"),
    pure=True,
)
async def explain_contest(ctx: Ctx) -> Reply | None:
    """What the contest is, its schedule and what the current phase allows."""
    state = await current_state(ctx)
    cfg = LOGO.of(ctx.bot.config)
    schedule = phase_schedule(ctx.bot.texts, state)
    return ctx.reply(
        "logo.info",
        per_person=cfg.submissions_per_person,
        per_day=cfg.votes_per_day,
        gallery_url=gallery_url(ctx.bot),
        # Each line ends with a line break, so no schedule leaves no blank line.
        schedule="".join(f"{line}\n" for line in [ctx.t("logo.schedule_header"), *schedule])
        if schedule
        else "",
        phase=phase_line(ctx.bot.texts, state),
    )


@router.on(Text("投票") | Click("LOGO_VOTE"), pure=True)
async def list_entries(ctx: Ctx) -> Reply | None:
    """Approved entries (numbered text or a news reply) with how to vote; after the vote,
    the final ranking."""
    state = await current_state(ctx)
    if state.results_published:
        return await final_ranking(ctx, state)
    if not state.voting_open:
        return ctx.reply("logo.vote_closed", phase=phase_line(ctx.bot.texts, state))
    entries = await store.list_entries(ctx.session, EntryStatus.APPROVED)
    if not entries:
        return with_phase(ctx, state, ctx.t("logo.no_entries"))
    cfg = LOGO.of(ctx.bot.config)
    if cfg.vote_list == "news":
        return news_list(ctx, state, entries)
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
    lines.append(
        ctx.t(
            "logo.list_window",
            window=window_line(ctx, state, "vote"),
            gallery_url=gallery_url(ctx.bot),
        )
    )
    return Reply.of_text("\n".join(lines))


def news_list(ctx: Ctx, state: ContestState, entries: list[LogoEntry]) -> Reply:
    """A cover article leading to the gallery, then one article per entry while the
    configured article count allows (one by default: see wechat.news_reply_max_articles)."""
    bot = ctx.bot
    with_image = [e for e in entries if e.image_path]
    cover = Article(
        title=ctx.t("logo.news_title", count=len(entries)),
        description=ctx.t(
            "logo.news_description",
            per_day=LOGO.of(bot.config).votes_per_day,
            window=window_line(ctx, state, "vote"),
        ),
        url=gallery_url(bot),
        pic_url=image_url(bot, with_image[0]) if with_image else "",
    )
    room = bot.config.wechat.news_reply_max_articles - 1
    articles = [cover] + [
        Article(
            title=ctx.t("logo.news_entry_title", number=e.id, title=e.title),
            description=e.statement[:60],
            url=gallery_url(bot, e.id),
            pic_url=image_url(bot, e),
        )
        for e in entries[:room]
    ]
    return Reply.news(articles)


async def final_ranking(ctx: Ctx, state: ContestState) -> Reply:
    """The top places with their votes, and where to see them all."""
    ranking = await store.ranking(ctx.session)
    if not ranking:
        return with_phase(ctx, state, ctx.t("logo.no_entries"))
    lines = [ctx.t("logo.results_header")]
    lines += [
        ctx.t("logo.ranking_line", rank=rank, number=number, title=title, votes=votes)
        for rank, (number, title, votes) in enumerate(ranking[:RANKING_LINES], 1)
    ]
    lines.append(ctx.t("logo.results_footer", gallery_url=gallery_url(ctx.bot)))
    return with_phase(ctx, state, *lines)


class FollowStatus:
    """What the platform said lately about users the followers table does not know: whether
    they follow. Filled before the vote's transaction (``check_follower``), read inside it;
    answers expire quickly (a follow or unfollow event writes the table, which wins)."""

    SECONDS = 60.0
    MAX = 50_000

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], tuple[float, bool]] = {}

    def get(self, key: tuple[str, str, str], now: float) -> bool | None:
        """The platform's answer about ``key`` if still fresh."""
        seen = self._seen.get(key)
        return seen[1] if seen is not None and now - seen[0] < self.SECONDS else None

    def put(self, key: tuple[str, str, str], subscribed: bool, now: float) -> None:
        if len(self._seen) >= self.MAX:  # oldest first: dicts keep insertion order
            for stale in list(self._seen)[: self.MAX // 10]:
                del self._seen[stale]
        self._seen.pop(key, None)
        self._seen[key] = (now, subscribed)


def follow_status(bot: BotContext) -> FollowStatus:
    """The process's ``FollowStatus``."""
    status = bot.extras.get("logo_follow_status")
    if status is None:
        status = bot.extras["logo_follow_status"] = FollowStatus()
    assert isinstance(status, FollowStatus)
    return status


def _follower_key(msg: Inbound) -> tuple[str, str, str]:
    return (msg.channel.value, msg.account, msg.user)


async def check_follower(bot: BotContext, msg: Inbound) -> None:
    """Before a vote's transaction: ask the platform whether an unknown sender follows.

    The API call used to sit inside the transaction: with 100 ms of platform latency every
    vote held the write lock that long. Known followers (a row in the followers table, read
    outside any transaction) need no call, nor does a delivery of a message another delivery
    has taken (committed, or in flight in another process): its claim will find the key taken
    and answer as that delivery did (should that one fail instead, this one's vote counts as
    when the platform does not answer)."""
    if msg.channel is not Channel.WECHAT:
        return
    status, now = follow_status(bot), bot.clock.timestamp()
    key = _follower_key(msg)
    if status.get(key, now) is not None:
        return
    if bot.follower_lookup is not None:
        known, taken = await bot.follower_lookup(*key, msg.key)
        if taken:
            return
    else:
        async with bot.sessions() as session:
            row = await find_follower(session, *key)
            known = None if row is None else row.subscribed
    if known is not None:
        return
    try:
        info = await bot.client(msg.channel).user_info(msg.user)  # type: ignore[attr-defined]
    except ApiError:
        return  # the vote counts (see follower_status)
    status.put(key, bool(info.get("subscribe", 1)), bot.clock.timestamp())


@router.on(Command("投票", arg=r"\d{1,9}"), prepare=check_follower)
async def cast_vote(ctx: Ctx) -> Reply | None:
    """One vote for entry N, within the phase, the rate limit and the per-day limits the
    database enforces."""
    number = int(ctx.arg)
    state = await current_state(ctx)
    if not state.voting_open:
        return ctx.reply("logo.vote_closed", phase=phase_line(ctx.bot.texts, state))
    cfg = LOGO.of(ctx.bot.config)
    msg, now = ctx.inbound, ctx.bot.clock.now()

    def answer(key: str, **params: object) -> Reply:
        """The reply at ``key`` and until when voting runs."""
        lines = [ctx.t(key, **params), window_line(ctx, state, "vote")]
        return Reply.of_text("\n".join(line for line in lines if line))

    day = vote_day(ctx)
    # The attempt counted, and the entry, the follower row and the day's votes read, at once
    # (one round trip on PostgreSQL); the answers below take them in that order.
    read = await store.vote_context(
        ctx.session,
        entry_id=number,
        channel=msg.channel.value,
        account=msg.account,
        user_id=msg.user,
        day=day,
        now=now,
    )
    if read.attempts > cfg.votes_per_minute:
        return answer("logo.rate_limited", per_minute=cfg.votes_per_minute)
    entry = read.entry
    if entry is None or entry.status != EntryStatus.APPROVED:
        return answer("logo.no_such_entry", number=number)
    follows, follower = await follower_status(ctx, read.follower)
    if not follows:
        return answer("logo.not_follower")
    outcome = await store.cast_vote(
        ctx.session,
        entry_id=number,
        channel=msg.channel.value,
        user_id=msg.user,
        day=day,
        now=now,
        per_day=cfg.votes_per_day,
        per_entry=cfg.votes_per_entry_per_day,
        used=read.used,
    )
    if outcome.status == "day_limit":
        return answer("logo.day_limit", per_day=cfg.votes_per_day)
    if outcome.status == "entry_limit":
        return answer("logo.entry_limit", number=number, per_entry=cfg.votes_per_entry_per_day)
    await watch_for_burst(ctx, follower)
    left = cfg.votes_per_day - outcome.votes_today
    return answer("logo.voted", number=number, title=entry.title, left=left)


@router.on(Text("我的投票"), pure=True)
async def show_my_votes(ctx: Ctx) -> Reply | None:
    """The user's votes today, how many are left and what the phase allows."""
    cfg = LOGO.of(ctx.bot.config)
    state = await current_state(ctx)
    day = vote_day(ctx)
    mine = await store.votes_of(ctx.session, ctx.inbound.channel.value, ctx.inbound.user, day)
    if not mine:
        if not state.voting_open:
            return with_phase(ctx, state, ctx.t("logo.my_votes_none_closed"))
        return with_phase(ctx, state, ctx.t("logo.my_votes_none", per_day=cfg.votes_per_day))
    lines = [ctx.t("logo.my_votes_header", day=day.isoformat())]
    lines += [ctx.t("logo.list_line", number=n, title=t) for n, t in mine]
    if state.voting_open:
        lines.append(ctx.t("logo.my_votes_footer", left=max(0, cfg.votes_per_day - len(mine))))
    return with_phase(ctx, state, *lines)


async def follower_status(
    ctx: Ctx, follower: FollowerState | None
) -> tuple[bool, FollowerState | None]:
    """Whether the sender follows the account now, and their follower row if known (the one
    place channels plug into); ``follower``: the row as read in this transaction."""
    msg = ctx.inbound
    if follower is not None:
        return follower.subscribed, follower
    if msg.channel is not Channel.WECHAT:
        # Channels without a follow-status API: only followers can message the account.
        return True, None
    # What the platform said before the transaction (check_follower); nothing when the call
    # failed: an API hiccup must not cost a follower their vote.
    answer = follow_status(ctx.bot).get(_follower_key(msg), ctx.bot.clock.timestamp())
    if answer is None:
        return True, None
    subscribed = answer
    # A follow event that recorded the row meanwhile wins; the answer stands for this vote.
    await remember_follower(
        ctx.session,
        msg.channel.value,
        msg.account,
        msg.user,
        subscribed=subscribed,
        now=ctx.bot.clock.now(),
    )
    return subscribed, None


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window of length ``window`` that ``now`` falls in."""
    seconds = window.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)


async def watch_for_burst(ctx: Ctx, follower: FollowerState | None) -> None:
    """Flag the voter's QR scene when many recent followers from it vote within the window.

    Only a flag for operators (``votes flags``); the vote counts until someone voids it."""
    cfg = LOGO.of(ctx.bot.config)
    if follower is None or not follower.scene or follower.subscribed_at is None:
        return
    now = ctx.bot.clock.now()
    followed_since = now - timedelta(hours=cfg.burst_follower_hours)
    if as_utc(follower.subscribed_at) < followed_since:
        return
    window = timedelta(minutes=cfg.burst_window_minutes)
    votes = await store.scene_votes(
        ctx.session, scene=follower.scene, since=now - window, followed_since=followed_since
    )
    if votes < cfg.burst_threshold:
        return
    await store.flag_burst(
        ctx.session,
        scene=follower.scene,
        window_start=window_start(now, window),
        votes=votes,
        now=now,
    )
    if votes == cfg.burst_threshold:
        log_event(log, "vote_burst_flagged", logging.WARNING, scene=follower.scene, votes=votes)
